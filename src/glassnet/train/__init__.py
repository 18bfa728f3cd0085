"""glassnet.train: the training loop, callbacks, metrics, history and checkpoints."""

from . import metrics
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ProgressBar,
    TimeBudget,
)
from .checkpoint import load_checkpoint, save_checkpoint
from .fit import fit, make_loss, make_optimizer, make_scheduler
from .history import History
from .trainer import Trainer, TrainingDivergedError, evaluate, predict
from .transfer import extract_features, freeze, replace_head, unfreeze

__all__ = [
    "fit",
    "evaluate",
    "predict",
    "Trainer",
    "History",
    "TrainingDivergedError",
    "Callback",
    "EarlyStopping",
    "TimeBudget",
    "ModelCheckpoint",
    "CSVLogger",
    "ProgressBar",
    "save_checkpoint",
    "load_checkpoint",
    "metrics",
    "make_optimizer",
    "make_scheduler",
    "make_loss",
    "freeze",
    "unfreeze",
    "extract_features",
    "replace_head",
]
