"""CIFAR-10 to 94%: the fast recipe, ``glassnet train --recipe cifar10-94``.

Glassnet's own version of Keller Jordan's airbench94 (the network in
:mod:`glassnet.models.airbench`), trained by glassnet or, from the same first weights,
the same batches and the same schedule, by PyTorch (``engine="torch"``). Its pieces,
each a line or two below:

* **data**: 45,000 training images; 5,000 held out (stratified) for validation, on
  which the result is read (the test images here are only the first 1,000 of the
  10,000: both are reported). Each epoch shifts every image by up to 2 pixels (a crop
  of the reflect-padded image) and flips it left-right on alternate epochs (a random
  half first, then the other half, and so on: every image is seen both ways).
* **network**: :func:`glassnet.models.airbench.airbench` with GELU (``activation``;
  ReLU runs 5% faster a step).
* **loss**: cross-entropy with label smoothing 0.2 on the logits times 1/9, summed
  over the batch (not averaged), batch 1024.
* **optimizer**: SGD with Nesterov momentum 0.85. Airbench's learning rate 11.5 and
  weight decay 0.0153 are per 1024 images of a "kilostep"; with the summed loss they
  become lr = 11.5 / (1024 * (1 + 1 / (1 - 0.85))) and a decay applied as
  weight_decay / lr in SGD's terms. BatchNorm's shifts learn 64x faster (the bias
  scaler) with the decay scaled down to match.
* **schedule**: the learning rate rises from 0.2x to 1x over the first 23% of the
  steps, then falls linearly to 0.07x at the last.
* **whitening**: the first layer's filters are set from 5,000 training images before
  the first step and never trained; its bias learns for the first 3 epochs only.
* **lookahead**: from the fourth epoch on, every 5 steps the weights (and BatchNorm's
  running statistics) are pulled towards a slow average, w_slow <- w_slow + (1 - d)(w -
  w_slow), w <- w_slow, with d = 0.95^5 (step / total)^3 (weak early, strong late); the
  first such step starts the average. At the end of every epoch from then on the model
  becomes the slow average.
* **test-time augmentation** (TTA, level 2): the logits of the image and its mirror
  image, averaged with those of the two images shifted by one pixel diagonally (and
  their mirror images): 6 forward passes per image.

Training time counts the training loop (augmentation included) but not the
evaluation, as airbench counts it. ``epochs`` may be fractional (airbench: 9.9).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

from .. import data, io, models, nn, optim
from ..models.airbench import whitening_filters
from ..train.checkpoint import load_checkpoint, save_checkpoint

__all__ = [
    "RECIPES",
    "Recipe94",
    "run_recipe",
    "lr_factor",
    "lookahead_decay",
    "Augment",
    "tta_logits",
    "LOGIT_SCALE",
]

RECIPES = ("cifar10-94",)
LOGIT_SCALE = 1 / 9  # airbench's final Mul(1/9), applied in the loss


@dataclasses.dataclass
class Recipe94:
    """The recipe's settings (airbench94's values by default)."""

    epochs: float = 9.9
    batch_size: int = 1024
    lr: float = 11.5  # per kilostep (see the module docstring)
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    whiten_bias_epochs: int = 3
    whiten_images: int = 5000
    translate: int = 2
    lookahead_every: int = 5
    lookahead_epochs: int = 3  # epochs trained before the slow average starts
    tta_level: int = 2
    val_size: int = 5000
    train_size: int | None = None  # a smaller training set (tests, quick looks)
    seed: int = 0
    engine: str = "glassnet"
    data_dir: str | None = None
    activation: str = "gelu"  # the net's (glassnet.models.ACTIVATIONS), airbench94's

    def validate(self) -> Recipe94:
        if not (isinstance(self.epochs, (int, float)) and 0 < self.epochs <= 1000):
            raise ValueError(f"epochs must be a number in (0, 1000], got {self.epochs!r}")
        for name in ("batch_size", "whiten_images", "lookahead_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.tta_level not in (0, 1, 2):
            raise ValueError(f"tta_level must be 0, 1 or 2, got {self.tta_level!r}")
        if self.engine not in ("glassnet", "torch"):
            raise ValueError(f"engine must be 'glassnet' or 'torch', got {self.engine!r}")
        if self.val_size < 0:
            raise ValueError(f"val_size must be non-negative, got {self.val_size!r}")
        if self.activation not in models.ACTIVATIONS:
            names = ", ".join(models.ACTIVATIONS)
            raise ValueError(f"activation must be one of {names}, got {self.activation!r}")
        return self

    def to_dict(self) -> dict:
        return {"recipe": "cifar10-94", "dataset": "cifar10", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> Recipe94:
        names = {f.name for f in dataclasses.fields(cls)}
        d = {"activation": "relu", **d}  # runs saved before the knob (2026-12-07) used ReLU
        return cls(**{k: v for k, v in d.items() if k in names})

    def rates(self) -> dict:
        """SGD's learning rates and weight decays for the two parameter groups."""
        kilostep = 1024 * (1 + 1 / (1 - self.momentum))
        lr = self.lr / kilostep
        decay = self.weight_decay * self.batch_size / kilostep
        lr_bias = lr * self.bias_scaler
        return {"lr": lr, "wd": decay / lr, "lr_bias": lr_bias, "wd_bias": decay / lr_bias}


