"""The transfer study: a pretrained network moved to a new dataset with few labels.

For each number of training images per class, three ways to get a classifier for the
target dataset are trained on the same images and compared on the same test set:

* ``scratch``   the architecture with fresh random weights, all of it trained;
* ``head``      the pretrained network frozen: features are extracted once at
                ``layer`` (default: the input of its last Linear) and a new linear
                classifier is trained on them -- the classic "features from a network
                trained elsewhere" recipe;
* ``finetune``  the pretrained network with a new head, everything trained, the body
                with a smaller learning rate (``lr * body_lr_scale``).

Every run keeps the weights of its best epoch on the *validation* split (held out of
the target's training images, the same for every size); the test set is looked at
once per run, at that epoch. ``run_transfer`` returns the rows of the table
(mode, images per class, validation and test accuracy, epochs) that
``glassnet transfer`` prints and writes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .. import data as gn_data
from .. import models, nn, optim
from ..train.callbacks import Callback
from ..train.fit import fit
from ..train.trainer import evaluate
from ..train.transfer import extract_features, head_name, replace_head

__all__ = ["TransferConfig", "run_transfer", "transfer_table", "MODES"]

MODES = ("scratch", "head", "finetune")


@dataclass
class TransferConfig:
    dataset: str = "fashion-mnist"
    per_class: tuple = (10, 50, 500)
    modes: tuple = MODES
    layer: str | None = None  # features for 'head': default the last Linear's input
    steps: int = 300  # optimizer steps per run (epochs = steps / batches per epoch)
    batch_size: int = 32
    lr: float = 1e-3
    body_lr_scale: float = 0.1
    val_size: int = 1000
    seed: int = 0
    data_dir: str | None = None

    def validate(self) -> TransferConfig:
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"unknown mode(s) {bad}; choose from {', '.join(MODES)}")
        if not self.per_class or any(
            not isinstance(n, (int, np.integer)) or n < 1 for n in self.per_class
        ):
            raise ValueError(f"per_class must be positive counts, got {self.per_class!r}")
        for name in ("steps", "batch_size", "val_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 < self.body_lr_scale <= 1:
            raise ValueError(f"body_lr_scale must be in (0, 1], got {self.body_lr_scale}")
        gn_data.canonical_name(self.dataset)
        return self


class _KeepBest(Callback):
    """Keeps the state of the epoch with the best validation accuracy (in memory)."""

    def __init__(self, model):
        self.model, self.best, self.state, self.epoch = model, -1.0, None, 0

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        if logs["val_accuracy"] > self.best:
            self.best, self.epoch = logs["val_accuracy"], epoch
            self.state = self.model.state_dict()


def _train(model, train, val, cfg: TransferConfig, optimizer) -> tuple[float, int]:
    """Train with best-epoch selection on ``val``; the best weights are loaded back."""
    batch_size = min(cfg.batch_size, len(train[0]))  # a tiny set: full batches, on purpose
    batches = math.ceil(len(train[0]) / batch_size)
    epochs = max(1, math.ceil(cfg.steps / batches))
    keep = _KeepBest(model)
    fit(
        model,
        (*train, *val),
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=cfg.lr,
        seed=cfg.seed,
        callbacks=[keep],
        progress=False,
        eval_test=False,
    )
    model.load_state_dict(keep.state)
    return keep.best, keep.epoch


def _subset(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` images of each class (fewer where a class has fewer),
    drawn from ``seed``; nested: the 50 of a class hold its 10."""
    rng = np.random.default_rng([seed, 3])
    order = rng.permutation(len(y))
    keep = []
    for c in np.unique(y):
        keep.append(order[y[order] == c][:per_class])
    return np.sort(np.concatenate(keep))


