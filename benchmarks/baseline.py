"""A plain baseline: a study's population trained the way the original implementation did it.

Same data, configuration and model as ``pie_utils.training``; the strategy is the one the fast
path replaces, so that ``population_speed`` can time both on equal terms:

- seeds, and the runs of a seed, one after another, each run from scratch: the dense run, then
  every pruned run; FT and WR runs train their first E epochs again (no shared dense checkpoint);
- every batch padded to the dataset's max length (``TextDataset.max_length``), and the model
  computes over the padding;
- BiLSTM: texts are split into words once; their word vectors are looked up per batch in the
  data loader's ``collate_fn`` (no embedding layer over pre-encoded ids);
- pruning through ``torch.nn.utils.prune``: a forward pre-hook recomputes ``weight_orig · mask``
  on every forward pass;
- evaluation in training precision with autograd on (no ``no_grad``/``inference_mode``), at the
  training batch size, every batch padded to the max length.

What it shares with the fast path, so that both train the same model on the same batches:
seed s's initial weights (the construction order of ``pie_utils.models.build_model`` under
the same seed), which examples form each batch and the batch order
(``length_bucketed_batches`` with the same ``(seed, epoch)`` generator; with every batch padded
to the max length, grouping does not change the baseline's cost), each epoch's dropout seed,
the number of weights pruned per tensor and round (``pruned_count_after_round``), and the
examples that score impact pruning. Random pruning draws its own masks (``random_unstructured``
on the global generator, seeded per round).

The BiLSTM is ``pie_utils.models.BiLSTMClassifier`` itself, fed max-length padded word vectors;
it computes over the padding but never reads a state that padding reached.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader

from pie_utils.config import Study
from pie_utils.data import load_dataset, subset
from pie_utils.errors import ParameterError
from pie_utils.metrics import score_logits
from pie_utils.models import BiLSTMClassifier, build_encoder, build_model, load_word_vectors, word_tokenize
from pie_utils.pruning import DENSE, get_method, pruned_count_after_round
from pie_utils.runs import model_spec_for
from pie_utils.training import length_bucketed_batches

SPLITS = ("train", "validation", "test")
# Seed-derivation tags, equal to the fast path's so data order, dropout and sampling agree.
DROPOUT_TAG, PRUNE_TAG, IMPACT_TAG = 104729, 7919, 15485863


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (numpy ``SeedSequence``), e.g. ``(seed, tag, epoch)``."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass
class BaselineRun:
    """One trained run.

    Attributes:
        method, sparsity, seed: which run (``dense`` has sparsity 0).
        arrays: ``<split>_logits[example, class]`` float32 for train, validation and test, and
            ``train_logits_epoch<e>`` for the dense run (as the fast path stores).
        metrics: ``validation_accuracy`` and ``test_accuracy``.
    """

    method: str
    sparsity: float
    seed: int
    arrays: dict[str, np.ndarray]
    metrics: dict[str, float]


class PaddedBiLSTM(BiLSTMClassifier):
    """``BiLSTMClassifier`` fed word vectors that the data loader looked up, max-length padded.

    ``forward(vectors[batch, time, dim], lengths[batch]) → logits[batch, class]``. Built under
    ``seed`` as ``build_model`` builds the fast path's model, so its weights are the same; its
    one-row embedding layer is never used.
    """

    def __init__(
        self, dim: int, num_labels: int, hidden_size: int, num_layers: int, head_sizes: tuple[int, ...], seed: int
    ):
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            super().__init__(np.zeros((1, dim), dtype=np.float32), num_labels, hidden_size, num_layers, head_sizes)

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.read_vectors(vectors, lengths)))


class BaselineTrainer:
    """Trains a ``Study``'s population with the baseline strategy (module docstring).

    Counters, summed over everything trained: ``train_seconds`` (inside training epochs),
    ``train_tokens`` (real, non-padding tokens of the examples those epochs read) and
    ``eval_seconds`` (computing logits).
    """

    def __init__(self, study: Study, device: torch.device | str = "cpu"):
        dataset = load_dataset(study.dataset, path=study.data_path, revision=study.revision)
        if dataset.multilabel or dataset.train.text_pairs is not None:
            raise ParameterError(
                "dataset",
                study.dataset,
                "a single-text, single-label dataset (e.g. rotten-tomatoes, movie-reviews) for the baseline",
            )
        spec = study.subset
        if any(n is not None for n in (spec.n_train, spec.n_validation, spec.n_test)):
            dataset = subset(
                dataset, n_train=spec.n_train, n_validation=spec.n_validation, n_test=spec.n_test, seed=spec.seed
            )
        self.study, self.config, self.dataset = study, study.training, dataset
        self.device = torch.device(device)
        self.model_spec = model_spec_for(study, dataset)
        self.width = dataset.max_length  # every batch is padded to this many tokens
        self.labels = {split: torch.as_tensor(dataset.split(split).labels) for split in SPLITS}
        if study.arch == "bilstm":
            self._prepare_words()
        else:
            self._prepare_wordpieces()
        self.train_seconds = self.eval_seconds = 0.0
        self.train_tokens = 0

    # ---- inputs ----------------------------------------------------------------------------

    def _prepare_words(self) -> None:
        table = load_word_vectors(self.model_spec.vectors)
        self.vector_rows = table.rows()
        self.vector_matrix = np.asarray(table.matrix, dtype=np.float32)  # in memory, as a GloVe dict would be
        self.oov_vector = table.mean
        self.words = {
            split: [word_tokenize(text)[: self.width] for text in self.dataset.split(split).texts] for split in SPLITS
        }
        self.lengths = {split: np.array([len(w) for w in words], dtype=np.int64) for split, words in self.words.items()}

    def _prepare_wordpieces(self) -> None:
        self.encoder = build_encoder(self.model_spec, self.dataset)
        self.wordpieces = {}
        for split in SPLITS:
            out = self.encoder.tokenizer(
                list(self.dataset.split(split).texts),
                padding="max_length",
                truncation=True,
                max_length=self.width,
                return_tensors="pt",
                return_token_type_ids=False,
            )
            self.wordpieces[split] = (out["input_ids"], out["attention_mask"])
        self.lengths = {split: mask.sum(dim=1).numpy() for split, (_, mask) in self.wordpieces.items()}

    def _collate(self, split: str, positions: list[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One batch: model inputs padded to ``width`` and labels ``[batch]``."""
        positions = np.asarray(positions, dtype=np.int64)
        labels = self.labels[split][torch.as_tensor(positions)]
        if self.study.arch == "bert":
            input_ids, attention_mask = self.wordpieces[split]
            return {"input_ids": input_ids[positions], "attention_mask": attention_mask[positions]}, labels
        vectors = np.zeros((len(positions), self.width, self.vector_matrix.shape[1]), dtype=np.float32)
        for row, position in enumerate(positions):
            rows = np.array([self.vector_rows.get(word, -1) for word in self.words[split][position]], dtype=np.int64)
            if len(rows):
                vectors[row, : len(rows)] = np.where(
                    (rows >= 0)[:, None], self.vector_matrix[np.maximum(rows, 0)], self.oov_vector
                )
        lengths = torch.as_tensor(np.maximum(self.lengths[split][positions], 1))  # an empty text reads one PAD
        return {"vectors": torch.from_numpy(vectors), "lengths": lengths}, labels

    def _loader(self, split: str, batches: list[np.ndarray]) -> DataLoader:
        return DataLoader(
            range(len(self.lengths[split])),
            batch_sampler=[list(b) for b in batches],
            collate_fn=lambda positions: self._collate(split, positions),
        )

    # ---- a population ----------------------------------------------------------------------

    def train_population(self) -> list[BaselineRun]:
        """Every run of the study, seed after seed (dense, then each method × sparsity)."""
        runs = []
        for seed in self.study.seed_range:
            runs.append(self.train_run(DENSE, 0.0, seed))
            runs += [
                self.train_run(method, sparsity, seed)
                for method in self.study.methods
                for sparsity in self.study.sparsities
            ]
        return runs

    def train_run(self, method: str, sparsity: float, seed: int) -> BaselineRun:
        """Train one run from scratch and compute its logits."""
        model = self._new_model(seed)
        optimizer = self._optimizer(model)
        epochs = self.config.epochs
        arrays = {}
        if method == DENSE:
            for epoch in range(epochs):
                self._train_epoch(model, optimizer, seed, epoch)
                if epoch + 1 in self.config.train_logit_epochs:
                    arrays[f"train_logits_epoch{epoch + 1}"] = self._logits(model, "train")
        elif not get_method(method).schedule.branches_from_dense:
            self._prune(model, method, sparsity, seed, round_index=1)
            optimizer = self._optimizer(model)
            for epoch in range(epochs):
                self._train_epoch(model, optimizer, seed, epoch)
        else:
            schedule = get_method(method).schedule
            rewind = schedule.rewind
            initial = [(p, p.detach().clone()) for p in model.parameters()] if rewind else []
            for epoch in range(epochs):  # the dense run's first E epochs, trained again
                self._train_epoch(model, optimizer, seed, epoch)
            for round_index in range(1, schedule.rounds + 1):
                self._prune(model, method, sparsity, seed, round_index=round_index)
                if rewind:
                    with torch.no_grad():  # weight_orig is the same Parameter object as before pruning
                        for parameter, start in initial:
                            parameter.copy_(start)
                    optimizer = self._optimizer(model)
                for epoch in range(round_index * epochs, (round_index + 1) * epochs):
                    self._train_epoch(model, optimizer, seed, epoch)
        arrays.update({f"{split}_logits": self._logits(model, split) for split in SPLITS})
        return BaselineRun(method, float(sparsity), seed, arrays, score_logits(arrays, self.dataset))

    # ---- steps -----------------------------------------------------------------------------

    def _train_epoch(self, model: nn.Module, optimizer: torch.optim.Optimizer, seed: int, epoch: int) -> None:
        started = time.perf_counter()
        model.train()
        batches = length_bucketed_batches(
            self.lengths["train"], self.config.batch_size, np.random.default_rng([seed, epoch])
        )
        trainable = [p for p in model.parameters() if p.requires_grad]
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(derive_seed(seed, DROPOUT_TAG, epoch))
            for inputs, labels in self._loader("train", batches):
                loss = F.cross_entropy(self._forward(model, inputs), labels.to(self.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, self.config.grad_clip)
                optimizer.step()
        self.train_seconds += time.perf_counter() - started
        self.train_tokens += int(self.lengths["train"].sum())

    def _forward(self, model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        enabled = self.config.precision == "bf16" and self.device.type == "cuda"
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled):
            return model(**{name: value.to(self.device) for name, value in inputs.items()}).float()

    def _logits(self, model: nn.Module, split: str) -> np.ndarray:
        """``[example, class]`` in the split's order; autograd stays on, as in the original."""
        started = time.perf_counter()
        model.eval()
        n = len(self.lengths[split])
        batches = [
            np.arange(start, min(start + self.config.batch_size, n)) for start in range(0, n, self.config.batch_size)
        ]
        logits = np.concatenate(
            [self._forward(model, inputs).detach().cpu().numpy() for inputs, _ in self._loader(split, batches)]
        )
        model.train()
        self.eval_seconds += time.perf_counter() - started
        return logits

    def _prune(self, model: nn.Module, method: str, sparsity: float, seed: int, round_index: int) -> None:
        """One pruning round through ``torch.nn.utils.prune`` (layer-wise, exact counts)."""
        score, rounds = get_method(method).score.name, get_method(method).schedule.rounds
        targets = [(module, name) for _, module, name in model.prunable_parameters()]
        impact = self._impact_scores(model, targets, seed, round_index) if score == "impact" else {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, PRUNE_TAG, round_index))
            for module, name in targets:
                mask = getattr(module, f"{name}_mask", None)
                already = int((mask == 0).sum()) if mask is not None else 0
                amount = (
                    pruned_count_after_round(getattr(module, name).numel(), sparsity, round_index, rounds) - already
                )
                if score == "random":
                    prune.random_unstructured(module, name, amount=amount)
                    continue
                # module.<name> is the masked weight as of the last forward pass, one optimiser
                # step stale, and torch's prune would score it: score the live weight instead.
                scores = impact[(module, name)] if impact else _live_weight(module, name).detach().abs()
                # the container scores only the still-kept entries, so an int amount is exact
                prune.l1_unstructured(module, name, amount=amount, importance_scores=scores)

    def _impact_scores(self, model: nn.Module, targets: list, seed: int, round_index: int) -> dict:
        """``|w · ∂L/∂w|`` per target, ∂L/∂w of the summed loss of ``impact_examples`` training examples."""
        n_train = len(self.lengths["train"])
        rng = np.random.default_rng([seed, IMPACT_TAG, round_index])
        chosen = np.sort(rng.choice(n_train, size=min(self.config.impact_examples, n_train), replace=False))
        batches = [
            chosen[start : start + self.config.batch_size] for start in range(0, len(chosen), self.config.batch_size)
        ]
        model.eval()
        model.zero_grad(set_to_none=True)
        for inputs, labels in self._loader("train", batches):
            F.cross_entropy(self._forward(model, inputs), labels.to(self.device), reduction="sum").backward()
        scores = {}
        for module, name in targets:
            weight = _live_weight(module, name)
            scores[(module, name)] = (weight.detach() * weight.grad).abs()
        model.zero_grad(set_to_none=True)
        model.train()
        return scores

    def _new_model(self, seed: int) -> nn.Module:
        if self.study.arch == "bert":
            model = build_model(self.model_spec, self.dataset.num_classes, seed, self.encoder)
        else:
            spec = self.model_spec
            model = PaddedBiLSTM(
                self.vector_matrix.shape[1],
                self.dataset.num_classes,
                spec.hidden_size,
                spec.num_layers,
                spec.head,
                seed,
            )
        return model.to(self.device)

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=self.config.learning_rate)


def _live_weight(module: nn.Module, name: str) -> nn.Parameter:
    """The trained parameter behind ``module.<name>``: ``<name>_orig`` once pruned (its pruned
    entries are masked in the forward pass), else the parameter itself."""
    original = getattr(module, f"{name}_orig", None)
    return getattr(module, name) if original is None else original