def lr_factor(step: int, total: int) -> float:
    """0.2 -> 1 over the first 23% of the steps, then linearly down to 0.07 at ``total``."""
    return float(np.interp(step, [0, int(0.23 * total), total], [0.2, 1.0, 0.07]))


def lookahead_decay(step: int, total: int) -> float:
    """How strongly the slow weights hold on at ``step``: 0.95^5 (step / total)^3."""
    return 0.95**5 * (step / total) ** 3


class Augment:
    """The training batches of each epoch: shifted by up to ``translate`` pixels (a crop
    of the reflect-padded image), flipped on alternate epochs, shuffled; the last
    incomplete batch is dropped. Epoch e's batches depend only on (seed, e), so a
    resumed run sees the batches it would have seen."""

    def __init__(self, images, labels, batch_size: int, translate: int, seed: int):
        self.images, self.labels = images, labels
        self.batch_size, self.translate, self.seed = batch_size, translate, seed
        t = translate
        self.padded = np.pad(images, ((0, 0), (0, 0), (t, t), (t, t)), mode="reflect")
        self.flip_first = np.random.default_rng([seed, 1 << 20]).random(len(images)) < 0.5

    def steps_per_epoch(self) -> int:
        return len(self.images) // self.batch_size

    def epoch(self, epoch: int) -> np.ndarray:
        """The whole epoch's augmented images, in the stored order."""
        rng = np.random.default_rng([self.seed, epoch])
        n, (h, w), t = len(self.images), self.images.shape[2:], self.translate
        out = np.empty_like(self.images)
        shifts = rng.integers(0, 2 * t + 1, size=(n, 2))
        code = shifts[:, 0] * (2 * t + 1) + shifts[:, 1]
        for c in np.unique(code):  # one gather per shift: (2t+1)^2 of them
            rows = np.flatnonzero(code == c)
            a, b = divmod(int(c), 2 * t + 1)
            out[rows] = self.padded[rows, :, a : a + h, b : b + w]
        flip = self.flip_first ^ bool(epoch % 2)
        out[flip] = out[flip, :, :, ::-1]
        return out

    def batches(self, epoch: int):
        images = self.epoch(epoch)
        order = np.random.default_rng([self.seed, epoch, 1]).permutation(len(images))
        b = self.batch_size
        for i in range(self.steps_per_epoch()):
            idx = order[i * b : (i + 1) * b]
            yield images[idx], self.labels[idx]


