"""Validated study parameters: the one gate that the command line and the notebooks share.

``validate_study(mapping)`` turns user parameters (a profile's defaults overlaid with the
user's own) into a frozen ``Study``, or raises ``ParameterError`` naming the parameter and its
allowed values. It checks everything that can be checked without reading data, so a typo never
starts a download or a training run; ``check_subset_fits`` finishes the job once the dataset
is loaded, still before any training or writing.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib import resources
from typing import Any

from pie_utils.data import DATASETS
from pie_utils.data.types import TextDataset
from pie_utils.errors import ParameterError
from pie_utils.models.spec import ARCHS, EMBEDDED_CHECKPOINT, POOLINGS
from pie_utils.pruning import DENSE, METHODS, SCOPES

# dataset → datasets its models may be evaluated on out of distribution: class i means the same
# in both (rotten/negative, fresh/positive), so logits need no relabelling
TRANSFER_PARTNERS = {"rotten-tomatoes": ("movie-reviews",), "movie-reviews": ("rotten-tomatoes",)}
PRECISIONS = ("fp32", "bf16")
EVERY_EPOCH = "all"  # train_logit_epochs: after every dense epoch
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PROFILES_FILE = "profiles.toml"
HYPERPARAMETERS_FILE = "hyperparameters.toml"
# examples per forward pass when computing logits, measured fastest per arch on the CPU
# (benchmarks/results/step-variants.md, 1 thread): 1.43x (BiLSTM) and 1.69x (MiniLM) faster than 256
EVAL_BATCH_SIZES = {"bilstm": 64, "bert": 32}
DEFAULT_STORE = "results/store"
# a value and the settings that qualify it: a study naming another value does not inherit them
# (the main study's dataset revision says nothing of the dataset a study replaces it with)
QUALIFIERS = {
    "dataset": ("data_path", "revision"),
    "checkpoint": ("checkpoint_revision",),
    "transfer": ("transfer_subset",),
}


def _read_toml(name: str) -> dict[str, Any]:
    return tomllib.loads(resources.files("pie_utils").joinpath(name).read_text())


def profiles() -> dict[str, dict[str, Any]]:
    """Every profile in ``pie_utils/profiles.toml`` by name (ci, default, published, full)."""
    return _read_toml(PROFILES_FILE)


def profile_parameters(name: str, section: str = "run") -> dict[str, Any]:
    """The parameters of one profile's ``section`` (``run`` for the CLI, or a notebook's name).

    A notebook section inherits the profile's ``run`` table and overrides what it names.
    """
    all_profiles = profiles()
    if name not in all_profiles:
        raise ParameterError("profile", name, sorted(all_profiles))
    profile = all_profiles[name]
    if section != "run" and section not in profile:
        raise ParameterError("section", section, sorted(key for key in profile if key != "run"))
    parameters = dict(profile.get("run", {}))
    if section != "run":
        parameters = overlay(parameters, profile[section])
    parameters.setdefault("profile", name)
    return parameters


def overlay(parameters: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``parameters`` updated by ``overrides``, without the ``QUALIFIERS`` of a value that
    ``overrides`` changes (unless ``overrides`` sets them too)."""
    merged = dict(parameters)
    for value, qualifiers in QUALIFIERS.items():
        if value in overrides and overrides[value] != parameters.get(value):
            for qualifier in qualifiers:
                merged.pop(qualifier, None)
    merged.update(overrides)
    return merged


@dataclass(frozen=True)
class SubsetSpec:
    """A stratified, seeded subset per split; None keeps the whole split."""

    n_train: int | None = None
    n_validation: int | None = None
    n_test: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class TrainingConfig:
    """How one population is trained. Every field is part of each run's key.

    Attributes:
        epochs: E, epochs of the dense run and of every round of the iterative schedules.
        learning_rate: Adam's step size.
        batch_size: training examples per step.
        eval_batch_size: examples per forward pass when computing logits (no gradients).
        grad_clip: maximum gradient norm.
        impact_examples: training examples whose summed gradient scores impact pruning.
        train_logit_epochs: dense epochs after which training-split logits are stored (EL2N, and
            the accuracy-matched control on the training split); a profile may say ``"all"``.
        precision: ``fp32`` everywhere, or ``bf16`` autocast on a GPU.
        scope: ``layer`` (a threshold per tensor, the paper's) or ``global``.
    """

    epochs: int
    learning_rate: float
    batch_size: int
    eval_batch_size: int = 64
    grad_clip: float = 1.0
    impact_examples: int = 100
    train_logit_epochs: tuple[int, ...] = (1,)
    precision: str = "fp32"
    scope: str = "layer"


