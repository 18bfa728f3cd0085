"""The three engines of ``glassnet compare``: glassnet, PyTorch and scikit-learn.

The fairness rules:

* glassnet and PyTorch start from the *same weights*: the glassnet zoo model is built
  once with the run's seed and converted with ``to_torch``.
* They see the *same batches in the same order*: both iterate a glassnet
  ``DataLoader`` seeded with the run's seed (augmentation included).
* They use the *same recipe*: optimizer, learning rate, momentum, weight decay and
  schedule are built by name from ``glassnet.optim`` and ``torch.optim``, whose class
  names and arguments are identical.
* scikit-learn's ``MLPClassifier`` can only express plain MLPs; it gets the same hidden
  sizes and activation, split, batch size, optimizer (Adam or SGD), learning rate and
  number of epochs (one ``partial_fit`` pass each), but its own initialisation and its
  own shuffling, and no learning-rate schedule.

Every engine times only its training loop (seconds per epoch); evaluation on the
test split after each epoch is not counted. ``RunSpec.epoch_end``, when set, is called
after each epoch's evaluation, outside the timed loop: the benchmarks use it to let
two engines take turns epoch by epoch, so both see the same state of a shared machine.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from .. import models, nn
from .. import random as gn_random
from ..data import DataLoader, default_train_transform
from ..nn.module import is_grad_enabled
from ..train import evaluate, fit, make_optimizer, make_scheduler
from ..train.callbacks import Callback, EarlyStopping, ProgressBar, TimeBudget
from ..train.fit import EARLY_STOPPING_NEEDS_VAL, _splits, time_budget_scheduler
from ..train.metrics import confusion_matrix, misclassified, per_class_errors
from ..train.trainer import Trainer, TrainingDivergedError, predict
from .records import best_epoch, epoch_timing

__all__ = ["RunSpec", "RunResult", "ENGINES", "run_engine", "first_layer_weights"]

ENGINES = ("glassnet", "torch", "sklearn")
# the training recipe: RunSpec fields and glassnet.train.fit arguments of the same names
RECIPE_FIELDS = (
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "nesterov",
    "scheduler",
    "label_smoothing",
    "augment",
    "seed",
)


@dataclass
class RunSpec:
    """One model on one engine: what to build and how to train it."""

    model: str  # the name the user gave ("cnn")
    zoo_name: str  # the resolved zoo name ("digits-cnn")
    dataset: object  # a glassnet.data.Dataset
    init_state: dict  # the shared initial weights
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    scheduler: str | None = None
    label_smoothing: float = 0.0
    augment: bool = False
    seed: int = 0
    progress: bool = False
    # glassnet train's options beyond the shared recipe (compare keeps the defaults)
    early_stopping: int | None = None  # patience in epochs on val_loss
    log_interval: int = 10  # batches between the iteration log's entries
    # seconds of training each (glassnet.train.TimeBudget): epochs is then an upper bound
    # and 'onecycle' follows the share of the budget spent (not in compare's recipe)
    time_budget: float | None = None
    model_args: dict = field(default_factory=dict)  # the zoo knobs (hidden=64, ...)
    # epoch_end(epoch, logs): called after each epoch and its evaluation (not timed)
    epoch_end: Callable[[int, dict], None] | None = field(default=None, repr=False)

    @classmethod
    def from_recipe(cls, recipe, **fields) -> RunSpec:
        """A spec with the training recipe of a config (see RECIPE_FIELDS)."""
        return cls(**{name: getattr(recipe, name) for name in RECIPE_FIELDS}, **fields)

    def recipe(self) -> dict:
        """The recipe as keyword arguments of ``glassnet.train.fit``."""
        return {name: getattr(self, name) for name in RECIPE_FIELDS}

    def build_glassnet(self) -> nn.Module:
        d = self.dataset
        model = models.get(
            self.zoo_name,
            input_shape=d.input_shape,
            num_classes=d.num_classes,
            **self.model_args,
        )
        model.load_state_dict(self.init_state)
        return model

    def loader(self) -> DataLoader:
        transform = default_train_transform(self.dataset.name) if self.augment else None
        return DataLoader(
            self.dataset.x_train,
            self.dataset.y_train,
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            transform=transform,
        )


@dataclass
class RunResult:
    model: str
    engine: str
    status: str = "ok"  # "ok" | "skipped" | "failed"
    reason: str | None = None
    params: int = 0
    history: list[dict] = field(default_factory=list)
    iterations: list[dict] = field(default_factory=list)
    predictions: np.ndarray | None = None
    first_layer: np.ndarray | None = None  # (out, in) or (out, in, kh, kw), as PyTorch
    first_layer_key: str | None = None  # its name in ``weights``
    weights: dict | None = None  # arrays to save beside the results

    def summary(self, y_test: np.ndarray, num_classes: int) -> dict:
        """The JSON-friendly record that results.json stores for this run."""
        out = {
            "model": self.model,
            "engine": self.engine,
            "status": self.status,
            "reason": self.reason,
            "params": self.params,
        }
        if self.status != "ok":
            return out
        pred = self.predictions
        out.update(
            # the median epoch after the first (warm-up), its range, the first, the total
            **epoch_timing(self.history),
            final_test_accuracy=self.history[-1]["test_accuracy"],
            final_test_loss=self.history[-1]["test_loss"],
            # chosen on the validation split, never on the test set (None without one)
            **best_epoch(self.history),
            history=self.history,
            iterations=self.iterations,
            test_predictions=pred.tolist(),
            confusion_matrix=confusion_matrix(y_test, pred, num_classes).tolist(),
            per_class_errors=per_class_errors(y_test, pred, num_classes).tolist(),
            misclassified=misclassified(y_test, pred).tolist(),
            first_layer_shape=None if self.first_layer is None else list(self.first_layer.shape),
            first_layer_key=self.first_layer_key,
        )
        return out


def first_layer_weights(model: nn.Module) -> tuple[str | None, np.ndarray | None]:
    """(state_dict key, weight) of the first Conv2d or Linear in declaration order."""
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            return f"{name}.weight", m.weight.data.copy()
    return None, None


# ---------------------------------------------------------------------- glassnet
class _EpochEnd(Callback):
    """Hands each finished epoch (after its evaluation) to ``RunSpec.epoch_end``."""

    def __init__(self, fn):
        self.fn = fn

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        self.fn(epoch, logs)


def run_glassnet(spec: RunSpec) -> RunResult:
    model = spec.build_glassnet()
    hooks = [] if spec.epoch_end is None else [_EpochEnd(spec.epoch_end)]
    if spec.progress:  # named and cleared like the torch and sklearn engines' bars
        hooks.append(ProgressBar(desc=f"{spec.model} [glassnet]", leave=False))
    history = fit(
        model,
        spec.dataset,
        **spec.recipe(),
        progress=False,
        callbacks=hooks,
        time_budget=spec.time_budget,
    )
    result = evaluate(model, spec.dataset)
    key, first = first_layer_weights(model)
    return RunResult(
        spec.model,
        "glassnet",
        params=model.num_parameters(),
        history=history.epochs,
        iterations=history.iterations,
        predictions=result["predictions"],
        first_layer=first,
        first_layer_key=key,
        weights=dict(model.state_dict()),
    )


# ---------------------------------------------------------------------- PyTorch
class _TorchModel:
    """A torch.nn.Module seen as the glassnet Module that ``Trainer`` drives: numpy in,
    numpy logits out (a view of torch's output, whose graph it keeps for the loss), so
    that the torch engine runs the very loop glassnet's engine runs (logs, time budget,
    early stopping, divergence checks, evaluation). The loss and its backward stay
    PyTorch's (:class:`_TorchLoss`); the optimizer and scheduler are torch's own."""

    _input_grad = False  # torch computes no dL/d(batch) for an input without grad

    def __init__(self, module):
        self.module, self.output = module, None

    @property
    def training(self) -> bool:
        return self.module.training

    @training.setter
    def training(self, mode: bool) -> None:  # predict() restores the mode this way
        self.module.train(mode)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        xt = torch.from_numpy(np.ascontiguousarray(x))
        with torch.set_grad_enabled(is_grad_enabled()):
            self.output = self.module(xt)
        return self.output.detach().numpy()

    def backward(self, grad_out) -> None:  # _TorchLoss.backward already ran torch's
        return None

    def train(self, mode: bool = True):
        self.module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def modules(self):
        return [self]

    def set_input_grad(self, enabled: bool = True):
        return self

    def named_parameters(self):
        for name, p in self.module.named_parameters():
            yield name, SimpleNamespace(data=p.detach().numpy())


class _TorchLoss:
    """A torch loss seen as a glassnet loss: ``loss_fn(logits, y)`` is a float computed
    by torch on the model's last output (training) or on the given logits (evaluation);
    ``backward()`` runs torch's backward through the model."""

    def __init__(self, fn, model: _TorchModel):
        self.fn, self.model, self.loss = fn, model, None

    def __call__(self, logits: np.ndarray, y) -> float:
        import torch

        yt = torch.from_numpy(np.asarray(y))
        if is_grad_enabled() and self.model.training:
            self.loss = self.fn(self.model.output, yt)
            return float(self.loss.item())
        with torch.no_grad():
            return float(self.fn(torch.from_numpy(logits), yt))

    def backward(self, grad_out=None) -> None:
        self.loss.backward()
        self.loss = None