def tta_logits(predict, x: np.ndarray, level: int) -> np.ndarray:
    """Logits averaged over views: 0 the image; 1 with its mirror image; 2 also the two
    images shifted one pixel diagonally (reflect padding), each with its mirror."""

    def mirrored(v):
        return 0.5 * predict(v) + 0.5 * predict(np.ascontiguousarray(v[:, :, :, ::-1]))

    if level == 0:
        return predict(x)
    logits = mirrored(x)
    if level == 1:
        return logits
    h, w = x.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    views = [padded[:, :, :h, :w], padded[:, :, 2 : 2 + h, 2 : 2 + w]]
    shifted = np.mean([mirrored(np.ascontiguousarray(v)) for v in views], axis=0)
    return 0.5 * logits + 0.5 * shifted


# ----------------------------------------------------------------------------- engines
def _groups(named_params, is_norm_bias):
    """(BatchNorm shifts, the other trainable parameters) by name; the whitening
    weight, frozen from the start, is in neither."""
    norm, other = [], []
    for name, p in named_params:
        if p.requires_grad:
            (norm if is_norm_bias(name) else other).append(p)
    return norm, other


class _Glassnet:
    def __init__(self, model, recipe: Recipe94):
        self.model, r = model, recipe.rates()
        bn = {n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
        norm, other = _groups(model.named_parameters(), lambda n: n.rsplit(".", 1)[0] in bn)
        self.base = [r["lr_bias"], r["lr"]]
        self.opt = optim.SGD(
            [
                {"params": norm, "lr": r["lr_bias"], "weight_decay": r["wd_bias"]},
                {"params": other, "lr": r["lr"], "weight_decay": r["wd"]},
            ],
            lr=r["lr"],
            momentum=recipe.momentum,
            nesterov=True,
        )
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing, reduction="sum")
        self.slow = None  # the slow average, once lookahead starts

    def set_whiten_bias(self, trainable: bool) -> None:
        self.model.whiten.bias.requires_grad = trainable
        # nothing needs dL/dimage (PyTorch's input has no grad), and once nothing before
        # block 1 trains, its first conv skips dL/d(its input) too, as PyTorch's autograd
        # does by itself: ~4% of a step (the col2im at 31x31)
        self.model.set_input_grad(False)

    def step(self, x, y, factor: float) -> tuple[float, int]:
        for group, base in zip(self.opt.param_groups, self.base):
            group["lr"] = base * factor
        self.model.train()
        self.opt.zero_grad()
        logits = self.model(x)
        loss = self.loss_fn(logits * LOGIT_SCALE, y)
        self.model.backward(self.loss_fn.backward() * LOGIT_SCALE)
        self.opt.step()
        return float(loss), int((logits.argmax(1) == y).sum())

    def _live(self):
        yield from ((n, p.data) for n, p in self.model.named_parameters())
        yield from self.model.named_buffers()

    def lookahead(self, decay: float) -> None:
        """Pull the weights towards the slow average (the first call starts it)."""
        if self.slow is None:
            self.slow = {n: v.copy() for n, v in self._live() if v.dtype.kind == "f"}
            return
        for name, live in self._live():
            if live.dtype.kind == "f":
                slow = self.slow[name]
                slow += (1 - decay) * (live - slow)
                live[...] = slow

    def predict(self, x, batch: int = 500) -> np.ndarray:
        self.model.eval()
        with nn.no_grad():
            out = [self.model(x[i : i + batch]) for i in range(0, len(x), batch)]
        return np.concatenate(out).astype(np.float64)

    def final_model(self):
        return self.model

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "slow": None if self.slow is None else dict(self.slow),
        }

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        slow = state["slow"]
        self.slow = None if slow is None else {k: np.asarray(v) for k, v in slow.items()}


