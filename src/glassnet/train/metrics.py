"""Classification metrics on NumPy arrays: accuracy, top-k, confusion matrix, errors."""

from __future__ import annotations

import numpy as np

__all__ = [
    "predictions",
    "accuracy",
    "top_k_accuracy",
    "confusion_matrix",
    "per_class_errors",
    "misclassified",
]


def predictions(logits_or_labels: np.ndarray) -> np.ndarray:
    """Class predictions: argmax of (N, C) scores, or (N,) labels unchanged."""
    a = np.asarray(logits_or_labels)
    return a.argmax(axis=1) if a.ndim == 2 else a.astype(np.int64)


def _pair(y_true, y_pred):
    y_true = np.asarray(y_true).astype(np.int64).reshape(-1)
    y_pred = predictions(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.shape[0]} labels but {y_pred.shape[0]} predictions")
    return y_true, y_pred


def accuracy(y_true, y_pred_or_logits) -> float:
    """Fraction of correct predictions (0..1)."""
    y_true, y_pred = _pair(y_true, y_pred_or_logits)
    return float((y_true == y_pred).mean()) if y_true.size else float("nan")


def top_k_accuracy(y_true, logits, k: int = 5) -> float:
    """Fraction of samples whose true class is among the k highest scores."""
    logits = np.asarray(logits)
    y_true = np.asarray(y_true).astype(np.int64)
    if logits.ndim != 2:
        raise ValueError(f"top_k_accuracy needs (N, C) scores, got shape {logits.shape}")
    if k < 1:
        raise ValueError(f"top_k_accuracy needs k >= 1, got {k}")
    if y_true.shape != (len(logits),):
        raise ValueError(f"{y_true.size} labels but {len(logits)} rows of scores")
    if not len(logits):
        return float("nan")  # as accuracy() on no samples
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float((top == y_true[:, None]).any(axis=1).mean())


def confusion_matrix(y_true, y_pred_or_logits, num_classes: int | None = None) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j."""
    y_true, y_pred = _pair(y_true, y_pred_or_logits)
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1)) + 1)
    for what, labels in (("label", y_true), ("prediction", y_pred)):
        if labels.size and not 0 <= labels.min() <= labels.max() < num_classes:
            raise ValueError(
                f"{what}s must be class indices 0..{num_classes - 1}, "
                f"got values {labels.min()}..{labels.max()}"
            )
    flat = y_true * num_classes + y_pred
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_errors(y_true, y_pred_or_logits, num_classes: int | None = None) -> np.ndarray:
    """Number of misclassified samples of each true class."""
    cm = confusion_matrix(y_true, y_pred_or_logits, num_classes)
    return cm.sum(axis=1) - np.diag(cm)


def misclassified(y_true, y_pred_or_logits) -> np.ndarray:
    """Indices (in order) of the samples whose prediction is wrong."""
    y_true, y_pred = _pair(y_true, y_pred_or_logits)
    return np.flatnonzero(y_true != y_pred)
