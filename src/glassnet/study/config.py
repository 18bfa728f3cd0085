"""Run configurations: the training recipe shared by ``compare`` and ``train``.

A config is a plain dataclass; ``to_dict`` is what a run folder's ``config.json``
holds, and ``from_dict`` reads it back, so any run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import data, models
from .. import random as gn_random
from ..data.datasets import INPUT_SHAPES
from ..nn import Parameter
from ..train.callbacks import check_time_budget
from ..train.fit import (
    EARLY_STOPPING_NEEDS_VAL,
    SCHEDULERS,
    ignored_optimizer_settings,
    make_optimizer,
    refuse_epoch_counted,
)
from .engines import ENGINES

__all__ = ["Recipe", "CompareConfig", "TrainConfig", "DEFAULT_MODELS"]

DEFAULT_MODELS = ("baseline", "cnn", "cnn-pool", "cnn-pool-skip")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


def _check_type(config, name: str, kinds: tuple, what: str) -> None:
    """A clear ValueError for a setting of the wrong type (e.g. ``epochs = "3"`` in a TOML
    file), instead of a TypeError deep inside training."""
    value = getattr(config, name)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _check_names(config, name: str) -> None:
    value = getattr(config, name)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'{name} must be a list of names, e.g. ["baseline", "cnn"], got {value!r}')


@dataclass
class Recipe:
    """Data and training recipe (every field has the default a bare command uses)."""

    dataset: str = "digits"
    epochs: int = 10
    # one default for compare, train and fit (it was 32 for compare, 64 for the others):
    # Keras's, and on small data (digits' 1,438 training images) 45 steps an epoch
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
    train_size: float | int | None = None
    # 10% of the training images, stratified, held out to choose the best epoch on:
    # nothing is ever chosen on the test set (0: no split, and no best epoch)
    val_size: float | int = 0.1
    data_dir: str | None = None
    normalization: str = "standard"  # none | unit | standard (see glassnet.data.load)
    model_args: dict = field(default_factory=dict)  # zoo knobs, e.g. {"hidden": 64}

    def ignored_settings(self) -> list[str]:
        """Settings this recipe would ignore: momentum or nesterov with an optimizer
        that has none, augment on a dataset without a standard augmentation. The CLI
        refuses them as new flags; a saved recipe holding them still runs (``fit``
        warns)."""
        found = [
            why
            for _, why in ignored_optimizer_settings(self.optimizer, self.momentum, self.nesterov)
        ]
        if self.augment and data.default_train_transform(self.dataset) is None:
            found.append(
                f"augment: {self.dataset} has no standard augmentation (only cifar10's crop "
                "and flip; a flip would turn digits into other shapes)"
            )
        return found

    def validate(self):
        for name in ("epochs", "batch_size", "seed"):
            _check_type(self, name, (numbers.Integral,), "an integer")
        for name in ("lr", "momentum", "weight_decay", "label_smoothing"):
            _check_type(self, name, (numbers.Real,), "a number")
        for name in ("nesterov", "augment"):
            _check_type(self, name, (bool,), "true or false")
        _check_type(self, "dataset", (str,), "a dataset name")
        _check_type(self, "optimizer", (str,), "an optimizer name")
        _check_type(self, "scheduler", (str, type(None)), "a scheduler name")
        _check_type(self, "train_size", (numbers.Real, type(None)), "a count or a fraction")
        _check_type(self, "val_size", (numbers.Real,), "a count or a fraction")
        _check_type(self, "data_dir", (str, type(None)), "a folder")
        _check_type(self, "normalization", (str,), "none, unit or standard")
        data.normalization_name(self.normalization)  # a ValueError naming the choices
        check_model_args(self.model_args)
        data.canonical_name(self.dataset)  # a ValueError naming the dataset
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        for name in ("momentum", "weight_decay"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ValueError(
                    f"{name.replace('_', ' ')} must be a number >= 0, got {getattr(self, name)}"
                )
        if self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {OPTIMIZERS}")
        if self.scheduler is not None and self.scheduler.lower() not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; choose from {SCHEDULERS}")
        # the optimizer's own checks (nesterov without momentum, ...) now, not after the
        # data has loaded and the run folder exists; its warnings come when fit builds it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_optimizer(
                self.optimizer,
                [Parameter(np.zeros(1, dtype=np.float32))],
                self.lr,
                self.momentum,
                self.weight_decay,
                self.nesterov,
            )
        if not 0 <= self.label_smoothing <= 1:
            raise ValueError(f"label smoothing must be in [0, 1], got {self.label_smoothing}")
        return self

    def load_dataset(self, download: bool = True):
        """The dataset this recipe trains on, split and normalised as configured."""
        return data.load(
            self.dataset,
            data_dir=self.data_dir,
            download=download,
            val_size=self.val_size,
            train_size=self.train_size,
            seed=self.seed,
            normalize=self.normalization,
        )

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def keys(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class CompareConfig(Recipe):
    """``glassnet compare``: several models, each trained by several engines."""

    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    engines: list[str] = field(default_factory=lambda: list(ENGINES))

    def validate(self):
        super().validate()
        _check_names(self, "models")
        _check_names(self, "engines")
        if not self.models:
            raise ValueError("no models given")
        for name in self.models:
            _check_model_fits(name, self.dataset, self.model_args)
        bad = [e for e in self.engines if e not in ENGINES]
        if bad or not self.engines:
            raise ValueError(f"unknown engine(s) {bad}; choose from {', '.join(ENGINES)}")
        return self


@dataclass
class TrainConfig(Recipe):
    """``glassnet train``: one model on one engine, checkpointed and resumable."""

    model: str = "digits-cnn-pool-skip"
    engine: str = "glassnet"
    early_stopping: int | None = None
    log_interval: int = 10
    time_budget: float | None = None  # seconds of training; epochs is then an upper bound

    def validate(self):
        super().validate()
        _check_type(self, "time_budget", (numbers.Real, type(None)), "a number of seconds")
        if self.time_budget is not None:
            check_time_budget(self.time_budget)
            refuse_epoch_counted(self.scheduler)
        _check_type(self, "model", (str,), "a model name")
        _check_type(self, "engine", (str,), "an engine name")
        _check_type(self, "early_stopping", (numbers.Integral, type(None)), "a patience in epochs")
        _check_type(self, "log_interval", (numbers.Integral,), "an integer")
        _check_model_fits(self.model, self.dataset, self.model_args)
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ValueError(
                f"early stopping's patience must be at least 1 epoch, got {self.early_stopping}"
            )
        if self.early_stopping and not self.val_size:  # before any folder is made
            raise ValueError(EARLY_STOPPING_NEEDS_VAL)
        if self.log_interval < 1:
            raise ValueError(f"log interval must be at least 1 batch, got {self.log_interval}")
        if self.engine not in ("glassnet", "torch"):
            raise ValueError(
                f"train runs the 'glassnet' or 'torch' engine, got {self.engine!r}"
                " (scikit-learn models are trained by compare)"
            )
        return self


def check_model_args(model_args) -> None:
    """``model_args`` is a table of zoo knobs: names to numbers, names or lists."""
    if not isinstance(model_args, dict) or not all(isinstance(k, str) for k in model_args):
        raise ValueError(
            f'model_args must be a table of knobs, e.g. {{"hidden": 64}}, got {model_args!r}'
        )


def _check_model_fits(name: str, dataset: str, model_args: dict | None = None) -> None:
    """Build the model (with its knobs) for the dataset's image shape now, so that a model
    that cannot take those images, or a knob it lacks, fails before anything is trained
    or written."""
    key = models.resolve(name, dataset)  # a ValueError naming the model
    if data.canonical_name(dataset) not in INPUT_SHAPES:
        return  # a folder of images: its shape is known once read (the model is built then)
    shape = INPUT_SHAPES[data.canonical_name(dataset)]
    state = gn_random.get_rng_state()  # building draws weights: leave the generator as it was
    try:
        models.get(key, input_shape=shape, **(model_args or {}))
    except (ValueError, TypeError) as exc:
        if model_args:  # a knob the model lacks, a width that is no number, ...
            knobs = ", ".join(f"{k}={v!r}" for k, v in model_args.items())
            raise ValueError(f"model {name!r} with {knobs}: {exc}") from None
        raise ValueError(
            f"model {name!r} cannot take {dataset} images of shape {shape}: {exc}"
        ) from None
    finally:
        gn_random.set_rng_state(state)
