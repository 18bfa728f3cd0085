"""What a run's record says about its curves: the best epoch and the timings.

Two rules a report must keep, shared by ``compare`` and ``train``:

* **Nothing is chosen on the test set.** The best epoch is the one with the highest
  validation accuracy; without a validation split (``val_size=0``) there is no best
  epoch at all, and the test figures are only ever the final ones.
* **A wall-clock time comes with its noise.** The first epoch pays for warm-up
  (imports, allocations, caches), and on a shared machine any epoch can be slowed by
  other work; the typical epoch is the median of the epochs after the first, shown
  with their range, and the first epoch is reported apart.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["best_epoch", "best_epoch_note", "epoch_timing", "BEST_ON", "TIMING_NOTE"]

BEST_ON = "val_accuracy"  # the only curve a best epoch is ever chosen on

TIMING_NOTE = (
    "Times are wall-clock seconds of the training loop (evaluation excluded) on a shared "
    "machine, so they are noisy: the first epoch (warm-up) is shown apart, s / epoch is the "
    "median of the later epochs with their range, and only times from the same run and "
    "machine should be compared."
)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def best_epoch(history: list[dict]) -> dict:
    """``best_epoch`` and ``best_val_accuracy`` (the first epoch of the highest validation
    accuracy) and ``best_epoch_on`` ("val_accuracy"); all None when no epoch recorded a
    validation accuracy. The test curve is never looked at."""
    values = [(e["epoch"], e[BEST_ON]) for e in history if _finite(e.get(BEST_ON))]
    if not values:
        return {"best_epoch": None, "best_val_accuracy": None, "best_epoch_on": None}
    epoch, value = max(values, key=lambda ev: ev[1])  # max keeps the first of equals
    return {"best_epoch": int(epoch), "best_val_accuracy": float(value), "best_epoch_on": BEST_ON}


def epoch_timing(history: list[dict]) -> dict:
    """Training seconds of a run: ``seconds`` (total), ``first_epoch_seconds``,
    ``seconds_per_epoch`` (the median of the epochs after the first, or the only epoch's
    time) and ``seconds_per_epoch_range`` ([min, max] of the same epochs)."""
    seconds = [float(e["seconds"]) for e in history if _finite(e.get("seconds"))]
    if not seconds:
        return {
            "seconds": 0.0,
            "first_epoch_seconds": None,
            "seconds_per_epoch": None,
            "seconds_per_epoch_range": None,
        }
    later = seconds[1:] or seconds
    return {
        "seconds": float(sum(seconds)),
        "first_epoch_seconds": seconds[0],
        "seconds_per_epoch": float(np.median(later)),
        "seconds_per_epoch_range": [min(later), max(later)],
    }


def best_epoch_note(n_val: int) -> str:
    """Where a run's best epoch comes from (a note of compare's and train's reports)."""
    if n_val:
        return (
            f"The best epoch is the one with the highest validation accuracy, on {n_val} "
            "images held out of the training set (stratified); test accuracies are final, "
            "after the last epoch: nothing is chosen on the test set."
        )
    return (
        "No validation split (val_size=0): no best epoch is chosen, as it could only be "
        "chosen on the test set; test accuracies are final, after the last epoch."
    )


def dataset_record(dataset) -> dict:
    """What a run's results.json says about its data: names, shapes, split sizes and
    the test labels (which the report's confusion matrices and mistakes read)."""
    return {
        "name": dataset.name,
        "classes": list(dataset.classes),
        "input_shape": list(dataset.input_shape),
        "n_train": int(len(dataset.y_train)),
        "n_val": int(len(dataset.y_val)) if dataset.y_val is not None else 0,
        "n_test": int(len(dataset.y_test)),
        "test_labels": dataset.y_test.tolist(),
    }
