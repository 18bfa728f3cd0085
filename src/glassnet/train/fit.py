"""``fit``: train a model on a dataset in one call (the Keras-simple front door).

    import glassnet as gn
    data = gn.data.load("digits", val_size=0.1)
    model = gn.models.get("digits-cnn-pool-skip", seed=0)
    history = gn.train.fit(model, data, epochs=10, optimizer="adam", lr=1e-3)
    print(gn.train.evaluate(model, data)["accuracy"])

Everything ``fit`` builds (optimizer, scheduler, loader, callbacks) is an ordinary
object of glassnet.optim / glassnet.data / glassnet.train: when you need more
control, build them yourself and use :class:`~glassnet.train.Trainer`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .. import nn, optim
from .. import random as gn_random
from .._numbers import is_whole
from ..data import DataLoader, default_train_transform
from .callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, TimeBudget
from .history import History
from .trainer import Trainer, check_finite

__all__ = [
    "fit",
    "make_optimizer",
    "make_scheduler",
    "make_loss",
    "time_budget_scheduler",
    "refuse_epoch_counted",
    "warn_if_batch_exceeds",
    "SCHEDULERS",
    "LOSSES",
    "TIME_BUDGET_STEPS",
]

SCHEDULERS = ("none", "onecycle", "cosine", "step", "exponential", "plateau")
# with a time budget, 'onecycle' follows the share of the budget spent, at this resolution
TIME_BUDGET_STEPS = 10_000
LOSSES = ("cross_entropy", "nll", "mse")


def ignored_optimizer_settings(optimizer: str, momentum, nesterov) -> list[tuple[str, str]]:
    """``(setting, why)`` for each of momentum and nesterov that the optimizer named
    would ignore: momentum outside sgd and rmsprop (Adam's moments come from its
    betas), nesterov outside sgd."""
    name = optimizer.lower()
    found = []
    if momentum and name not in ("sgd", "rmsprop"):
        found.append(("momentum", f"momentum applies to sgd and rmsprop, not {name}"))
    if nesterov and name != "sgd":
        found.append(("nesterov", f"nesterov applies to sgd, not {name}"))
    return found


def make_optimizer(
    optimizer,
    params,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    library=optim,
):
    """An optimizer object, or one built by name ('sgd', 'adam', 'adamw', 'rmsprop').

    ``library`` is the module holding the classes: ``glassnet.optim`` by default, or
    ``torch.optim``, whose class names and arguments are the same; that is how
    ``glassnet compare`` gives PyTorch the identical recipe.
    """
    if not isinstance(optimizer, str):
        return optimizer
    classes = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}
    name = optimizer.lower()
    if name not in classes:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(classes)}")
    # said, not refused: a recipe saved with them must still resume (the CLI refuses
    # them as new flags: Recipe.ignored_settings)
    for setting, reason in ignored_optimizer_settings(name, momentum, nesterov):
        value = momentum if setting == "momentum" else nesterov
        warnings.warn(f"{setting}={value} is ignored by {name}: {reason}", stacklevel=2)
    kwargs = {"lr": lr, "weight_decay": weight_decay}
    if name in ("sgd", "rmsprop"):
        kwargs["momentum"] = momentum
    if name == "sgd":
        kwargs["nesterov"] = nesterov
    return getattr(library, classes[name])(params, **kwargs)


def make_scheduler(
    scheduler, optimizer, epochs: int, steps_per_epoch: int, lr: float, library=optim.lr_scheduler
):
    """A scheduler object, or one built by name (``library`` as in :func:`make_optimizer`,
    e.g. ``torch.optim.lr_scheduler``):

    * ``onecycle``: OneCycleLR up to ``lr`` and down over the whole run (per batch)
    * ``cosine``: CosineAnnealingLR over ``epochs``
    * ``step``: StepLR dividing the rate by 10 every third of the run
    * ``exponential``: ExponentialLR(gamma=0.9)
    * ``plateau``: ReduceLROnPlateau(factor 0.1, patience 2) on the validation loss
    """
    if scheduler is None or (isinstance(scheduler, str) and scheduler.lower() == "none"):
        return None
    if not isinstance(scheduler, str):
        return scheduler
    name = scheduler.lower().replace("-", "").replace("_", "")
    s = library
    if name == "onecycle":
        return s.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch)
    if name == "cosine":
        return s.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return s.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "exponential":
        return s.ExponentialLR(optimizer, gamma=0.9)
    if name == "plateau":
        return s.ReduceLROnPlateau(optimizer, factor=0.1, patience=2)
    raise ValueError(f"unknown scheduler {scheduler!r}; choose one of {', '.join(SCHEDULERS)}")


def refuse_epoch_counted(scheduler) -> None:
    """A ValueError for a schedule named by its length in epochs ('cosine', 'step',
    'exponential'), which a time budget leaves open."""
    if isinstance(scheduler, str) and scheduler.lower() in ("cosine", "step", "exponential"):
        raise ValueError(
            f"scheduler {scheduler!r} counts epochs, which a time budget leaves open: use "
            "'onecycle' (it follows the share of the budget spent), 'plateau' or none"
        )


def time_budget_scheduler(scheduler, optimizer, lr: float, library=optim.lr_scheduler):
    """``(loop_scheduler, time_schedule)`` for a run with a time budget.

    'onecycle' becomes a OneCycleLR of ``TIME_BUDGET_STEPS`` steps that the budget
    moves by the share of the time spent (``time_schedule``, for :class:`TimeBudget`;
    the loop must not step it). 'plateau' and none stay the loop's, as usual.
    'cosine', 'step' and 'exponential' count epochs, whose number a time budget leaves
    open: refused. A scheduler object is the loop's, as given.
    """
    if not isinstance(scheduler, str):
        return scheduler, None
    name = scheduler.lower().replace("-", "").replace("_", "")
    if name == "onecycle":
        return None, make_scheduler("onecycle", optimizer, 1, TIME_BUDGET_STEPS, lr, library)
    refuse_epoch_counted(scheduler)
    return make_scheduler(scheduler, optimizer, 1, 1, lr, library), None


def make_loss(loss, label_smoothing: float = 0.0):
    if not isinstance(loss, str):
        return loss
    key = loss.lower().replace("-", "_")
    if key in ("cross_entropy", "crossentropy", "ce"):
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if key == "nll":
        return nn.NLLLoss()
    if key == "mse":
        return nn.MSELoss()
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def _splits(data):
    """(x_train, y_train, val or None, test or None) from a Dataset or tuples."""
    if hasattr(data, "x_train"):
        val = (
            (data.x_val, data.y_val)
            if getattr(data, "x_val", None) is not None and len(data.x_val)
            else None
        )
        test = (
            (data.x_test, data.y_test)
            if getattr(data, "x_test", None) is not None and len(data.x_test)
            else None
        )
        return data.x_train, data.y_train, val, test
    if isinstance(data, (tuple, list)) and len(data) in (2, 4, 6):
        val = (data[2], data[3]) if len(data) >= 4 else None
        test = (data[4], data[5]) if len(data) == 6 else None
        return data[0], data[1], val, test
    raise TypeError(
        "fit expects a glassnet Dataset or a tuple (x_train, y_train[, x_val, y_val"
        f"[, x_test, y_test]]), got {type(data).__name__}"
    )


def _check_counts(epochs, early_stopping) -> None:
    """epochs: a whole number, at least 1; early_stopping: None, 0 (off) or a whole
    number of epochs of patience (a fraction or a negative number had trained one epoch
    short or stopped at once, without a word)."""
    if not is_whole(epochs) or epochs < 1:
        raise ValueError(f"fit: epochs must be a whole number, at least 1, got {epochs!r}")
    if early_stopping is not None and (not is_whole(early_stopping) or early_stopping < 0):
        raise ValueError(
            "fit: early_stopping is a patience in epochs, a whole number (0 or None: off), "
            f"got {early_stopping!r}"
        )


def warn_if_batch_exceeds(batch_size: int, n_train: int, epochs: int) -> None:
    """Warn when the batch is larger than the training set: every epoch is then a single
    step on the whole set, which trains little (a run with batch 100000 on 1,438 images
    made 2 steps and reported 10% without a word)."""
    if batch_size > n_train:
        warnings.warn(
            f"batch size {batch_size} is larger than the {n_train} training images: every "
            f"epoch is one step on the whole set (full-batch gradient descent), {epochs} "
            f"epoch(s) make {epochs} step(s) in all; a batch of 32 to 128 is usual",
            stacklevel=3,
        )


def _check_can_be_folder(path: Path, what: str) -> None:
    """NotADirectoryError when ``path`` or the nearest of its parents that exists is a
    file: the first checkpoint, an epoch later, would fail on it."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise NotADirectoryError(
                    f"{what} {path} cannot be a folder: {p} is a file"
                    if p != path
                    else f"{what} {path} is a file, not a folder"
                )
            return