class _Torch:
    """The same steps in PyTorch, from the glassnet model's first weights."""

    def __init__(self, model, recipe: Recipe94):
        import torch

        from ..interop.torch import to_torch

        self.torch, self.model = torch, model
        self.net = to_torch(model)
        frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
        for n, p in self.net.named_parameters():
            p.requires_grad_(n not in frozen)
        r = recipe.rates()
        bn = {n for n, m in self.net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
        norm, other = _groups(self.net.named_parameters(), lambda n: n.rsplit(".", 1)[0] in bn)
        self.base = [r["lr_bias"], r["lr"]]
        self.opt = torch.optim.SGD(
            [
                {"params": norm, "lr": r["lr_bias"], "weight_decay": r["wd_bias"]},
                {"params": other, "lr": r["lr"], "weight_decay": r["wd"]},
            ],
            lr=r["lr"],
            momentum=recipe.momentum,
            nesterov=True,
        )
        self.loss_fn = torch.nn.CrossEntropyLoss(
            label_smoothing=recipe.label_smoothing, reduction="sum"
        )
        self.slow = None  # the slow average, once lookahead starts

    def set_whiten_bias(self, trainable: bool) -> None:
        self.net.whiten.bias.requires_grad_(trainable)

    def step(self, x, y, factor: float) -> tuple[float, int]:
        torch = self.torch
        for group, base in zip(self.opt.param_groups, self.base):
            group["lr"] = base * factor
        self.net.train()
        xb, yb = torch.from_numpy(x), torch.from_numpy(y)
        logits = self.net(xb)
        loss = self.loss_fn(logits * LOGIT_SCALE, yb)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach()), int((logits.detach().argmax(1) == yb).sum())

    def lookahead(self, decay: float) -> None:
        if self.slow is None:
            self.slow = {k: v.clone() for k, v in self.net.state_dict().items()}
            return
        with self.torch.no_grad():
            for name, live in self.net.state_dict().items():
                if live.is_floating_point():
                    self.slow[name].lerp_(live, 1 - decay)
                    live.copy_(self.slow[name])

    def predict(self, x, batch: int = 500) -> np.ndarray:
        self.net.eval()
        with self.torch.no_grad():
            out = [
                self.net(self.torch.from_numpy(x[i : i + batch])) for i in range(0, len(x), batch)
            ]
        return np.concatenate([o.numpy() for o in out]).astype(np.float64)

    def final_model(self):
        self.model.load_state_dict({k: v.numpy() for k, v in self.net.state_dict().items()})
        return self.model


# ----------------------------------------------------------------------------- the run
def _accuracy(logits, labels) -> float:
    return float((logits.argmax(1) == labels).mean()) if len(labels) else float("nan")


def _noise(p: float, n: int) -> float:
    """One standard error of an accuracy p measured on n images (binomial)."""
    return math.sqrt(p * (1 - p) / n) if n else float("nan")


