"""glassnet <-> scikit-learn.

* :func:`mlp_spec` / :func:`to_sklearn`: the ``MLPClassifier`` with the same layer sizes
  and activation as a pure-MLP glassnet model (Flatten, then Linear / activation pairs,
  then a final Linear). scikit-learn initialises its own weights and applies softmax +
  cross-entropy itself, so the architecture matches but the starting point does not.
  Models with convolutions, pooling, normalisation or skip links have no
  MLPClassifier equivalent: :class:`NotAnMLPError` says which layer is the obstacle.
* :class:`GlassnetClassifier`: a glassnet zoo model as a scikit-learn estimator
  (``fit``, ``predict``, ``predict_proba``, ``score``), so it drops into
  ``cross_val_score``, ``GridSearchCV`` and pipelines.
"""

from __future__ import annotations

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.neural_network import MLPClassifier
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "glassnet.interop.sklearn needs scikit-learn: pip install 'glassnet[sklearn]'"
    ) from exc

from .. import nn

__all__ = ["NotAnMLPError", "mlp_spec", "to_sklearn", "GlassnetClassifier"]

_ACTIVATIONS = {nn.ReLU: "relu", nn.Sigmoid: "logistic", nn.Tanh: "tanh", nn.Identity: "identity"}


class NotAnMLPError(TypeError):
    """The model is not a plain MLP, so scikit-learn's MLPClassifier cannot express it."""


def mlp_spec(model: nn.Module) -> dict:
    """``{"hidden_layer_sizes": (...), "activation": str, "n_features": int,
    "n_classes": int}`` of a pure MLP, else :class:`NotAnMLPError` naming the obstacle."""
    if not isinstance(model, nn.Sequential):
        raise NotAnMLPError(f"{type(model).__name__} is not a Sequential MLP")
    layers = list(model)
    if layers and isinstance(layers[0], nn.Flatten):
        layers = layers[1:]
    linears, activations = [], []
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            linears.append(layer)
        elif type(layer) in _ACTIVATIONS and i > 0 and isinstance(layers[i - 1], nn.Linear):
            activations.append(_ACTIVATIONS[type(layer)])
        else:
            raise NotAnMLPError(
                f"layer {i} ({type(layer).__name__}) has no counterpart in scikit-learn's "
                "MLPClassifier, which only stacks fully connected layers with one activation"
            )
    if not linears or not isinstance(layers[-1], nn.Linear):
        raise NotAnMLPError("an MLP must end with a Linear layer producing the class scores")
    if len(activations) != len(linears) - 1:
        raise NotAnMLPError("every hidden Linear layer must be followed by one activation")
    if len(set(activations)) > 1:
        raise NotAnMLPError(
            f"MLPClassifier uses one activation for all hidden layers, this model mixes "
            f"{sorted(set(activations))}"
        )
    for a, b in zip(linears, linears[1:]):
        if a.out_features != b.in_features:
            raise NotAnMLPError("consecutive Linear layers do not chain")
    return {
        "hidden_layer_sizes": tuple(layer.out_features for layer in linears[:-1]),
        "activation": activations[0] if activations else "identity",
        "n_features": linears[0].in_features,
        "n_classes": linears[-1].out_features,
    }


def to_sklearn(model: nn.Module, **mlp_kwargs) -> MLPClassifier:
    """An unfitted ``MLPClassifier`` with the model's hidden sizes and activation;
    ``mlp_kwargs`` (solver, learning_rate_init, batch_size, max_iter, random_state,
    alpha, ...) are passed through."""
    spec = mlp_spec(model)
    return MLPClassifier(
        hidden_layer_sizes=spec["hidden_layer_sizes"], activation=spec["activation"], **mlp_kwargs
    )


class GlassnetClassifier(ClassifierMixin, BaseEstimator):
    """A glassnet zoo model trained with ``glassnet.train.fit``, as a scikit-learn estimator.

    ``X`` may be flat (n_samples, C*H*W) or images (n_samples, C, H, W); ``input_shape``
    says how to fold flat rows back into images, and ``None`` takes each row as a
    (1, 1, n_features) image (any tabular data, for the MLP models). The inputs are
    checked as scikit-learn's estimators check them (finite numbers, labels that are
    classes, a column vector y raveled with a warning), and fitting leaves glassnet's
    global random generator as it found it.
    """

    def __init__(
        self,
        model: str = "digits-cnn-pool-skip",
        input_shape=(1, 8, 8),
        epochs: int = 10,
        batch_size: int = 32,
        optimizer: str = "adam",
        lr: float = 1e-3,
        seed: int = 0,
    ):
        self.model = model
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.seed = seed

    def _images(self, X, fitting: bool = False) -> np.ndarray:
        X = check_array(X, dtype=np.float32, allow_nd=True)  # finite, real, not sparse
        if fitting:
            self.n_features_in_ = int(np.prod(X.shape[1:]))
        elif np.prod(X.shape[1:]) != self.n_features_in_:
            raise ValueError(
                f"X has {int(np.prod(X.shape[1:]))} features, but {type(self).__name__} "
                f"is expecting {self.n_features_in_} features as input"
            )
        if X.ndim == 2:
            shape = (1, 1, X.shape[1]) if self.input_shape is None else tuple(self.input_shape)
            if X.shape[1] != int(np.prod(shape)):
                raise ValueError(
                    f"X has {X.shape[1]} features; input_shape {shape} needs {int(np.prod(shape))}"
                )
            X = X.reshape(-1, *shape)
        return X

    def fit(self, X, y):
        from .. import models, train
        from .. import random as gn_random

        X = self._images(X, fitting=True)
        y = column_or_1d(y, warn=True)  # a column vector: raveled, with a warning
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
        check_classification_targets(y)  # continuous y is not classes
        self.classes_, y_index = np.unique(y, return_inverse=True)
        state = gn_random.get_rng_state()  # fit seeds it: give the caller's stream back
        try:
            self.model_ = models.get(
                self.model, input_shape=X.shape[1:], num_classes=len(self.classes_), seed=self.seed
            )
            self.history_ = train.fit(
                self.model_,
                (X, y_index.reshape(-1).astype(np.int64)),
                epochs=self.epochs,
                batch_size=self.batch_size,
                optimizer=self.optimizer,
                lr=self.lr,
                seed=self.seed,
                progress=False,
            )
        finally:
            gn_random.set_rng_state(state)
        return self

    def predict_proba(self, X) -> np.ndarray:
        from ..nn.functional import softmax
        from ..train import predict

        check_is_fitted(self)
        return softmax(predict(self.model_, self._images(X)).astype(np.float64), axis=1)

    def predict(self, X) -> np.ndarray:
        winners = self.predict_proba(X).argmax(axis=1)  # first: it checks the fit
        return self.classes_[winners]
