"""A stored run's model restored by training the run again, kept only if it predicts what the run stored.

A published store keeps the models of a few runs (``pie_utils.publication``), so a training
store refilled from it (``python -m pie_utils store merge``) holds runs without the models that
a later evaluation (``pie_utils.evaluation.score_transfer``: the run scored on another dataset)
loads. Training is a function of the run's spec on a given processor and thread count, so
``restore_model`` trains such a run again in a scratch store, lent the dense record and
checkpoint it continues or branches from, and adds the retrained model to the stored run only
when the retrained run predicts what the stored one holds: on every logit array both hold, the
same class for every example and no class probability further apart than the publication's own
float16 tolerance (``PROBABILITY_TOLERANCE``). Otherwise it raises ``RestoreError`` naming the
run and the difference, and adds nothing. A dense run's retrained checkpoint is handed back to a
store that lost it, so the runs that branch from it need not train it once more.

Its ``start`` and ``finish`` lines in the store's log count it as training, so ``store pause``
stops it and the training span includes it.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace

import numpy as np
from scipy.special import softmax

from pie_utils.pruning import DENSE
from pie_utils.store import PROBABILITY_TOLERANCE, ResultsStore, StoredRun
from pie_utils.training import PopulationTrainer
from pie_utils.training_log import RESTORE


class RestoreError(RuntimeError):
    """The run trained again predicts otherwise than the stored run; the message says where."""


def restore_model(trainer: PopulationTrainer, method: str, sparsity: float, seed: int) -> bool:
    """Give the stored run (``method``, ``sparsity``, ``seed``) of ``trainer``'s study its model,
    unless it kept one or its study keeps none; True when a model was restored."""
    store, key = trainer.store, trainer.key(method, sparsity, seed)
    stored = store.read(key)
    if stored is None or "model_sha256" in stored.meta or not trainer.study.keep_models:
        return False
    run = f"{method} sparsity={sparsity:g} seed={seed}"
    description, line = f"the model of {run}", f"{RESTORE} {run}"
    store.log("start", key, line)
    try:
        with tempfile.TemporaryDirectory(prefix="pie-restore-") as scratch:
            twin = PopulationTrainer(
                replace(trainer.study, store=scratch), trainer.prepared, ResultsStore(scratch), trainer.device
            )
            if twin.key(method, sparsity, seed) != key:
                raise RuntimeError(f"the run key of {description} depends on its store; nothing restored")
            _lend_inputs(trainer, twin, method, seed)
            twin.train_run(method, sparsity, seed)
            check_same_predictions(stored, twin.store.read(key), description)
            store.add_model(key, twin.store.read_model(key))
            if method == DENSE and not store.checkpoint_path(key).is_file():
                store.save_checkpoint(key, twin.store.load_checkpoint(key))
    except Exception:
        store.log("fail", key, line)  # ends the attempt on the log, so it is not counted as training still
        raise
    store.log("finish", key, line)
    return True


def check_same_predictions(stored: StoredRun, retrained: StoredRun, description: str) -> None:
    """Raise ``RestoreError`` unless every logit array ``[example, class]`` that both runs hold
    gives the same class for every example, and class probabilities within
    ``PROBABILITY_TOLERANCE``."""
    shared = sorted(name for name in stored.arrays if "logits" in name and name in retrained.arrays)
    if not shared:
        raise RestoreError(f"{description}: the stored and the retrained run share no logits to compare")
    for name in shared:
        before, after = stored.arrays[name], retrained.arrays[name]
        if before.shape != after.shape:
            raise RestoreError(f"{description}: {name} has shape {after.shape} retrained, {before.shape} stored")
        flipped = int((before.argmax(axis=1) != after.argmax(axis=1)).sum())
        gap = float(np.abs(softmax(before, axis=1) - softmax(after, axis=1)).max())
        if flipped or gap > PROBABILITY_TOLERANCE:
            raise RestoreError(
                f"{description}: retrained here, {name} predicts another class on {flipped} of {len(before)} "
                f"examples (largest probability difference {gap:.2g}, allowed {PROBABILITY_TOLERANCE:g}); "
                "train it where it was trained (the processor and threads in its meta.json), or afresh"
            )


def _lend_inputs(trainer: PopulationTrainer, twin: PopulationTrainer, method: str, seed: int) -> None:
    """Copy into ``twin``'s store what the run starts from in ``trainer``'s: the seed's dense
    checkpoint for a run that branches from it (rebuilt first if lost), or for a dense run the
    shorter dense run it continues, with its checkpoint, when the store holds them."""
    if trainer.needs_dense_checkpoint(method):
        twin.store.save_checkpoint(trainer.key(DENSE, 0.0, seed), trainer.dense_checkpoint(seed))
    elif method == DENSE and (base := trainer.shorter_dense(seed)) is not None:
        base_run, checkpoint = base
        twin.store.commit(base_run.key, *trainer.store.verified_files(base_run.key))
        twin.store.save_checkpoint(base_run.key, checkpoint)