def run_torch(spec: RunSpec) -> RunResult:
    import torch

    from ..interop.torch import to_torch

    module = to_torch(spec.build_glassnet())
    model = _TorchModel(module)
    torch.manual_seed(spec.seed)
    loss_fn = _TorchLoss(torch.nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing), model)
    eval_loss_fn = _TorchLoss(torch.nn.CrossEntropyLoss(), model)  # val/test: no smoothing
    opt = make_optimizer(
        spec.optimizer,
        module.parameters(),
        spec.lr,
        spec.momentum,
        spec.weight_decay,
        spec.nesterov,
        library=torch.optim,
    )
    loader = spec.loader()
    hooks: list[Callback] = [_EpochEnd(_epoch_end(spec, "torch"))]
    if spec.time_budget is None:
        sched = make_scheduler(
            spec.scheduler, opt, spec.epochs, len(loader), spec.lr, library=torch.optim.lr_scheduler
        )
    else:  # glassnet's TimeBudget, moving torch's OneCycleLR when there is one
        sched, follows_time = time_budget_scheduler(
            spec.scheduler, opt, spec.lr, library=torch.optim.lr_scheduler
        )
        hooks.append(TimeBudget(spec.time_budget, scheduler=follows_time))
    _, _, val, test = _splits(spec.dataset)
    if spec.early_stopping:
        if val is None:
            raise ValueError(EARLY_STOPPING_NEEDS_VAL)
        hooks.append(EarlyStopping("val_loss", patience=spec.early_stopping))
    per_batch = isinstance(sched, torch.optim.lr_scheduler.OneCycleLR)
    trainer = Trainer(
        model,
        opt,
        loss_fn,
        sched,
        scheduler_interval="batch" if per_batch else "epoch",
        callbacks=hooks,
        log_interval=spec.log_interval,
        progress=False,
        eval_loss_fn=eval_loss_fn,
    )
    try:
        history = trainer.fit(loader, spec.epochs, val_data=val, test_data=test)
    except TrainingDivergedError as e:
        raise TrainingDivergedError(f"PyTorch: {e}") from None
    weights = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
    key = next((k for k, v in weights.items() if k.endswith("weight") and v.ndim in (2, 4)), None)
    return RunResult(
        spec.model,
        "torch",
        params=sum(p.numel() for p in module.parameters()),
        history=history.epochs,
        iterations=history.iterations,
        predictions=predict(model, spec.dataset.x_test).argmax(1),
        first_layer=None if key is None else weights[key],
        first_layer_key=key,
        weights=weights,
    )


