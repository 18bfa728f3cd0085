"""The training loop: ``Trainer`` (PyTorch-style) and ``fit`` / ``evaluate`` (Keras-simple).

One step is the five lines every framework runs::

    logits = model(xb)                      # forward (caches for backward)
    loss = loss_fn(logits, yb)
    optimizer.zero_grad()
    model.backward(loss_fn.backward())      # fills every p.grad
    optimizer.step()

Around it the Trainer keeps a History (per-epoch train/val/test loss and accuracy,
learning rate and seconds; the loss every ``log_interval`` batches), steps the
learning-rate scheduler (per batch for OneCycleLR, else per epoch), runs callbacks,
and makes runs *resumable*: a checkpoint holds model, optimizer, scheduler, data
order, RNG states, history and callback state, so 4 epochs straight and 2 + resume 2
give bit-identical weights. Ctrl-C finishes the current batch, saves a checkpoint
(when the run has a checkpoint directory) and raises KeyboardInterrupt. A NaN or
infinite loss, or one that has grown DIVERGENCE_FACTOR times past the run's first
(:func:`loss_exploded`), stops training with :class:`TrainingDivergedError` naming the
epoch and batch, before the bad step touches the weights or the last good checkpoint;
a float overflow inside a step (NumPy's ``RuntimeWarning: overflow``) stops it too,
with the same kind of message instead of NumPy's warning.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from pathlib import Path

import numpy as np

from .. import nn
from .. import random as gn_random
from .._numbers import is_whole
from ..kernels import allocator
from ..optim import lr_scheduler as sched
from .callbacks import Callback, ProgressBar, progress_enabled
from .checkpoint import load_checkpoint, save_checkpoint
from .history import History
from .metrics import confusion_matrix, misclassified, per_class_errors

__all__ = [
    "Trainer",
    "TrainingDivergedError",
    "evaluate",
    "predict",
    "loss_exploded",
    "DIVERGENCE_FACTOR",
]


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN, infinite or exploded; the message names the epoch and batch."""


# A loss this many times the run's first (or 1, if that was smaller) has exploded: a
# learning curve that rises 10,000-fold never comes back to a useful model (a run at lr
# 1e9 reported 40% accuracy at loss 2.6e9, as if it had trained)
DIVERGENCE_FACTOR = 1e4


def loss_exploded(loss: float, reference: float | None, factor: float | None = DIVERGENCE_FACTOR):
    """Whether ``loss`` is NaN or infinite, or above ``factor`` times ``reference`` (the
    run's first loss; 1 if that was smaller, so a loss near 0 sets no hair trigger).
    ``factor=None`` checks finiteness only."""
    if not math.isfinite(loss):
        return True
    if factor is None or reference is None or not math.isfinite(reference):
        return False
    return loss > factor * max(abs(reference), 1.0)


def divergence_message(loss: float, reference: float | None, where: str) -> str:
    """'the loss became nan at ...' or 'the loss rose to 2.6e+09 at ..., 10000 times ...'"""
    if not math.isfinite(loss):
        return f"the loss became {loss} at {where}"
    return (
        f"the loss rose to {loss:.3g} at {where}, over {DIVERGENCE_FACTOR:.0f} times the "
        f"first batch's {reference:.3g}"
    )