EARLY_STOPPING_NEEDS_VAL = (
    "early_stopping needs a validation split (load(..., val_size=0.1); on the "
    "command line --val-size 0.1)"
)


def fit(
    model: nn.Module,
    data,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer="adam",
    lr: float = 1e-3,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    scheduler=None,
    loss="cross_entropy",
    label_smoothing: float = 0.0,
    augment=False,
    seed: int = 0,
    callbacks=(),
    early_stopping: int | None = None,
    checkpoint_dir=None,
    checkpoint_every: float | None = 300.0,
    resume=None,
    progress=True,
    log_interval: int = 10,
    eval_test: bool = True,
    eval_batch_size: int = 512,
    time_budget: float | None = None,
) -> History:
    """Train ``model`` on ``data`` and return its :class:`History`.

    data:            a ``glassnet.data.Dataset`` (uses its train, val and test splits) or
                     a tuple ``(x_train, y_train[, x_val, y_val[, x_test, y_test]])``;
                     targets are class indices (N,) or one-hot / probability rows
                     (N, C), whose accuracy is that of their most likely class. Images
                     holding NaN or inf are refused, naming the first.
    batch_size:      32 by default, as in Keras and in ``glassnet compare`` and ``train``:
                     small data (digits' 1,438 training images) gets 45 steps an epoch.
    optimizer:       'sgd' | 'adam' | 'adamw' | 'rmsprop' or an optimizer object.
    scheduler:       None | 'onecycle' | 'cosine' | 'step' | 'exponential' | 'plateau' or
                     a scheduler object (OneCycleLR steps per batch, others per epoch).
    augment:         False, True (the dataset's default: crop + flip for CIFAR-10) or a
                     transform ``f(x_batch, rng)``.
    seed:            seeds the batch order, augmentation and dropout.
    label_smoothing: of the training loss only; val and test losses are plain
                     cross-entropy, comparable between runs with and without it.
    early_stopping:  patience in epochs on the validation loss (needs a val split).
    checkpoint_dir:  keep ``last.safetensors`` (resumable) and ``best.safetensors`` there,
                     plus ``history.csv``; Ctrl-C saves ``last.safetensors`` and stops. A
                     folder that holds an earlier run's ``last.safetensors`` is refused
                     unless ``resume`` continues it.
    checkpoint_every: seconds; ``last.safetensors`` is also written between batches
                     this often (a killed run loses at most this much); None: per epoch.
    resume:          a checkpoint path (or True for ``checkpoint_dir/last.safetensors``)
                     to continue; ``epochs`` counts the resumed run's epochs too.
    eval_test:       also record test loss/accuracy every epoch (the learning curves).
    time_budget:     seconds of training (the loop only, evaluation excluded): training
                     stops after the batch that spends them, ``epochs`` being an upper
                     bound, and 'onecycle' spreads its warm-up and anneal over the
                     budget instead of over ``epochs`` (:class:`TimeBudget`).
    """
    _check_counts(epochs, early_stopping)
    x_train, y_train, val, test = _splits(data)
    if len(x_train) == 0:
        raise ValueError("fit: no training images (x_train is empty)")
    for name, x in (("x_train", x_train), ("x_val", val and val[0]), ("x_test", test and test[0])):
        if x is not None:
            check_finite(x, f"fit: {name}")
    warn_if_batch_exceeds(batch_size, len(x_train), epochs)
    gn_random.manual_seed(seed)
    transform = augment
    if augment is True:
        if not hasattr(data, "name"):
            raise ValueError(
                "augment=True uses the dataset's standard augmentation, which needs a glassnet "
                "Dataset; for arrays pass a transform, e.g. "
                "augment=glassnet.data.default_train_transform('cifar10')"
            )
        transform = default_train_transform(data.name)
        if transform is None:
            warnings.warn(
                f"augment=True: {data.name} has no standard augmentation (only cifar10's "
                "crop and flip); training without",
                stacklevel=2,
            )
    elif augment is False:
        transform = None
    loader = DataLoader(
        x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed, transform=transform
    )
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay, nesterov)
    all_callbacks = list(callbacks)
    follows_time = None  # the schedule a time budget drives
    if time_budget is None:
        sched = make_scheduler(scheduler, opt, epochs, len(loader), lr)
    else:
        sched, follows_time = time_budget_scheduler(scheduler, opt, lr)
        all_callbacks.append(TimeBudget(time_budget, scheduler=follows_time))
    if early_stopping:
        if val is None:
            raise ValueError(EARLY_STOPPING_NEEDS_VAL)
        all_callbacks.append(EarlyStopping("val_loss", patience=early_stopping))
    checkpoint_path = None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        _check_can_be_folder(checkpoint_dir, "checkpoint_dir")  # now, not after an epoch
        monitor = "val_accuracy" if val is not None else "train_accuracy"
        checkpoint = ModelCheckpoint(
            checkpoint_dir, monitor=monitor, every_seconds=checkpoint_every
        )
        all_callbacks += [checkpoint, CSVLogger(checkpoint_dir / "history.csv")]
        checkpoint_path = checkpoint.last_path
    if resume is True:
        if checkpoint_path is None:
            raise ValueError("resume=True needs checkpoint_dir")
        resume = checkpoint_path
    elif not resume and checkpoint_path is not None and checkpoint_path.exists():
        # as glassnet train refuses a run folder that holds a run: a new run here would
        # overwrite the earlier one's checkpoints
        raise FileExistsError(
            f"checkpoint_dir {checkpoint_dir} holds an earlier run ({checkpoint_path.name}): "
            "continue it with resume=True, or give another checkpoint_dir (or delete the files)"
        )
    trainer = Trainer(
        model,
        opt,
        make_loss(loss, label_smoothing),
        sched,
        eval_loss_fn=make_loss(loss) if label_smoothing else None,
        callbacks=all_callbacks,
        log_interval=log_interval,
        progress=progress,
    )
    trainer.checkpoint_path = checkpoint_path
    history = trainer.fit(
        loader,
        epochs,
        val_data=val,
        test_data=test if eval_test else None,
        resume=resume,
        eval_batch_size=eval_batch_size,
    )
    history.meta.update(
        optimizer=type(opt).__name__,
        lr=lr,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        scheduler=None if sched is None else type(sched).__name__,
    )
    if time_budget is not None:
        history.meta["time_budget"] = float(time_budget)
        if follows_time is not None:
            history.meta["scheduler"] = "OneCycleLR over the time budget"
    return history
