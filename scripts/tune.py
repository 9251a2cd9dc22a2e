"""Choose epochs and learning rate for one dataset × arch on the validation split only.

    python scripts/tune.py --dataset rotten-tomatoes --arch bilstm --batch-size 64 \
        --epochs 8 --learning-rates 1e-3 2e-3 5e-3 --seeds 2 [--subset train=2000]

Prints the validation metric after every epoch for each learning rate and seed, and the plateau
epoch (``pie_utils.metrics.plateau_epoch``); the test split is never read. The choices and the budget they were made under go into
``pie_utils/hyperparameters.toml``.
"""

import argparse
import time

import numpy as np
import torch

from pie_utils.cli import _subset
from pie_utils.config import validate_study
from pie_utils.devices import resolve_device
from pie_utils.metrics import PLATEAU_TOLERANCE, plateau_epoch
from pie_utils.runs import prepare_data
from pie_utils.store import ResultsStore
from pie_utils.training import PopulationTrainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--learning-rates", type=float, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--subset", type=_subset)
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()
    for learning_rate in arguments.learning_rates:
        study = validate_study(
            {
                "dataset": arguments.dataset,
                "arch": arguments.arch,
                "seeds": arguments.seeds,
                "epochs": arguments.epochs,
                "learning_rate": learning_rate,
                "batch_size": arguments.batch_size,
                "threads": arguments.threads,
                "subset": arguments.subset,
            }
        )
        torch.set_num_threads(arguments.threads)
        trainer = PopulationTrainer(study, prepare_data(study), ResultsStore("unused"), resolve_device("auto"))
        curves = []
        for seed in range(arguments.seeds):
            started = time.perf_counter()
            curves.append(trainer.validation_curve(seed, arguments.epochs))
            print(
                f"lr={learning_rate:g} seed={seed} validation by epoch: "
                f"{' '.join(f'{v:.4f}' for v in curves[-1])} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        print(f"lr={learning_rate:g} mean over seeds: {' '.join(f'{v:.4f}' for v in np.mean(curves, axis=0))}")
        print(
            f"lr={learning_rate:g} plateau: E = {plateau_epoch(curves)} (the first epoch within "
            f"{PLATEAU_TOLERANCE} of the best mean)"
        )


if __name__ == "__main__":
    main()