# ---------------------------------------------------------------------- scikit-learn
def sklearn_alpha(weight_decay: float, batch_size: int) -> float:
    """MLPClassifier's ``alpha`` for a PyTorch-style ``weight_decay``: scikit-learn adds
    alpha * W to the batch's *summed* gradient and divides by the batch's size, while
    weight_decay * W is added to the mean gradient. Equal on full batches; an epoch's
    last, smaller batch is decayed batch_size / its size times more. Biases are not
    decayed there."""
    return weight_decay * batch_size


_SKLEARN_INTERRUPTED = "Training interrupted by user"  # MLPClassifier's warning on Ctrl-C


def run_sklearn(spec: RunSpec) -> RunResult:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss

    from ..interop.sklearn import NotAnMLPError, to_sklearn

    model = spec.build_glassnet()
    solvers = {"adam": "adam", "sgd": "sgd"}
    if spec.optimizer.lower() not in solvers:
        return RunResult(
            spec.model,
            "sklearn",
            status="skipped",
            reason=f"MLPClassifier has no {spec.optimizer} solver (only adam, sgd)",
        )
    try:
        clf = to_sklearn(
            model,
            solver=solvers[spec.optimizer.lower()],
            learning_rate_init=spec.lr,
            batch_size=spec.batch_size,
            alpha=sklearn_alpha(spec.weight_decay, spec.batch_size),
            momentum=spec.momentum,
            nesterovs_momentum=spec.nesterov,
            random_state=spec.seed,
            shuffle=True,
        )
    except NotAnMLPError as exc:
        return RunResult(spec.model, "sklearn", status="skipped", reason=f"not a plain MLP: {exc}")
    d = spec.dataset
    x_train = d.x_train.reshape(len(d.x_train), -1)
    x_test = d.x_test.reshape(len(d.x_test), -1)
    has_val = d.y_val is not None and len(d.y_val) > 0  # recorded, as the other engines do
    classes = np.arange(d.num_classes)
    history, iterations = [], []
    bar = _epoch_end(spec, "sklearn")
    for epoch in range(1, spec.epochs + 1):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # scikit-learn catches Ctrl-C itself, warns and returns a half-trained epoch;
            # the warning as an error stops the study, as the other engines do
            warnings.filterwarnings("error", _SKLEARN_INTERRUPTED, UserWarning)
            try:
                clf.partial_fit(x_train, d.y_train, classes=classes)
            except UserWarning as warning:  # (others may be errors under -W error)
                if str(warning).startswith(_SKLEARN_INTERRUPTED):
                    raise KeyboardInterrupt from None
                raise
        seconds = time.perf_counter() - started
        train_pred = clf.predict(x_train)
        logs = {
            "epoch": epoch,
            "train_loss": float(clf.loss_),
            "train_accuracy": float((train_pred == d.y_train).mean()),
            "lr": spec.lr,
            "seconds": seconds,
        }
        splits = [("val", d.x_val, d.y_val)] if has_val else []
        for split, x, y in [*splits, ("test", d.x_test, d.y_test)]:
            proba = clf.predict_proba(x.reshape(len(x), -1))
            logs[f"{split}_loss"] = float(log_loss(y, proba, labels=classes))
            logs[f"{split}_accuracy"] = float((proba.argmax(1) == y).mean())
        history.append(logs)
        iterations.append(
            {
                "step": epoch * -(-len(x_train) // spec.batch_size),
                "epoch": epoch,
                "examples_seen": epoch * len(x_train),
                "loss": float(clf.loss_),
            }
        )
        bar(epoch, history[-1])
    # stored as PyTorch's layout (out, in), so every engine's weights read the same way
    weights = {f"coefs_{i}": np.ascontiguousarray(w.T) for i, w in enumerate(clf.coefs_)}
    weights.update({f"intercepts_{i}": b for i, b in enumerate(clf.intercepts_)})
    params = sum(w.size for w in clf.coefs_) + sum(b.size for b in clf.intercepts_)
    return RunResult(
        spec.model,
        "sklearn",
        params=int(params),
        history=history,
        iterations=iterations,
        predictions=clf.predict(x_test),
        first_layer=weights["coefs_0"],
        first_layer_key="coefs_0",
        weights=weights,
    )


def _epoch_end(spec: RunSpec, engine: str):
    """What the torch and sklearn loops call after each epoch: the per-epoch tqdm bar
    (when progress is on), then ``spec.epoch_end``."""
    bar = None
    if spec.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.epochs, desc=f"{spec.model} [{engine}]", unit="epoch", leave=False)

    def update(epoch, logs):
        if bar is not None:
            bar.update(1)
            bar.set_postfix(test_acc=f"{logs['test_accuracy']:.4f}")
            if epoch == spec.epochs:
                bar.close()
        if spec.epoch_end is not None:
            spec.epoch_end(epoch, logs)

    return update


_RUNNERS = {"glassnet": run_glassnet, "torch": run_torch, "sklearn": run_sklearn}


def run_engine(engine: str, spec: RunSpec) -> RunResult:
    if engine not in _RUNNERS:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return _RUNNERS[engine](spec)


def seeded_model(name: str, dataset, seed: int, model_args: dict) -> tuple[str, nn.Module]:
    """The zoo model ``name`` for ``dataset``'s images and classes, its weights drawn
    from glassnet's generator seeded with ``seed``: the same initial weights wherever a
    run builds it (compare, train, a sweep's trial, a worker process). Returns the zoo
    name it resolved to and the model."""
    zoo_name = models.resolve(name, dataset.name)
    gn_random.manual_seed(seed)
    model = models.get(
        zoo_name,
        input_shape=dataset.input_shape,
        num_classes=dataset.num_classes,
        **model_args,
    )
    return zoo_name, model