def run_transfer(
    pretrained: nn.Module,
    cfg: TransferConfig,
    log=print,
    progress: bool = True,
    input_stats=None,
    dataset=None,
) -> dict:
    """The table of :mod:`glassnet.study.transfer` for ``pretrained`` (a glassnet model
    with its trained weights, e.g. from ``glassnet.study.train_run.load_model``).

    ``input_stats``: ``(mean, std)`` per channel (on the [0, 1] scale) that the
    pretrained network's inputs were normalised with -- its source dataset's
    (``glassnet.data.load("mnist").mean``), or ImageNet's for torchvision's weights.
    The target's images are then normalised the same way (for every mode), so the
    first layer sees what it was trained on; by default the target's own statistics.
    ``dataset``: a :class:`glassnet.data.Dataset` to use in place of loading
    ``cfg.dataset`` (e.g. a subset of a dataset's classes; it needs a validation split).
    Returns ``{"rows": [...], "dataset": ..., "layer": ..., "notes": [...]}``."""
    cfg.validate()
    if dataset is None:
        dataset = gn_data.load(
            cfg.dataset, data_dir=cfg.data_dir, val_size=cfg.val_size, seed=cfg.seed
        )
    elif not len(dataset.y_val):
        raise ValueError("run_transfer: the dataset needs a validation split (val_size > 0)")
    if input_stats is not None:
        _renormalise(dataset, *input_stats)
    spec = getattr(pretrained, "zoo_spec", None) or {}
    model_shape = tuple(spec.get("input_shape") or dataset.input_shape)
    if tuple(dataset.input_shape) != model_shape:
        raise ValueError(
            f"the pretrained model takes {model_shape} inputs, {dataset.name} has "
            f"{dataset.input_shape}: pick a dataset (or folder size) of that shape"
        )
    classes = dataset.num_classes
    head = head_name(pretrained)
    layer = cfg.layer
    if layer is None:  # the input of the last Linear: the module run just before it
        names = [n for n, m in pretrained.named_modules() if n and not m._modules]
        layer = names[names.index(head) - 1]
    log(
        f"{dataset!r}\npretrained {spec.get('model', type(pretrained).__name__)}: "
        f"head {head!r}, features at {layer!r}"
    )
    val = (dataset.x_val, dataset.y_val)
    test = (dataset.x_test, dataset.y_test)
    feats = {}
    if "head" in cfg.modes:
        feats = {
            split: extract_features(pretrained, x, layer, progress=progress)
            for split, x in (("train", dataset.x_train), ("val", val[0]), ("test", test[0]))
        }
        log(f"features: {feats['train'].shape[1]} per image at {layer!r}")
    rows = []
    for n in cfg.per_class:
        pick = _subset(dataset.y_train, n, cfg.seed)
        train = (dataset.x_train[pick], dataset.y_train[pick])
        for mode in cfg.modes:
            if mode == "head":
                clf = nn.Linear(feats["train"].shape[1], classes)
                best_val, epoch = _train(
                    clf, (feats["train"][pick], train[1]), (feats["val"], val[1]), cfg, "adam"
                )
                test_acc = evaluate(clf, (feats["test"], test[1]), details=False)["accuracy"]
            else:
                model = _fresh(pretrained, spec, classes, cfg.seed, keep_weights=mode == "finetune")
                if mode == "finetune":
                    head_params = {id(p) for p in _module(model, head).parameters()}
                    body = [p for p in model.parameters() if id(p) not in head_params]
                    groups = [
                        {"params": body, "lr": cfg.lr * cfg.body_lr_scale},
                        {"params": list(_module(model, head).parameters())},
                    ]
                    opt = optim.Adam(groups, lr=cfg.lr)
                else:
                    opt = "adam"
                best_val, epoch = _train(model, train, val, cfg, opt)
                test_acc = evaluate(model, test, details=False)["accuracy"]
            row = {
                "mode": mode,
                "per_class": int(n),
                "train_images": int(len(pick)),
                "val_accuracy": float(best_val),
                "test_accuracy": float(test_acc),
                "best_epoch": int(epoch),
            }
            rows.append(row)
            log(
                f"  {n:>5} per class  {mode:<9} val {best_val * 100:6.2f}%  "
                f"test {test_acc * 100:6.2f}%  (best epoch {epoch})"
            )
    notes = [
        "best epoch chosen on the validation split; test accuracy read once, at that epoch",
        f"validation: {len(val[1])} images held out of {dataset.name}'s training split",
    ] + list(dataset.notes)
    if input_stats is not None:
        notes.append(
            "images normalised with the pretrained network's input statistics "
            f"(mean {np.round(dataset.mean, 4).tolist()}, std {np.round(dataset.std, 4).tolist()})"
        )
    return {
        "pretrained": spec.get("model", type(pretrained).__name__),
        "dataset": dataset.name,
        "layer": layer,
        "head": head,
        "config": asdict(cfg),
        "rows": rows,
        "notes": notes,
    }


def _renormalise(dataset, mean, std) -> None:
    """The dataset's images normalised with ``mean``/``std`` in place of its own."""
    c = len(dataset.mean)
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), (c,))
    std = np.broadcast_to(np.asarray(std, dtype=np.float64), (c,))
    if not (std > 0).all():
        raise ValueError(f"input_stats: the standard deviations must be positive, got {std}")
    # x_own = (x01 - m_own) / s_own  ->  x = (x01 - mean) / std = x_own * a + b
    a = (np.asarray(dataset.std) / std).astype(np.float32).reshape(1, -1, 1, 1)
    b = ((np.asarray(dataset.mean) - mean) / std).astype(np.float32).reshape(1, -1, 1, 1)
    for split in ("train", "val", "test"):
        x = getattr(dataset, f"x_{split}")
        setattr(dataset, f"x_{split}", x * a + b)
    dataset.mean, dataset.std = mean.copy(), std.copy()


def _module(model: nn.Module, name: str) -> nn.Module:
    return dict(model.named_modules())[name]


def _fresh(pretrained, spec, classes, seed, keep_weights: bool) -> nn.Module:
    """A copy of the pretrained architecture with a new head; its weights copied
    (``keep_weights``) or freshly drawn from ``seed``."""
    if not spec:
        raise ValueError("run_transfer needs a zoo model (its zoo_spec says how to rebuild it)")
    model = models.get(
        spec["model"],
        input_shape=spec["input_shape"],
        num_classes=spec["num_classes"],
        seed=seed,
        **spec.get("options", {}),
    )
    if keep_weights:
        model.load_state_dict(pretrained.state_dict())
    replace_head(model, classes, seed=seed + 1)
    return model


def transfer_table(result: dict) -> str:
    """Markdown table: one row per training size, test accuracy of each mode."""
    modes = list(dict.fromkeys(r["mode"] for r in result["rows"]))
    sizes = list(dict.fromkeys(r["per_class"] for r in result["rows"]))
    acc = {(r["mode"], r["per_class"]): r["test_accuracy"] for r in result["rows"]}
    lines = [
        "| images per class | " + " | ".join(modes) + " |",
        "|---:|" + "---:|" * len(modes),
    ]
    for n in sizes:
        cells = [f"{acc[(m, n)] * 100:.1f}%" if (m, n) in acc else "-" for m in modes]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
