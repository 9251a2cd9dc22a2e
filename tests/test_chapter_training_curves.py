"""The training appendix's tables on a hand-made history."""

import pandas as pd

from pie_utils.chapters.training_curves import curve, plateau_row, validation_metric

# two seeds, four epochs: mean validation accuracy .60 .70 .745 .75 -> plateau at epoch 3 (within .005)
HISTORY = pd.DataFrame(
    [
        {"seed": seed, "epoch": epoch, "train_loss": 1.0 / epoch, "validation_loss": 0.5, "validation_accuracy": value}
        for seed, values in ((0, (0.58, 0.69, 0.74, 0.76)), (1, (0.62, 0.71, 0.75, 0.74)))
        for epoch, value in enumerate(values, start=1)
    ]
)


def test_the_plateau_row_compares_the_epochs_used_with_the_rule_on_the_same_curves():
    assert validation_metric(HISTORY) == "validation_accuracy"
    row = plateau_row("main", HISTORY, epochs_used=2)
    assert (row["seeds"], row["epochs_trained"], row["plateau_epoch"]) == (2, 4, 3)
    assert row["best_mean"] == 0.75 and abs(row["mean_at_used"] - 0.70) < 1e-12 and row["metric"] == "accuracy"


def test_the_curve_is_the_mean_and_sd_over_seeds_by_epoch():
    table = curve(HISTORY)
    assert table.epoch.tolist() == [1, 2, 3, 4]
    assert [round(v, 3) for v in table["mean"]] == [0.6, 0.7, 0.745, 0.75]
    assert round(table.sd.iloc[0], 4) == round(((0.02**2 * 2) / 1) ** 0.5, 4)