def run_recipe(recipe: Recipe94, out, resume: bool = False, progress: bool = False, log=print):
    """Train the recipe into the folder ``out``; returns the metrics dict (also written
    to ``out/metrics.json``). The folder gets config.json, history.json (one row per
    epoch), last.safetensors after every epoch (glassnet engine: ``resume=True``
    continues from it) and model.safetensors (the final weights; ``glassnet evaluate``
    reads it)."""
    recipe.validate()
    out = Path(out)
    config = recipe.to_dict()
    if resume:
        if recipe.engine != "glassnet":
            raise ValueError("only glassnet-engine recipe runs keep checkpoints to resume")
        saved = io.read_json(out / "config.json")
        if saved != config:
            changed = sorted(k for k in config if saved.get(k) != config[k])
            raise ValueError(f"--resume continues the run's own recipe; it differs in {changed}")
        if not (out / "last.safetensors").exists():
            raise FileNotFoundError(f"nothing to resume: no last.safetensors in {out}")
    elif any(p.name != io.LOCK_NAME for p in out.glob("*")):  # nothing there if no folder
        raise FileExistsError(f"{out} already holds files; give another --out")

    ds = data.load(
        "cifar10",
        data_dir=recipe.data_dir,
        val_size=recipe.val_size,
        train_size=recipe.train_size,
        seed=recipe.seed,
    )
    x_train, y_train = ds.split("train")
    x_val, y_val = ds.split("val") if recipe.val_size else (x_train[:0], y_train[:0])
    x_test, y_test = ds.split("test")
    if len(x_train) < recipe.batch_size:
        raise ValueError(f"{len(x_train)} training images make no batch of {recipe.batch_size}")
    model = models.get("airbench", seed=recipe.seed, activation=recipe.activation)
    model.whiten.weight.data[...] = whitening_filters(x_train[: recipe.whiten_images])
    engine = (_Torch if recipe.engine == "torch" else _Glassnet)(model, recipe)
    augment = Augment(x_train, y_train, recipe.batch_size, recipe.translate, recipe.seed)
    per_epoch = augment.steps_per_epoch()
    total = math.ceil(recipe.epochs * per_epoch)
    epoch, step, train_seconds, history = 0, 0, 0.0, []
    if resume:
        state = load_checkpoint(out / "last.safetensors")
        engine.load_state(state["engine"])
        epoch, step = state["epoch"], state["step"]
        train_seconds, history = state["train_seconds"], state["history"]
        log(f"resuming at epoch {epoch + 1} (step {step} of {total})")
    else:
        io.write_json(out / "config.json", config)
        log(
            f"cifar10-94 ({recipe.engine}): {len(x_train):,} training images, {len(x_val):,} "
            f"validation, {len(x_test):,} test; {total} steps of {recipe.batch_size} "
            f"({recipe.epochs:g} epochs)"
        )

    while step < total:
        engine.set_whiten_bias(epoch < recipe.whiten_bias_epochs)
        start, losses, correct, seen = time.perf_counter(), 0.0, 0, 0
        for x, y in augment.batches(epoch):
            loss, right = engine.step(x, y, lr_factor(step, total))
            if not math.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss} at step {step + 1}")
            losses, correct, seen, step = losses + loss, correct + right, seen + len(y), step + 1
            if epoch >= recipe.lookahead_epochs and step % recipe.lookahead_every == 0:
                engine.lookahead(lookahead_decay(step, total))  # the first call starts it
            if progress:
                print(f"\r  epoch {epoch + 1}: step {step}/{total}", end="", file=sys.stderr)
            if step >= total:
                break
        if engine.slow is not None:
            engine.lookahead(1.0)  # each epoch ends with the model as the slow average
        train_seconds += time.perf_counter() - start
        if progress:
            print("\r" + " " * 40 + "\r", end="", file=sys.stderr)
        epoch += 1
        row = {
            "epoch": epoch,
            "train_loss": losses / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "val_accuracy": _accuracy(engine.predict(x_val), y_val) if len(x_val) else None,
            "train_seconds": train_seconds,
        }
        history.append(row)
        val = "" if row["val_accuracy"] is None else f", val {row['val_accuracy'] * 100:.2f}%"
        log(
            f"epoch {epoch}: loss {row['train_loss']:.4f}, train {row['train_accuracy'] * 100:.2f}%"
            f"{val} (no TTA), {train_seconds:.0f} s training so far"
        )
        if recipe.engine == "glassnet":
            save_checkpoint(
                out / "last.safetensors",
                {
                    "engine": engine.state(),
                    "epoch": epoch,
                    "step": step,
                    "train_seconds": train_seconds,
                    "history": history,
                },
            )

    start = time.perf_counter()
    metrics = {
        "recipe": "cifar10-94",
        "engine": recipe.engine,
        "epochs": recipe.epochs,
        "steps": total,
        "train_seconds": train_seconds,
    }
    for split, x, y in (("val", x_val, y_val), ("test", x_test, y_test)):
        if len(x):
            plain = _accuracy(engine.predict(x), y)
            tta = _accuracy(tta_logits(engine.predict, x, recipe.tta_level), y)
            metrics.update(
                {
                    f"{split}_accuracy": tta,
                    f"{split}_accuracy_no_tta": plain,
                    f"{split}_images": len(x),
                    f"{split}_noise": _noise(tta, len(x)),
                }
            )
    metrics["eval_seconds"] = time.perf_counter() - start
    metrics["machine"] = io.machine_info()
    io.save(engine.final_model(), out / "model.safetensors")
    io.write_json(out / "history.json", history)
    io.write_json(out / "metrics.json", metrics)
    (out / "last.safetensors").unlink(missing_ok=True)
    return metrics
