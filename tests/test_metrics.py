"""glassnet.train.metrics: accuracy, top-k, confusion matrix, per-class errors, mistakes.

Checked against a small example worked out by hand and against scikit-learn.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from glassnet.train import metrics

# 8 samples, 3 classes. Worked out by hand:
#   true 0 -> predicted 0, 0, 1      true 1 -> 1, 2      true 2 -> 2, 2, 0
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2, 2, 0])
CONFUSION = np.array(
    [
        [2, 1, 0],
        [0, 1, 1],
        [1, 0, 2],
    ]
)


def logits_for(pred, num_classes, rng):
    """Random scores whose argmax is ``pred``."""
    scores = rng.standard_normal((len(pred), num_classes))
    scores[np.arange(len(pred)), pred] = scores.max(axis=1) + 1.0
    return scores


def test_hand_computed_example():
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(5 / 8)
    np.testing.assert_array_equal(metrics.confusion_matrix(Y_TRUE, Y_PRED), CONFUSION)
    np.testing.assert_array_equal(metrics.per_class_errors(Y_TRUE, Y_PRED), [1, 1, 1])
    np.testing.assert_array_equal(metrics.misclassified(Y_TRUE, Y_PRED), [2, 4, 7])


def test_logits_are_turned_into_predictions():
    rng = np.random.default_rng(0)
    logits = logits_for(Y_PRED, 3, rng)
    np.testing.assert_array_equal(metrics.predictions(logits), Y_PRED)
    assert metrics.accuracy(Y_TRUE, logits) == pytest.approx(5 / 8)
    np.testing.assert_array_equal(metrics.confusion_matrix(Y_TRUE, logits), CONFUSION)
    np.testing.assert_array_equal(metrics.misclassified(Y_TRUE, logits), [2, 4, 7])


def test_confusion_matrix_with_absent_classes():
    cm = metrics.confusion_matrix([1, 1, 3], [1, 3, 3], num_classes=5)
    assert cm.shape == (5, 5)
    expected = np.zeros((5, 5), dtype=int)
    expected[1, 1], expected[1, 3], expected[3, 3] = 1, 1, 1
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_array_equal(
        metrics.per_class_errors([1, 1, 3], [1, 3, 3], 5), [0, 1, 0, 0, 0]
    )


def test_confusion_matrix_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match="class"):
        metrics.confusion_matrix([0, 1, 5], [0, 1, 1], num_classes=3)
    with pytest.raises(ValueError, match="class"):
        metrics.confusion_matrix([0, 1, 2], [0, -1, 1], num_classes=3)


def test_length_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        metrics.accuracy([0, 1, 2], [0, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn(seed):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    k = 7
    y = rng.integers(0, k, 500)
    logits = rng.standard_normal((500, k)) + 1.5 * np.eye(k)[y]  # better than chance
    pred = logits.argmax(axis=1)
    assert metrics.accuracy(y, logits) == pytest.approx(skm.accuracy_score(y, pred))
    cm = metrics.confusion_matrix(y, pred, k)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, pred, labels=np.arange(k)))
    np.testing.assert_array_equal(
        metrics.per_class_errors(y, pred, k), np.bincount(y[y != pred], minlength=k)
    )
    for top in (1, 2, 3, 5):
        assert metrics.top_k_accuracy(y, logits, top) == pytest.approx(
            skm.top_k_accuracy_score(y, logits, k=top, labels=np.arange(k))
        )


def test_top_k_by_hand():
    logits = np.array(
        [
            [0.1, 0.5, 0.4, 0.0],  # ranking 1, 2, 0, 3
            [0.9, 0.0, 0.05, 0.05],  # ranking 0, then 2/3, then 1
            [0.2, 0.3, 0.1, 0.4],  # ranking 3, 1, 0, 2
        ]
    )
    y = np.array([2, 1, 0])
    assert metrics.top_k_accuracy(y, logits, 1) == 0.0
    assert metrics.top_k_accuracy(y, logits, 2) == pytest.approx(1 / 3)
    assert metrics.top_k_accuracy(y, logits, 3) == pytest.approx(2 / 3)
    assert metrics.top_k_accuracy(y, logits, 4) == 1.0
    assert metrics.top_k_accuracy(y, logits, 10) == 1.0  # k larger than the classes


def test_top_k_needs_scores_and_a_positive_k():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        metrics.top_k_accuracy([0, 1], [0, 1], 1)
    with pytest.raises(ValueError, match="k"):
        metrics.top_k_accuracy([0, 1], np.eye(2), 0)
    with pytest.raises(ValueError, match="1 labels but 50 rows of scores"):
        metrics.top_k_accuracy([0], np.zeros((50, 3)), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 'mean of empty slice'
        assert np.isnan(metrics.top_k_accuracy([], np.zeros((0, 3)), 2))


def test_misclassified_indices_are_in_order_and_empty_when_perfect():
    y = np.array([3, 1, 4, 1, 5])
    np.testing.assert_array_equal(metrics.misclassified(y, y), np.array([], dtype=np.int64))
    pred = np.array([3, 0, 4, 2, 0])
    np.testing.assert_array_equal(metrics.misclassified(y, pred), [1, 3, 4])
    assert metrics.accuracy(y, y) == 1.0
