"""Callbacks: small objects the Trainer calls at fixed points of training.

Hooks (all optional): ``on_train_begin(trainer)``, ``on_epoch_begin(trainer, epoch)``,
``on_batch_end(trainer, step, logs)``, ``on_epoch_end(trainer, epoch, logs)``,
``on_train_end(trainer)``. ``logs`` is the dict the History records. A callback
stops training by setting ``trainer.stop_training = True``. Callbacks that carry
state across epochs implement ``state_dict``/``load_state_dict`` so resuming a run
resumes them too.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..io import save as save_model

__all__ = [
    "Callback",
    "EarlyStopping",
    "TimeBudget",
    "schedule_at_fraction",
    "ModelCheckpoint",
    "CSVLogger",
    "ProgressBar",
    "progress_enabled",
]


class Callback:
    def on_train_begin(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer, epoch: int) -> None: ...
    def on_batch_end(self, trainer, step: int, logs: dict) -> None: ...
    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...
    def on_train_end(self, trainer) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _improved(value, best, mode: str, min_delta: float) -> bool:
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _monitored(callback, logs: dict):
    """The value of ``callback.monitor`` in an epoch's logs (NaN counts as recorded: it
    just never improves); a KeyError naming what the run does record if it is absent."""
    value = logs.get(callback.monitor)
    if value is None:
        raise KeyError(
            f"{type(callback).__name__} monitors {callback.monitor!r}, which this run does "
            f"not record (it records {', '.join(k for k, v in logs.items() if v is not None)})"
        )
    return value


def _check_mode(monitor: str, mode: str) -> str:
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``restore_best_weights=True`` puts back the weights of the best epoch at the end.
    A run that stopped stays stopped when it is resumed with the same patience (a
    larger one lets it go on).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ):
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.mode = _check_mode(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_state = None

    def on_train_begin(self, trainer) -> None:
        if self.wait >= self.patience:  # restored from a checkpoint of a stopped run
            trainer.stop_training = True
        else:  # a fresh run, or a stopped one resumed with more patience
            self.stopped_epoch = None

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        value = _monitored(self, logs)
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self._best_state = trainer.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                trainer.stop_training = True

    def on_train_end(self, trainer) -> None:
        if self.restore_best_weights and self._best_state is not None:
            trainer.model.load_state_dict(self._best_state)

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_state": dict(self._best_state) if self._best_state is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_epoch = state.get("stopped_epoch")
        self._best_state = state.get("best_state")


def schedule_at_fraction(scheduler, fraction: float) -> None:
    """Move a per-step scheduler with ``total_steps`` (OneCycleLR, glassnet's or
    PyTorch's: both compute the lr of a step in closed form) to the step that lies
    ``fraction`` of the way through it: floor(fraction * total_steps), at most the
    last step. Sets the optimizer's lr (and momentum) for the next batch."""
    position = min(scheduler.total_steps - 1, max(0, int(fraction * scheduler.total_steps)))
    if position != scheduler.last_epoch:
        scheduler.last_epoch = position - 1
        scheduler.step()


def check_time_budget(seconds) -> float:
    """``seconds`` as a float, or a ValueError unless it is a positive, finite number."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"the time budget must be a positive number of seconds, got {seconds!r}")
    return value


class TimeBudget(Callback):
    """Stop training once the training loop has run for ``seconds``.

    The clock is :attr:`Trainer.train_seconds`: the training loop only, evaluation
    excluded, a resumed run's earlier epochs included. It is read after every batch;
    training stops after the batch that spends the budget (so it runs over by less
    than one step), and the epoch it was in is closed with the batches it ran: it is
    evaluated and logged like any other. ``epochs`` becomes an upper bound. A resumed
    run whose budget is already spent stops before its first batch.

    ``scheduler``: a per-step schedule (OneCycleLR) to drive by the share of the budget
    spent instead of by the step count. After each batch it is moved to the step

        floor(f * total_steps),   f = train_seconds / seconds

    so its warm-up and its anneal fill the budget however fast the machine runs, and
    ``total_steps`` is only the schedule's resolution (``fit`` uses
    ``TIME_BUDGET_STEPS``). Counting steps instead would need to know beforehand
    how many steps the budget buys. The Trainer must not also step it (pass it here,
    not as the Trainer's scheduler).
    """

    def __init__(self, seconds: float, scheduler=None):
        seconds = check_time_budget(seconds)
        if scheduler is not None and not hasattr(scheduler, "total_steps"):
            raise TypeError(
                f"TimeBudget drives a per-step schedule with total_steps (OneCycleLR), "
                f"not {type(scheduler).__name__}"
            )
        self.seconds = seconds
        self.scheduler = scheduler
        self.spent = 0.0  # train_seconds at the last check

    def fraction(self) -> float:
        """The share of the budget spent at the last check, at most 1."""
        return min(1.0, self.spent / self.seconds)

    def _check(self, trainer) -> None:
        self.spent = trainer.train_seconds
        if self.scheduler is not None:
            schedule_at_fraction(self.scheduler, self.fraction())
        if self.spent >= self.seconds:
            trainer.stop_training = True

    def on_train_begin(self, trainer) -> None:
        self._check(trainer)  # a resumed run continues the schedule where its time left it

    def on_batch_end(self, trainer, step, logs) -> None:
        self._check(trainer)


class ModelCheckpoint(Callback):
    """Keep ``last.safetensors`` (a full, resumable training checkpoint, written after
    every epoch) and ``best.safetensors`` (the model weights of the best epoch by
    ``monitor``; loadable with ``glassnet.load_state`` or by PyTorch) in ``directory``.

    ``every_seconds``: also write ``last.safetensors`` between batches once this long
    has passed since the last write, so that a run killed outright (SIGKILL, out of
    memory, a power cut: no Ctrl-C checkpoint) loses at most that much of a long epoch.
    The checkpoint is the one Ctrl-C writes: the run resumes at the next batch.
    """

    def __init__(
        self,
        directory,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best: bool = True,
        every_seconds: float | None = None,
    ):
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = _check_mode(monitor, mode)
        self.save_best = save_best
        self.every_seconds = every_seconds
        self.best: float | None = None
        self._saved_at = time.monotonic()

    def on_train_begin(self, trainer) -> None:
        self._saved_at = time.monotonic()

    def on_batch_end(self, trainer, step, logs) -> None:
        if self.every_seconds is not None and time.monotonic() - self._saved_at >= (
            self.every_seconds
        ):
            trainer.save_checkpoint(self.last_path)
            self._saved_at = time.monotonic()

    @property
    def last_path(self) -> Path:
        return self.directory / "last.safetensors"

    @property
    def best_path(self) -> Path:
        return self.directory / "best.safetensors"

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        value = logs.get(self.monitor)
        if self.save_best and _improved(value, self.best, self.mode, 0.0):
            self.best = float(value)
            save_model(
                trainer.model,
                self.best_path,
                {"epoch": epoch, "monitor": self.monitor, "value": value, **trainer.model_metadata},
            )
        trainer.save_checkpoint(self.last_path)
        self._saved_at = time.monotonic()
        if self.save_best:  # checked after the checkpoint: the epoch is not lost
            _monitored(self, logs)

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]


class CSVLogger(Callback):
    """Rewrite the per-epoch history as CSV after every epoch (atomically)."""

    def __init__(self, path):
        self.path = Path(path)

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        trainer.history.to_csv(self.path)


def progress_enabled(requested) -> bool:
    """Progress bars: off under CI or when stderr is not a terminal, unless forced."""
    if requested in (False, None):
        return False
    if requested == "always":
        return True
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return sys.stderr.isatty()


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss and accuracy."""

    def __init__(self, position: int = 0, leave: bool = True, desc: str = ""):
        self.position, self.leave, self.desc = position, leave, desc
        self._bar = None

    def on_epoch_begin(self, trainer, epoch) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is in the 'progress' extra
            return
        total = trainer.batches_per_epoch
        prefix = f"{self.desc} " if self.desc else ""
        self._bar = tqdm(
            total=total,
            desc=f"{prefix}epoch {epoch}/{trainer.epochs}",
            position=self.position,
            leave=self.leave,
            unit="batch",
            dynamic_ncols=True,
            initial=trainer.resume_batch,
        )

    def on_batch_end(self, trainer, step, logs) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if step % 10 == 0:
                self._bar.set_postfix(
                    loss=f"{logs['loss']:.4f}", acc=f"{logs['accuracy']:.3f}", refresh=False
                )

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        if self._bar is not None:
            shown = {  # short names, so that the bar keeps its width: loss, acc, val_acc, ...
                k.removeprefix("train_").replace("accuracy", "acc"): f"{v:.4f}"
                for k, v in logs.items()
                if k.endswith(("loss", "accuracy")) and isinstance(v, float) and np.isfinite(v)
            }
            self._bar.set_postfix(shown)
            self._bar.close()
            self._bar = None

    def on_train_end(self, trainer) -> None:
        if self._bar is not None:  # interrupted mid-epoch
            self._bar.close()
            self._bar = None