@dataclass(frozen=True)
class Study:
    """A validated grid: one dataset and arch, dense plus methods × sparsities, seeds F..F+S−1.

    ``first_seed`` F lets two studies hold disjoint populations of the same configuration
    (e.g. a second dense population as a dense-vs-dense null). ``noise_stream`` n > 0 keeps
    every seed's initial weights and draws its data order and dropout from another stream: dense
    seed s of stream 1 is the seed-noise control of every run of seed s (it enters the key only
    when nonzero). ``checkpoint_revision`` is the git revision of a hub checkpoint (None for
    the embedded one and for local directories; through the model spec it enters the key only
    when set). ``transfer`` names a dataset whose every example (all its splits) each run is
    also evaluated on, out of distribution (``TRANSFER_PARTNERS`` lists the pairs whose labels
    mean the same): its runs are the same runs as without it, scored on that dataset afterwards
    (``pie_utils.evaluation``); ``transfer_subset`` scores a stratified, seeded subset of it
    instead, per split as ``subset`` (for the ``ci`` profile's minutes; it changes the transfer
    set's fingerprint, so the evaluations' keys, and never a run's).
    ``threads`` is the intra-op thread count a run trains with; it enters the key only where it
    changes the arithmetic (``pie_utils.runs.THREAD_DEPENDENT_ARCHS``). ``keep_models``: each run
    stores its trained weights and masks (not in the key); by default the BiLSTM's (about 2 MB
    a run) and not MiniLM's (about 90 MB a run, several GB for a population). ``left_out``:
    positions in the (subsetted) training split that every run trains without, the vocabulary
    still built from the whole split (leave-group-out retraining, ``pie_utils.leave_group_out``);
    it changes the dataset's fingerprint, so the keys. ``runs_per_step``: with R > 1 the pruned
    runs of a seed train R at a time, those of one schedule sharing each optimiser step
    (``pie_utils.stacked_training``: for GPUs); it enters a pruned run's key only above 1.
    """

    dataset: str
    arch: str
    methods: tuple[str, ...]
    sparsities: tuple[float, ...]
    seeds: int
    training: TrainingConfig
    subset: SubsetSpec = field(default_factory=SubsetSpec)
    data_path: str | None = None
    revision: str | None = None
    checkpoint: str = EMBEDDED_CHECKPOINT
    checkpoint_revision: str | None = None
    pooling: str | None = None
    vectors: str = "glove-6b-50d"
    device: str = "auto"
    threads: int = 2
    keep_models: bool = True
    store: str = DEFAULT_STORE
    profile: str = "none"
    accept_other_versions: bool = False
    first_seed: int = 0
    noise_stream: int = 0
    transfer: str | None = None
    transfer_subset: SubsetSpec = field(default_factory=SubsetSpec)
    left_out: tuple[int, ...] = ()
    runs_per_step: int = 1

    @property
    def cells(self) -> list[tuple[str, float]]:
        """The pruned (method, sparsity) cells, methods first."""
        return [(method, sparsity) for method in self.methods for sparsity in self.sparsities]

    @property
    def seed_range(self) -> range:
        """The study's seeds, ``first_seed`` … ``first_seed + seeds − 1``."""
        return range(self.first_seed, self.first_seed + self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_STUDY_KEYS = {f.name for f in fields(Study)} - {"training"}
_TRAINING_KEYS = {f.name for f in fields(TrainingConfig)}
_SUBSET_KEYS = {f.name for f in fields(SubsetSpec)}
# the dataclasses' own defaults: validate_study fills missing parameters from these, never retyped
_DEFAULT = {f.name: f.default for cls in (Study, TrainingConfig) for f in fields(cls) if f.default is not MISSING}


@dataclass(frozen=True)
class AnalysisSettings:
    """What the chapters compute from a profile's store; every profile's ``analysis`` table
    sets all of them (a chapter parameter overrides one for that chapter).

    Attributes:
        n_resamples: bootstrap resamples per interval.
        alpha: family-wise error rate of each chapter's table.
        el2n_epoch: the dense epoch whose training logits score EL2N.
        n_bins: EL2N percentile bins.
        loo_points: training points refitted without, in the convex leave-one-out stand-in.
        stability_draws: random pairs of disjoint seed subsets per population size.
        attribution_seeds: seeds whose models are attributed.
        attribution_steps: integration steps of integrated gradients.
        group_retrains: leave-group-out BiLSTM retrains (0: that part is not run).
    """

    n_resamples: int
    alpha: float
    el2n_epoch: int
    n_bins: int
    loo_points: int
    stability_draws: int
    attribution_seeds: int
    attribution_steps: int
    group_retrains: int


def validate_analysis(parameters: Mapping[str, Any]) -> AnalysisSettings:
    """Check an ``analysis`` table (all fields of ``AnalysisSettings``, nothing else)."""
    names = [f.name for f in fields(AnalysisSettings)]
    unknown = sorted(set(parameters) - set(names), key=repr)
    if unknown:
        raise ParameterError("analysis parameter", unknown[0], names)
    missing = [name for name in names if name not in parameters]
    if missing:
        raise ParameterError("analysis parameter", f"{missing[0]} (missing)", names)
    for name in names:
        if name == "alpha":
            continue
        minimum = 0 if name == "group_retrains" else 1  # 0: the slow leave-group-out part is not run
        value = parameters[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ParameterError(name, value, f"an integer >= {minimum}")
    if (
        isinstance(parameters["alpha"], bool)
        or not isinstance(parameters["alpha"], (int, float))
        or not 0 < parameters["alpha"] < 1
    ):
        raise ParameterError("alpha", parameters["alpha"], "a number in (0, 1)")
    return AnalysisSettings(**parameters)


def hyperparameters(dataset: str, arch: str) -> dict[str, Any]:
    """Epochs, learning rate and batch size for ``dataset`` × ``arch`` from the config file.

    A dataset without its own table (a local file) uses the ``default`` table of the arch.
    """
    table = _read_toml(HYPERPARAMETERS_FILE)
    chosen = table.get(dataset, table["default"])[arch]
    return {key: chosen[key] for key in ("epochs", "learning_rate", "batch_size")}


def validate_study(parameters: Mapping[str, Any]) -> Study:
    """Check ``parameters`` and return the ``Study`` they describe.

    Keys are the fields of ``Study`` and of ``TrainingConfig`` (flat), plus ``subset`` as a
    mapping with ``n_train``, ``n_validation``, ``n_test``, ``seed``. Training fields missing
    from ``parameters`` come from ``hyperparameters.toml`` for the dataset and arch.

    Raises:
        ParameterError: naming the first bad parameter and what is allowed. Nothing is read,
            downloaded or written before this returns.
    """
    if not isinstance(parameters, Mapping):
        raise ParameterError("parameters", type(parameters).__name__, "a mapping of names to values")
    unknown = sorted(set(parameters) - _STUDY_KEYS - _TRAINING_KEYS, key=repr)  # names may be of any type
    if unknown:
        raise ParameterError("parameter name", unknown[0], sorted(_STUDY_KEYS | _TRAINING_KEYS))

    dataset = _choice(parameters, "dataset", None, sorted(DATASETS))
    arch = _choice(parameters, "arch", None, ARCHS)
    data_path = _optional_text(parameters, "data_path")
    if DATASETS[dataset].kind == "local" and data_path is None:
        raise ParameterError("data_path", None, "a path to a CSV, Parquet or JSONL file (dataset 'local')")
    if DATASETS[dataset].kind == "hub" and DATASETS[dataset].hub_repo is None and data_path is None:
        raise ParameterError(
            "data_path",
            None,
            f"a local copy or an hf://datasets/OWNER/REPO path ({dataset} has no confirmed hub repository)",
        )
    if DATASETS[dataset].kind == "embedded" and (data_path is not None or parameters.get("revision") is not None):
        raise ParameterError(
            "data_path" if data_path is not None else "revision",
            data_path or parameters.get("revision"),
            f"none for the embedded dataset {dataset}",
        )

    checkpoint = _text(parameters, "checkpoint", _DEFAULT["checkpoint"])
    checkpoint_revision = _optional_text(parameters, "checkpoint_revision")
    if checkpoint_revision is not None and (arch != "bert" or checkpoint == EMBEDDED_CHECKPOINT):
        raise ParameterError(
            "checkpoint_revision",
            checkpoint_revision,
            f"None unless arch is bert with a hub checkpoint (not {EMBEDDED_CHECKPOINT}, which ships pinned)",
        )

    methods = _methods(parameters.get("methods", ()))
    sparsities = _sparsities(parameters.get("sparsities", ()))
    if methods and not any(s > 0 for s in sparsities):
        raise ParameterError("sparsities", list(sparsities), "at least one value in (0, 1) when methods are given")
    if not methods and any(s > 0 for s in sparsities):
        raise ParameterError("methods", [], f"one or more of {', '.join(METHODS)} when sparsities > 0 are given")
    seeds = _integer(parameters, "seeds", None, minimum=1)

    tuned = hyperparameters(dataset, arch)
    epochs = _integer(parameters, "epochs", tuned["epochs"], minimum=1)
    train_logit_epochs = parameters.get("train_logit_epochs", _DEFAULT["train_logit_epochs"])
    if train_logit_epochs == EVERY_EPOCH:
        train_logit_epochs = tuple(range(1, epochs + 1))
    if not isinstance(train_logit_epochs, (list, tuple)) or not all(
        isinstance(e, int) and not isinstance(e, bool) and 1 <= e <= epochs for e in train_logit_epochs
    ):
        raise ParameterError(
            "train_logit_epochs", train_logit_epochs, f'a list of epochs in 1..{epochs}, or "{EVERY_EPOCH}"'
        )
    training = TrainingConfig(
        epochs=epochs,
        learning_rate=_positive_float(parameters, "learning_rate", tuned["learning_rate"]),
        batch_size=_integer(parameters, "batch_size", tuned["batch_size"], minimum=1),
        eval_batch_size=_integer(parameters, "eval_batch_size", EVAL_BATCH_SIZES[arch], minimum=1),
        grad_clip=_positive_float(parameters, "grad_clip", _DEFAULT["grad_clip"]),
        impact_examples=_integer(parameters, "impact_examples", _DEFAULT["impact_examples"], minimum=1),
        train_logit_epochs=tuple(sorted(set(train_logit_epochs))),
        precision=_choice(parameters, "precision", _DEFAULT["precision"], PRECISIONS),
        scope=_choice(parameters, "scope", _DEFAULT["scope"], SCOPES),
    )
    return Study(
        dataset=dataset,
        arch=arch,
        methods=methods,
        sparsities=sparsities,
        seeds=seeds,
        training=training,
        subset=_subset(parameters.get("subset")),
        data_path=data_path,
        revision=_optional_text(parameters, "revision"),
        checkpoint=checkpoint,
        checkpoint_revision=checkpoint_revision,
        pooling=_choice(parameters, "pooling", _DEFAULT["pooling"], POOLINGS, optional=True),
        vectors=_text(parameters, "vectors", _DEFAULT["vectors"]),
        device=_device(parameters.get("device", _DEFAULT["device"])),
        threads=_integer(parameters, "threads", _DEFAULT["threads"], minimum=1),
        keep_models=_boolean(parameters, "keep_models", arch != "bert"),
        store=_text(parameters, "store", _DEFAULT["store"]),
        profile=_text(parameters, "profile", _DEFAULT["profile"]),
        accept_other_versions=_boolean(parameters, "accept_other_versions", _DEFAULT["accept_other_versions"]),
        first_seed=_integer(parameters, "first_seed", _DEFAULT["first_seed"], minimum=0),
        noise_stream=_integer(parameters, "noise_stream", _DEFAULT["noise_stream"], minimum=0),
        transfer=_transfer(parameters, dataset),
        transfer_subset=_transfer_subset(parameters),
        left_out=_left_out(parameters.get("left_out", ())),
        runs_per_step=_integer(parameters, "runs_per_step", _DEFAULT["runs_per_step"], minimum=1),
    )


def check_subset_fits(subset: SubsetSpec, dataset: TextDataset, name: str = "subset") -> None:
    """Raise ``ParameterError`` when a subset (the parameter ``name``) asks for more examples
    than a split holds."""
    for split_name in ("train", "validation", "test"):
        wanted = getattr(subset, f"n_{split_name}")
        available = len(dataset.split(split_name))
        if wanted is not None and wanted > available:
            raise ParameterError(
                f"{name}.n_{split_name}", wanted, f"1..{available} (the {split_name} split of {dataset.name})"
            )


def check_left_out(left_out: tuple[int, ...], n_train: int) -> None:
    """Refuse ``left_out`` positions outside a training split of ``n_train`` points, or so many
    that fewer than two points would be left to train on."""
    if left_out and (left_out[-1] >= n_train or len(left_out) > n_train - 2):
        raise ParameterError(
            "left_out",
            f"{len(left_out)} positions up to {left_out[-1]}",
            f"positions in 0..{n_train - 1}, leaving 2 or more",
        )


def _left_out(value) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in value
    ):
        raise ParameterError("left_out", value, "a list of training-split positions (integers >= 0)")
    if len(set(value)) < len(value):
        raise ParameterError("left_out", value, "distinct positions")
    return tuple(sorted(value))


def _transfer_subset(parameters) -> SubsetSpec:
    spec = _subset(parameters.get("transfer_subset"), "transfer_subset")
    if spec != SubsetSpec() and parameters.get("transfer") is None:
        raise ParameterError("transfer_subset", parameters["transfer_subset"], "none (the study sets no transfer)")
    return spec


def _transfer(parameters, dataset):
    partners = TRANSFER_PARTNERS.get(dataset)
    if partners is None and parameters.get("transfer") is not None:
        pairs = ", ".join(f"{a} → {b}" for a, bs in TRANSFER_PARTNERS.items() for b in bs)
        raise ParameterError(
            "transfer", parameters["transfer"], f"None ({dataset} has no transfer partner; pairs: {pairs})"
        )
    return _choice(parameters, "transfer", None, partners or (), optional=True)


def _choice(parameters, name, default, allowed, optional=False):
    value = parameters.get(name, default)
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise ParameterError(name, value, allowed)
    return value


def _text(parameters, name, default):
    value = parameters.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(name, value, "a non-empty string")
    return value


def _optional_text(parameters, name):
    value = parameters.get(name)
    return None if value is None else _text(parameters, name, None)


def _boolean(parameters, name, default):
    value = parameters.get(name, default)
    if not isinstance(value, bool):
        raise ParameterError(name, value, "true or false")
    return value


def _integer(parameters, name, default, minimum, maximum=None):
    value = parameters.get(name, default)
    upper = "" if maximum is None else f"..{maximum}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        raise ParameterError(name, value, f"an integer in {minimum}{upper or '..'}")
    return value


def _positive_float(parameters, name, default):
    value = parameters.get(name, default)
    # a comparison, not math.isfinite: that overflows on an int beyond float's range (10**400)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= sys.float_info.max:
        raise ParameterError(name, value, "a finite number > 0")
    return float(value)


def _methods(value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    allowed = list(METHODS)
    if not isinstance(value, (list, tuple)):
        raise ParameterError("methods", value, allowed)
    for method in value:
        if not isinstance(method, str) or method not in METHODS:  # a list or dict is not a name (nor hashable)
            raise ParameterError("methods", method, allowed)
    return tuple(dict.fromkeys(m for m in value if m != DENSE))


def _sparsities(value) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ParameterError("sparsities", value, "a list of fractions in [0, 1), e.g. 0.9 for 90 %")
    for sparsity in value:
        if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity < 1:
            raise ParameterError("sparsities", sparsity, "fractions in [0, 1), e.g. 0.9 for 90 %")
    return tuple(sorted({float(s) for s in value if s > 0}))


def _subset(value, name: str = "subset") -> SubsetSpec:
    if value is None:
        return SubsetSpec()
    if not isinstance(value, Mapping):
        raise ParameterError(name, value, f"a mapping with keys {sorted(_SUBSET_KEYS)}")
    unknown = sorted(set(value) - _SUBSET_KEYS, key=repr)
    if unknown:
        raise ParameterError(name, unknown[0], sorted(_SUBSET_KEYS))
    sizes = {}
    for key in ("n_train", "n_validation", "n_test"):
        size = value.get(key)
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ParameterError(f"{name}.{key}", size, "an integer >= 1, or none for the whole split")
        sizes[key] = size
    seed = value.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"{name}.seed", seed, "an integer >= 0")
    return SubsetSpec(**sizes, seed=seed)


def _device(value) -> str:
    # str.isdigit() also accepts digits such as '²' that torch.device does not: ASCII only
    if isinstance(value, str) and (
        value in ("auto", "cpu", "cuda", "mps")
        or (value.startswith("cuda:") and value[5:].isascii() and value[5:].isdigit())
    ):
        return value
    raise ParameterError("device", value, DEVICES)
