"""Datasets, mini-batch loading and augmentation.

- :func:`load` returns a :class:`Dataset` (``digits``, ``mnist``, ``fashion-mnist``,
  ``cifar10``) with float32 NCHW train/val/test arrays, normalised with training
  statistics; :func:`available` says where files are looked for and whether they
  are there; ``load("folder:PATH")`` and :class:`ImageFolder` read your own images
  (one sub-folder per class); :func:`verify` checks local files against their published MD5.
- :class:`DataLoader` yields seeded, resumable mini-batches.
- :mod:`~glassnet.data.transforms` holds the batch-wise augmentations.
- :mod:`~glassnet.data.formats` reads the canonical file formats;
  :mod:`~glassnet.data.download` fetches them.
"""

from __future__ import annotations

from .datasets import (
    NORMALIZATIONS,
    Dataset,
    DatasetInfo,
    available,
    canonical_name,
    load,
    normalization_name,
    verify,
)
from .download import ENV_VAR, DatasetNotFoundError, DownloadError, data_root
from .folder import ImageFolder
from .loader import DataLoader
from .transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    default_train_transform,
)

__all__ = [
    "load",
    "ImageFolder",
    "Dataset",
    "DatasetInfo",
    "available",
    "verify",
    "canonical_name",
    "NORMALIZATIONS",
    "normalization_name",
    "data_root",
    "ENV_VAR",
    "DatasetNotFoundError",
    "DownloadError",
    "DataLoader",
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "default_train_transform",
]