class Trainer:
    """Train ``model`` with ``optimizer`` on batches from a DataLoader.

    ``scheduler_interval``: ``"batch"``, ``"epoch"`` or ``"auto"`` (batch for OneCycleLR).
    ``ReduceLROnPlateau`` is stepped with the validation loss (the training loss when
    there is no validation split). ``divergence_factor``: stop when the loss exceeds this
    many times the run's first batch's loss (None: only at a NaN or infinite loss).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer,
        loss_fn=None,
        scheduler=None,
        scheduler_interval: str = "auto",
        callbacks=(),
        log_interval: int = 10,
        progress=True,
        model_metadata: dict | None = None,
        eval_loss_fn=None,
        divergence_factor: float | None = DIVERGENCE_FACTOR,
    ):
        if scheduler_interval not in ("auto", "batch", "epoch"):
            raise ValueError(
                f"scheduler_interval must be auto/batch/epoch, got {scheduler_interval!r}"
            )
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        # the loss reported for the val/test splits (fit: cross-entropy without label
        # smoothing, which only shapes the training objective); default: loss_fn
        self.eval_loss_fn = eval_loss_fn if eval_loss_fn is not None else self.loss_fn
        self.scheduler = scheduler
        if scheduler_interval == "auto":
            scheduler_interval = "batch" if isinstance(scheduler, sched.OneCycleLR) else "epoch"
        if scheduler_interval == "batch" and _steps_on_a_metric(scheduler):
            raise ValueError(
                "ReduceLROnPlateau steps once per epoch, on the validation (or training) "
                "loss: use scheduler_interval='epoch' or 'auto'"
            )
        self.scheduler_interval = scheduler_interval
        self.callbacks: list[Callback] = list(callbacks)
        if progress_enabled(progress):
            self.callbacks.append(ProgressBar())
        self.log_interval = max(1, int(log_interval))
        self.divergence_factor = divergence_factor
        self.first_loss: float | None = None  # the run's first batch's (saved on resume)
        self.model_metadata = dict(model_metadata or getattr(model, "zoo_spec", None) or {})
        self.history = History()
        self.epoch = 0  # completed epochs
        self.step = 0  # completed optimisation steps
        self.epochs = 0
        self.stop_training = False
        self.interrupted = False
        self.checkpoint_path: Path | None = None
        self.loader = None
        self.batches_per_epoch = 0
        self.resume_batch = 0
        self._acc = _Accumulator()

    @property
    def train_seconds(self) -> float:
        """Seconds spent in the training loop so far: every finished epoch (a resumed
        run's included) plus the current one up to its last batch; evaluation and the
        callbacks' epoch-end work are not counted."""
        return sum(e["seconds"] for e in self.history.epochs) + self._acc.seconds

    # ------------------------------------------------------------------ the loop
    def fit(
        self,
        train_loader,
        epochs: int,
        val_data=None,
        test_data=None,
        resume=None,
        eval_batch_size: int = 512,
    ) -> History:
        """Train until ``epochs`` epochs are complete (counting those of a resumed run)."""
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        self.loader, self.epochs = train_loader, int(epochs)
        self.batches_per_epoch = len(train_loader)
        if resume is not None:
            self.load_checkpoint(resume)
        self.stop_training = False
        allocator.keep_freed_memory_unless_disabled()  # reuse each step's temporaries
        for cb in self.callbacks:
            cb.on_train_begin(self)
        interrupt = _DeferredInterrupt()
        # nobody needs dL/d(batch): the first layers skip computing it, as in PyTorch
        input_grad = self.model._input_grad
        self.model.set_input_grad(False)
        try:
            with interrupt:
                while self.epoch < self.epochs and not self.stop_training:
                    self._run_epoch(val_data, test_data, eval_batch_size, interrupt)
                interrupt.check()  # a Ctrl-C during the last evaluation
        except KeyboardInterrupt:
            self.interrupted = True
            # only at a clean point between batches: an interrupt that stopped a step
            # half-way (a second Ctrl-C) keeps the last checkpoint of a finished epoch
            if self.checkpoint_path is not None and interrupt.at_clean_point:
                self.save_checkpoint(self.checkpoint_path)
            raise
        finally:
            self.model.set_input_grad(input_grad)
            for cb in self.callbacks:
                cb.on_train_end(self)
        return self.history

    def _run_epoch(self, val_data, test_data, eval_batch_size, interrupt) -> None:
        epoch = self.epoch + 1
        self.resume_batch = self._acc.batches
        for cb in self.callbacks:
            cb.on_epoch_begin(self, epoch)
        self.model.train()
        started = time.perf_counter() - self._acc.seconds
        # (a run interrupted after its last batch resumes straight into the epoch's end)
        if self._acc.batches < self.batches_per_epoch:
            for xb, yb in self.loader:
                self._train_step(xb, yb, epoch, started)
                interrupt.check()
                # a callback may stop inside an epoch (TimeBudget does, as Keras's
                # stop_training): the epoch is closed with the batches it ran
                if self.stop_training:
                    break
        # a finite loss can still leave inf/NaN weights after the last step of the epoch:
        # stop before they are evaluated and checkpointed
        bad = [n for n, p in self.model.named_parameters() if not np.isfinite(p.data).all()]
        if bad:
            raise TrainingDivergedError(
                f"the weights became non-finite ({', '.join(bad[:3])}) at epoch {epoch}, "
                f"batch {self._acc.batches} (step {self.step}). Try a smaller learning rate"
                + self._last_good_note()
            )
        logs = {
            "epoch": epoch,
            "train_loss": self._acc.loss(),
            "train_accuracy": self._acc.accuracy(),
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "seconds": self._acc.seconds,  # the training loop only, not evaluation
        }
        for prefix, data in (("val", val_data), ("test", test_data)):
            if data is not None:
                result = evaluate(
                    self.model,
                    data,
                    batch_size=eval_batch_size,
                    loss_fn=self.eval_loss_fn,
                    details=False,
                )
                logs[f"{prefix}_loss"] = result["loss"]
                logs[f"{prefix}_accuracy"] = result["accuracy"]
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if _steps_on_a_metric(self.scheduler):
                self.scheduler.step(logs.get("val_loss", logs["train_loss"]))
            else:
                self.scheduler.step()
        self.history.log_epoch(**logs)
        self.epoch = epoch
        self._acc = _Accumulator()
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)

    def _train_step(self, xb, yb, epoch: int, started: float) -> None:
        batch = self._acc.batches + 1
        overflow = _Overflow()
        # a float overflow (or the NaN of inf - inf) is divergence on its way: said as such
        # below, not as NumPy's RuntimeWarning with a source path (layers that overflow by
        # design, as the sigmoid's exp, silence it themselves)
        with np.errstate(over="call", invalid="call", call=overflow):
            logits = self.model(xb)
            loss = self.loss_fn(logits, yb)
            if self.first_loss is None and math.isfinite(loss):
                self.first_loss = float(loss)
            if loss_exploded(loss, self.first_loss, self.divergence_factor):
                raise TrainingDivergedError(
                    divergence_message(loss, self.first_loss, self._where(epoch, batch))
                    + "; the weights were not updated. Try a smaller learning rate"
                    + self._last_good_note()
                )
            self.optimizer.zero_grad()
            self.model.backward(self.loss_fn.backward())
            self.optimizer.step()
        if overflow.what:
            raise TrainingDivergedError(
                f"the step left float{8 * np.dtype(np.asarray(logits).dtype).itemsize}'s range "
                f"({overflow.what}) at {self._where(epoch, batch)} (loss {loss:.3g}): the "
                "weights may hold inf or NaN. Try a smaller learning rate" + self._last_good_note()
            )
        if self.scheduler is not None and self.scheduler_interval == "batch":
            self.scheduler.step()
        self.step += 1
        correct = int((np.asarray(logits).argmax(axis=1) == class_labels(yb)).sum())
        self._acc.add(loss, correct, len(yb))
        self._acc.seconds = time.perf_counter() - started  # before callbacks checkpoint it
        logs = {"loss": loss, "accuracy": correct / len(yb), "epoch": epoch, "batch": batch}
        if self.step % self.log_interval == 0:
            self.history.log_iteration(
                step=self.step,
                epoch=epoch,
                examples_seen=self._acc.examples_total(self),
                loss=loss,
                accuracy=correct / len(yb),
            )
        for cb in self.callbacks:
            cb.on_batch_end(self, self.step, logs)

    def _where(self, epoch: int, batch: int) -> str:
        return f"epoch {epoch}, batch {batch} (step {self.step + 1})"

    def _last_good_note(self) -> str:
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            return f"; the last good checkpoint is {self.checkpoint_path}"
        return ""

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "model": dict(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_class": type(self.optimizer).__name__,
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "loader": None if self.loader is None else self.loader.state_dict(),
            "rng": gn_random.get_rng_state(),
            "history": self.history.to_dict(),
            "accumulator": vars(self._acc).copy(),
            # by class name, so a resumed run may add or drop callbacks
            "callbacks": [[type(cb).__name__, cb.state_dict()] for cb in self.callbacks],
            "model_metadata": self.model_metadata,
            "first_loss": self.first_loss,
        }

    def save_checkpoint(self, path) -> Path:
        return save_checkpoint(path, self.state_dict())

    def load_checkpoint(self, path_or_state) -> None:
        state = path_or_state if isinstance(path_or_state, dict) else load_checkpoint(path_or_state)
        saved_class = state.get("optimizer_class")  # absent in checkpoints before 2026-11-23
        if saved_class is not None and saved_class != type(self.optimizer).__name__:
            raise ValueError(
                f"the checkpoint was trained with {saved_class}, this run builds "
                f"{type(self.optimizer).__name__}: resume with the optimizer the run was "
                f"started with (its hyperparameters come from the checkpoint)"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if (state["scheduler"] is None) != (self.scheduler is None):
            raise ValueError("the checkpoint and this run disagree on using a scheduler")
        if self.scheduler is not None:
            _check_same_plan(self.scheduler.state_dict(), state["scheduler"])
            self.scheduler.load_state_dict(state["scheduler"])
        if state["loader"] is not None and self.loader is not None:
            self.loader.load_state_dict(state["loader"])
        gn_random.set_rng_state(state["rng"])
        self.history = History.from_dict(state["history"])
        self._acc = _Accumulator(**state["accumulator"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        # absent from older checkpoints: the next batch's loss is then the reference
        self.first_loss = state.get("first_loss")
        saved: dict[str, list] = {}
        for name, cb_state in state["callbacks"]:
            saved.setdefault(name, []).append(cb_state)
        for cb in self.callbacks:  # the n-th callback of a class gets the n-th saved state
            queue = saved.get(type(cb).__name__)
            cb_state = queue.pop(0) if queue else None
            if cb_state:
                cb.load_state_dict(cb_state)


# the scheduler settings that depend on the run's length (OneCycleLR, CosineAnnealingLR, the
# 'step' schedule of fit): a checkpoint continues its own plan, it cannot stretch it
_PLAN_KEYS = ("total_steps", "T_max", "step_size")


def _steps_on_a_metric(scheduler) -> bool:
    """ReduceLROnPlateau, glassnet's or PyTorch's (the same name and ``step(metric)``;
    ``glassnet compare`` drives torch models with this Trainer)."""
    return isinstance(scheduler, sched.ReduceLROnPlateau) or (
        type(scheduler).__name__ == "ReduceLROnPlateau"
    )


def _check_same_plan(current: dict, saved: dict) -> None:
    for key in _PLAN_KEYS:
        if key in current and key in saved and current[key] != saved[key]:
            raise ValueError(
                f"the checkpoint's learning-rate schedule was planned with {key}={saved[key]}, "
                f"this run's with {key}={current[key]}: resume with the epochs (and batch size) "
                "the run was started with; a schedule tied to the run's length cannot be extended"
            )


class _Overflow:
    """NumPy's error callback (``np.errstate(over="call", call=...)``): keeps the first
    kind ("overflow encountered", "invalid value encountered") instead of printing a
    warning."""

    def __init__(self):
        self.what = ""

    def __call__(self, kind: str, flag: int) -> None:
        self.what = self.what or f"{kind} encountered"


class _Accumulator:
    """Running sums of the current epoch (saved in checkpoints for mid-epoch resume)."""

    def __init__(self, loss_sum=0.0, correct=0, seen=0, batches=0, seconds=0.0):
        self.loss_sum, self.correct, self.seen = float(loss_sum), int(correct), int(seen)
        self.batches, self.seconds = int(batches), float(seconds)

    def add(self, loss: float, correct: int, n: int) -> None:
        self.loss_sum += loss * n
        self.correct += correct
        self.seen += n
        self.batches += 1

    def loss(self) -> float:
        return self.loss_sum / self.seen if self.seen else float("nan")

    def accuracy(self) -> float:
        return self.correct / self.seen if self.seen else float("nan")

    def examples_total(self, trainer) -> int:
        return trainer.epoch * trainer.loader.num_samples + self.seen


class _DeferredInterrupt:
    """Turn Ctrl-C into a flag checked after each batch, so an interrupt never leaves a
    half-done step; ``check()`` then raises KeyboardInterrupt at a clean point."""

    def __init__(self):
        self.requested = False
        self.at_clean_point = False  # the KeyboardInterrupt came from check()
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop at once, wherever we are
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            self.requested = False
            self.at_clean_point = True
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


# ---------------------------------------------------------------------- evaluation
_SPLITS = ("train", "val", "test")


def class_labels(y) -> np.ndarray:
    """Class indices of targets: y itself for indices (N,), the most likely class of
    one-hot or probability targets (N, C), as Keras's categorical accuracy reads them."""
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y


def check_finite(x, name: str) -> None:
    """ValueError naming the first sample of ``x`` that holds NaN or inf: such a value
    would surface later as a NaN loss blamed on the learning rate, or as a meaningless
    accuracy. Scanned in chunks of ~4M values, so no full-size temporary is made."""
    x = np.asarray(x)
    if x.dtype.kind not in "fc" or x.size == 0:
        return
    flat = x.reshape(len(x), -1) if x.ndim else x.reshape(1, 1)
    step = max(1, (1 << 22) // max(1, flat.shape[1]))
    for start in range(0, len(flat), step):
        ok = np.isfinite(flat[start : start + step]).all(axis=1)
        if not ok.all():
            i = start + int(np.argmin(ok))
            raise ValueError(f"{name} holds NaN or inf (first at sample {i}); clean or drop it")


def _split_arrays(data, split: str):
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return np.asarray(data[0]), np.asarray(data[1])
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, _SPLITS))}, got {split!r}")
    if hasattr(data, f"x_{split}"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x is None or len(x) == 0:
            raise ValueError(f"the dataset has no {split!r} split")
        return x, y
    raise TypeError(
        "evaluate expects a Dataset (with x_test/y_test ...) or an (x, y) pair, "
        f"got {type(data).__name__}"
    )


def predict(model: nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits for ``x`` in evaluation mode, batch by batch. Every submodule's mode is
    restored afterwards (``model.train(flag)`` would also switch a BatchNorm the user
    had frozen in eval mode back to training)."""
    if not is_whole(batch_size):
        raise TypeError(f"batch_size must be an integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with nn.no_grad():
            starts = range(0, len(x), batch_size) if len(x) else [0]  # empty x: (0, classes)
            outs = [model(x[i : i + batch_size]) for i in starts]
    finally:
        for m, training in modes:
            object.__setattr__(m, "training", training)  # as Module.train sets it
    return np.concatenate(outs)


def evaluate(
    model: nn.Module,
    data,
    split: str = "test",
    batch_size: int = 512,
    loss_fn=None,
    details: bool = True,
) -> dict:
    """Loss and accuracy of ``model`` on a split of a Dataset (or on an ``(x, y)`` pair).

    With ``details`` the result also holds ``predictions``, ``logits``,
    ``confusion_matrix``, ``per_class_errors`` and ``misclassified`` (indices).
    """
    x, y = _split_arrays(data, split)
    if len(x) == 0:
        raise ValueError("evaluate: the data holds no images")
    check_finite(x, f"evaluate: x_{split}" if hasattr(data, "x_train") else "evaluate: x")
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    logits = predict(model, x, batch_size)
    with nn.no_grad():
        loss = loss_fn(logits, y)
    pred = logits.argmax(axis=1)
    y = class_labels(y)  # one-hot or probability targets: their most likely class
    result = {"loss": float(loss), "accuracy": float((pred == y).mean()), "n": int(len(y))}
    if details:
        k = logits.shape[1]
        result.update(
            predictions=pred,
            logits=logits,
            confusion_matrix=confusion_matrix(y, pred, k),
            per_class_errors=per_class_errors(y, pred, k),
            misclassified=misclassified(y, pred),
        )
    return result
