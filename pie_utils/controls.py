"""The controls of a pruning effect, read from a profile's control studies, paired by seed.

``pie_utils.claims.CONTROLS`` defines three; each gives, for every seed s of the main study, a
dense model s that is not pruned:

- ``seed_noise``: the profile's ``seed_noise`` study (dense, noise stream 1);
- ``extra_training``: the profile's ``dense_long`` study (dense, 4E epochs);
- ``accuracy_matched``: dense s after one epoch of its own training (the logits ``dense_long``
  stores after each of its epochs 1 … 4E; the first E are the main dense runs', which it
  continued), the epoch whose mean accuracy over seeds is closest to the treated population's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pie_utils.effects import matched_epoch
from pie_utils.errors import ParameterError
from pie_utils.pies import predictions_from_logits
from pie_utils.pruning import DENSE
from pie_utils.studies import CONTROL_STUDIES, TrainedStudy, train

EPOCH_SPLITS = ("validation", "test", "train")  # splits whose dense logits are stored per epoch


@dataclass(frozen=True)
class Matched:
    """The accuracy-matched control: ``epoch`` (1-based, of dense training), its mean accuracy
    over seeds, and its predictions ``[seed, example]``."""

    epoch: int
    accuracy: float
    predictions: np.ndarray


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Dense training of a study's seeds, epoch by epoch: the logits its dense runs store after
    every epoch (validation and test; the training split where ``train_logit_epochs`` has them).

    Attributes:
        source: a trained study whose dense runs hold the per-epoch logits (``dense_long`` for
            1 … 4E, or any study for its own 1 … E).
    """

    source: TrainedStudy

    def epochs(self, split: str = "test") -> list[int]:
        """The epochs whose logits of ``split`` are stored."""
        if split not in EPOCH_SPLITS:
            raise ParameterError("split", split, EPOCH_SPLITS)
        if self.source.dataset.multilabel:
            raise ParameterError(
                "split", split, "a single-label dataset (accuracy matching needs per-epoch predictions)"
            )
        training = self.source.study.training
        return list(training.train_logit_epochs) if split == "train" else list(range(1, training.epochs + 1))

    def predictions(self, epoch: int, split: str = "test") -> np.ndarray:
        """``[seed, example]``: dense seed s after ``epoch`` (1-based) of its training."""
        logits = self.source.logits(DENSE, 0.0, array=f"{split}_logits_epoch{epoch}")
        return predictions_from_logits(logits, False, None)

    def accuracy(self, split: str = "test") -> np.ndarray:
        """``[epoch]``: mean accuracy over seeds after each stored epoch."""
        labels = self.source.labels(split)
        return np.array([(self.predictions(e, split) == labels).mean() for e in self.epochs(split)])

    def matched(self, target: float, split: str = "test") -> Matched:
        """Dense s at the epoch whose mean accuracy on ``split`` is closest to ``target``."""
        epochs, accuracy = self.epochs(split), self.accuracy(split)
        position = matched_epoch(accuracy, target) - 1
        return Matched(epochs[position], float(accuracy[position]), self.predictions(epochs[position], split))


@dataclass(frozen=True, eq=False)
class Controls:
    """The control populations of ``main``, on its seeds.

    Attributes:
        main: the study whose pruned populations are judged.
        seed_noise: dense, same seeds and initial weights, another data order and dropout.
        extra_training: dense trained 4E epochs, continuing the main dense runs.
    """

    main: TrainedStudy
    seed_noise: TrainedStudy
    extra_training: TrainedStudy

    @property
    def trajectory(self) -> Trajectory:
        """Dense training 1 … 4E: the accuracy-matched control's candidates."""
        return Trajectory(self.extra_training)

    def dense(self, control: str, split: str = "test") -> np.ndarray:
        """Predictions ``[seed, example]`` of the ``seed_noise`` or ``extra_training`` control."""
        if control not in CONTROL_STUDIES:
            raise ParameterError("control", control, tuple(CONTROL_STUDIES))
        return getattr(self, control).predictions(DENSE, 0.0, split)

    def accuracy_matched(self, target: float, split: str = "test") -> Matched:
        """Dense s at the epoch of 1 … 4E whose mean accuracy on ``split`` is closest to ``target``."""
        return self.trajectory.matched(target, split)

    def predictions(self, split: str, target: float) -> dict[str, np.ndarray]:
        """Every control's predictions ``[seed, example]``, the accuracy-matched one for ``target``."""
        return {
            "seed_noise": self.dense("seed_noise", split),
            "extra_training": self.dense("extra_training", split),
            "accuracy_matched": self.accuracy_matched(target, split).predictions,
        }


def load_controls(
    profile: str, main: TrainedStudy, progress: bool = False, overrides: dict[str, dict] | None = None
) -> Controls:
    """Train or read the profile's control studies and check they pair with ``main`` seed by seed.

    ``overrides``: per control (a key of ``CONTROL_STUDIES``), parameters that replace its
    study's (``pie_utils.chapter_inputs`` moves the controls onto a reader's data this way).
    """
    overrides = overrides or {}
    studies = {
        name: train(profile, study, progress=progress, **overrides.get(name, {}))
        for name, study in CONTROL_STUDIES.items()
    }
    for name, control in studies.items():
        if control.study.seed_range != main.study.seed_range:
            raise ParameterError(
                f"{CONTROL_STUDIES[name]}.seeds",
                list(control.study.seed_range),
                f"the seeds of the main study, {list(main.study.seed_range)} (a control pairs seed by seed)",
            )
        if control.dataset.fingerprint() != main.dataset.fingerprint():
            raise ParameterError(CONTROL_STUDIES[name], control.study.dataset, "the main study's data and subset")
    longest = studies["extra_training"].study.training
    missing = sorted(set(range(1, longest.epochs + 1)) - set(longest.train_logit_epochs))
    if missing:
        raise ParameterError(
            "dense_long.train_logit_epochs",
            list(longest.train_logit_epochs),
            f"every epoch 1..{longest.epochs} (the accuracy-matched control on the training split)",
        )
    return Controls(main, studies["seed_noise"], studies["extra_training"])
