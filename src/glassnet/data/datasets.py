"""The four datasets, their splits and their normalisation: ``glassnet.data.load``.

    >>> from glassnet.data import load
    >>> ds = load("mnist", val_size=5000)          # doctest: +SKIP
    >>> ds                                         # doctest: +SKIP
    Dataset('mnist', train=55000, val=5000, test=10000, input_shape=(1, 28, 28), classes=10)

What ``load`` does, step by step:

1. Read the raw uint8 images (N, C, H, W) and int64 labels of the official train
   and test splits: ``digits`` from scikit-learn (8x8, values 0-16), the others
   from their canonical files (see :mod:`glassnet.data.formats`), downloaded when
   missing (see :mod:`glassnet.data.download`).
2. ``digits`` has no official split: its test set is a stratified 20% drawn with a
   *fixed* seed (0), the same whatever ``seed`` you pass, so test figures from
   different runs are comparable.
3. ``val_size`` carves a stratified validation set out of the training split, then
   ``train_size`` keeps a stratified subsample of what remains. Both are drawn
   from ``seed`` (independent streams: the validation set does not change when
   you change ``train_size``). Stratified means every class keeps its share, to
   within one image. Kept images stay in file order; shuffling is the loader's job.
4. Pixels are scaled to [0, 1] (divided by 16 for digits, 255 otherwise). With
   ``normalize="standard"`` (the default, also ``True``) each channel is then shifted
   and scaled by the mean and std of the final *training* images only (never val or
   test: that would leak), the same numbers applied to every split.
   ``normalize="unit"`` (also ``False``) stops at [0, 1]; ``normalize="none"`` keeps
   the raw pixel values (0-255, digits 0-16) as float32.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._numbers import is_whole
from . import formats
from .download import (
    CIFAR_BATCHES,
    IDX_STEMS,
    REMOTE_FILES,
    DatasetNotFoundError,
    data_root,
    extracted_cifar10,
    find_idx,
    locate_cifar10,
    locate_idx_files,
    md5sum,
)
from .folder import is_folder_spec, parse_folder_spec

__all__ = [
    "Dataset",
    "DatasetInfo",
    "load",
    "available",
    "verify",
    "canonical_name",
    "NORMALIZATIONS",
    "normalization_name",
]

_DIGITS = [str(i) for i in range(10)]
CLASSES = {
    "digits": _DIGITS,
    "mnist": _DIGITS,
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"],
}  # fmt: skip
INPUT_SHAPES = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}
SCALE = {"digits": 16, "mnist": 255, "fashion-mnist": 255, "cifar10": 255}
ALIASES = {
    "digits": ("digits", "sklearn-digits", "load_digits"),
    "mnist": ("mnist",),
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "fashionmnist", "fmnist", "fashion"),
    "cifar10": ("cifar10", "cifar-10", "cifar_10", "cifar"),
}
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0
_OFFICIAL_TEST_SIZE = {"mnist": 10000, "fashion-mnist": 10000, "cifar10": 10000}


def canonical_name(name: str) -> str:
    """``"fashion_mnist"`` -> ``"fashion-mnist"``; ValueError listing the names if unknown.
    A folder of the user's images, ``"folder:PATH[?options]"``, is its own name."""
    if is_folder_spec(name):
        parse_folder_spec(name)  # a ValueError for a bad option
        return name.strip()
    if isinstance(name, str) and "?" in name:  # "mnist?classes=0-4": some of its classes
        base, query = (part.strip() for part in name.split("?", 1))
        base = canonical_name(base)
        picked = _class_subset(base, query)
        return f"{base}?classes={','.join(map(str, picked))}"
    key = str(name).strip().lower()
    for canonical, aliases in ALIASES.items():
        if key in aliases:
            return canonical
    raise ValueError(
        f"unknown dataset {name!r}; choose one of {sorted(ALIASES)} or folder:PATH "
        "(your own images, one sub-folder per class)"
    )


def _class_subset(base: str, query: str) -> list[int]:
    """The class indices of ``classes=0-4`` / ``classes=0,1,8,9`` / ``classes=ship,truck``
    (names as in ``CLASSES``), in the order given; a ValueError naming what is wrong."""
    key, sep, value = query.partition("=")
    if key.strip().lower() != "classes" or not sep or not value.strip():
        raise ValueError(
            f"{base}?{query}: the one option of a dataset is classes=, e.g. "
            f"{base}?classes=0-4 or {base}?classes={CLASSES[base][0]},{CLASSES[base][1]}"
        )
    names = [str(c).lower() for c in CLASSES[base]]
    picked: list[int] = []
    for item in (p.strip() for p in value.split(",")):
        low, dash, high = item.partition("-")
        if item.lower() in names:
            picked.append(names.index(item.lower()))
        elif item.isdigit():
            picked.append(int(item))
        elif dash and low.strip().isdigit() and high.strip().isdigit():
            picked += range(int(low), int(high) + 1)
        else:
            raise ValueError(
                f"{base}?{query}: {item!r} is not a class of {base} (an index 0-"
                f"{len(names) - 1}, a range such as 0-4, or a name: {', '.join(CLASSES[base])})"
            )
    bad = [i for i in picked if not 0 <= i < len(names)]
    if bad or len(set(picked)) != len(picked) or len(picked) < 2:
        raise ValueError(
            f"{base}?{query}: pick at least two different classes among 0-{len(names) - 1}"
        )
    return picked


# ----------------------------------------------------------------------- the result


class Dataset:
    """Train/val/test arrays of one dataset, ready for a model.

    ``x_*`` are float32 NCHW, ``y_*`` int64 class indices. ``mean``/``std``
    (float32, one per channel, in [0, 1] pixel units) are what was subtracted and
    divided; with ``normalize=False`` they are 0 and 1. The uint8 pixels are kept
    for pictures: :meth:`images`. ``notes`` lists anything unusual (a truncated
    test set, ...).
    """

    def __init__(self, name, splits, raw, classes, mean, std, scale, source, notes=()):
        self.name = name
        self.x_train, self.y_train = splits["train"]
        self.x_val, self.y_val = splits["val"]
        self.x_test, self.y_test = splits["test"]
        self._raw = raw  # uint8 NCHW per split, read-only: images() hands out views
        for array in raw.values():
            array.flags.writeable = False
        self.classes = list(classes)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.scale = scale
        self.source = source
        self.notes = list(notes)

    input_shape = property(lambda self: tuple(self.x_train.shape[1:]))
    num_classes = property(lambda self: len(self.classes))
    n_train = property(lambda self: len(self.y_train))
    n_val = property(lambda self: len(self.y_val))
    n_test = property(lambda self: len(self.y_test))

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        if which not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {which!r}")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")

    def images(self, which: str = "test", layout: str = "NHWC") -> np.ndarray:
        """The split's pixels as uint8 0-255 for display (digits' 0-16 are stretched).

        ``layout="NHWC"`` (what image libraries want; grey images keep C=1) or
        ``"NCHW"``. Row i is the image of ``x_<which>[i]``, un-normalised exactly.
        """
        self.split(which)
        raw = self._raw[which]
        if self.scale != 255:
            raw = np.round(raw.astype(np.float32) * (255 / self.scale)).astype(np.uint8)
        if layout == "NHWC":
            return raw.transpose(0, 2, 3, 1)
        if layout == "NCHW":
            return raw
        raise ValueError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        """Undo the normalisation: NCHW floats back to [0, 1] pixel units."""
        shape = (1, -1, 1, 1)
        return (x * self.std.reshape(shape) + self.mean.reshape(shape)).astype(np.float32)

    def __repr__(self):
        return (
            f"Dataset({self.name!r}, train={self.n_train}, val={self.n_val}, "
            f"test={self.n_test}, input_shape={self.input_shape}, classes={self.num_classes})"
        )


# ---------------------------------------------------------------------- splitting


def stratified_pick(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask choosing ``n`` items of ``y``, each class in proportion.

    Class c with ``count_c`` items gets ``floor(n * count_c / N)`` picks; the
    leftover picks go to the classes with the largest remainders (ties broken at
    random), so every class is within one of its exact share. Which items of a
    class are picked is uniformly random. Vectorised: no loop over items.
    """
    _, y_idx = np.unique(y, return_inverse=True)
    counts = np.bincount(y_idx)
    quota, remainder = np.divmod(counts * n, len(y))
    short = n - int(quota.sum())
    if short:
        order = np.lexsort((rng.random(len(counts)), -remainder))
        quota[order[:short]] += 1
    # rank of each item within its class, in a random order
    perm = rng.permutation(len(y))
    grouped = perm[np.argsort(y_idx[perm], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(y), dtype=np.int64)
    rank[grouped] = np.arange(len(y)) - np.repeat(starts, counts)
    return rank < quota[y_idx]


def _is_number(value) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number))


def _count(value, n: int, what: str, max_fraction_ok: bool) -> int:
    """A fraction (float) or count (int) of ``n`` items as a count; clear errors otherwise."""
    if not _is_number(value):
        raise TypeError(f"{what} must be a fraction in (0, 1) or a count, got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not (0 < value < 1 or (max_fraction_ok and value == 1)):
            raise ValueError(f"{what} as a fraction must be in (0, 1), got {value}")
        count = int(round(value * n))
        if count == 0:
            raise ValueError(f"{what}={value} of {n} images rounds to 0 images")
        return count
    return int(value)


def _val_count(val_size, n: int) -> int:
    """Validation images to hold out of ``n``: 0 (default), a fraction or a count < n."""
    if _is_number(val_size) and val_size == 0:
        return 0
    count = _count(val_size, n, "val_size", max_fraction_ok=False)
    if not 1 <= count < n:
        raise ValueError(f"val_size={val_size} must leave training images: 1..{n - 1} of {n}")
    return count


def _train_count(train_size, n: int) -> int:
    """Training images to keep of ``n``: None (all), a fraction in (0, 1] or a count <= n."""
    if train_size is None:
        return n
    count = _count(train_size, n, "train_size", max_fraction_ok=True)
    if not 1 <= count <= n:
        raise ValueError(
            f"train_size={train_size} must be 1..{n}: only {n} training images remain"
            " after the validation split"
        )
    return count


# --------------------------------------------------------------------- raw arrays


def _read_mnist_like(name: str, folder: Path, download: bool):
    paths = locate_idx_files(name, folder, download)
    x_train, y_train, x_test, y_test = (formats.read_idx(p) for p in paths)
    for images, labels, path in ((x_train, y_train, paths[0]), (x_test, y_test, paths[2])):
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise ValueError(f"{path}: expected uint8 images (N, 28, 28), got {images.shape}")
        if labels.shape != (len(images),):
            raise ValueError(f"{path}: {len(images)} images but {labels.shape} labels")
    for labels, path in ((y_train, paths[1]), (y_test, paths[3])):
        if labels.dtype != np.uint8 or labels.size and labels.max() > 9:
            raise ValueError(
                f"{path}: expected uint8 labels 0..9, got {labels.dtype} "
                f"from {labels.min() if labels.size else '-'} to "
                f"{labels.max() if labels.size else '-'}"
            )
    return x_train[:, None], y_train.astype(np.int64), x_test[:, None], y_test.astype(np.int64)


def _read_cifar10(folder: Path, download: bool):
    batch_dir, suffix = locate_cifar10(folder, download)
    read = formats.read_cifar_binary if suffix == ".bin" else formats.read_cifar_python
    parts = [read(batch_dir / (b + suffix)) for b in CIFAR_BATCHES]
    x_train = np.concatenate([p[0] for p in parts[:5]])
    y_train = np.concatenate([p[1] for p in parts[:5]])
    return x_train, y_train, parts[5][0], parts[5][1]


def _digits_file() -> Path | None:
    """scikit-learn's copy of the digits (1,797 rows of 64 pixels and a label), found
    without importing scikit-learn (a second of a short run's start-up)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    return path if path.is_file() else None


def _read_digits():
    path = _digits_file()
    if path is not None:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
        pixels, labels = table[:, :-1], table[:, -1]
    else:  # another scikit-learn layout: its loader
        try:
            from sklearn.datasets import load_digits
        except ImportError as exc:
            raise ImportError(
                "the 'digits' dataset comes with scikit-learn: pip install scikit-learn"
            ) from exc
        bunch = load_digits()
        pixels, labels = bunch.data, bunch.target
    images = pixels.astype(np.uint8).reshape(-1, 1, 8, 8)  # values 0..16
    labels = labels.astype(np.int64)
    n_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
    is_test = stratified_pick(labels, n_test, np.random.default_rng(DIGITS_SPLIT_SEED))
    return images[~is_test], labels[~is_test], images[is_test], labels[is_test]


def _read_raw(name: str, data_dir, download: bool):
    """``(x_train, y_train, x_test, y_test, source)`` with uint8 NCHW images."""
    if name == "digits":
        return (*_read_digits(), "sklearn.datasets.load_digits")
    folder = data_root(data_dir) / name
    reader = _read_cifar10 if name == "cifar10" else _read_mnist_like
    args = (folder, download) if name == "cifar10" else (name, folder, download)
    return (*reader(*args), str(folder))


# ------------------------------------------------------------------------- load

# load's input normalisations: raw pixel values, [0, 1], per-channel standardisation
NORMALIZATIONS = ("none", "unit", "standard")


def normalization_name(normalize) -> str:
    """``"none"`` | ``"unit"`` | ``"standard"`` for load's ``normalize`` (True and False,
    the older spelling, are "standard" and "unit"); ValueError for anything else."""
    if isinstance(normalize, (bool, np.bool_)):
        return "standard" if normalize else "unit"
    key = normalize.strip().lower() if isinstance(normalize, str) else normalize
    if key not in NORMALIZATIONS:
        raise ValueError(
            f"unknown normalization {normalize!r}; choose from {', '.join(NORMALIZATIONS)} "
            "(standard: the training images' per-channel mean and std, the default)"
        )
    return key


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    val_size: float | int = 0,
    train_size: float | int | None = None,
    seed: int = 0,
    normalize: bool | str = "standard",
) -> Dataset:
    """Load ``"digits"``, ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"`` or your own
    images, ``"folder:PATH"`` (see :mod:`glassnet.data.folder`), as a :class:`Dataset`.

    data_dir:   data root (default ``$GLASSNET_DATA``, else ``~/.cache/glassnet``).
    download:   fetch missing files; with False, missing files raise
                :class:`DatasetNotFoundError` at once.
    val_size:   fraction in (0, 1) or count of training images held out (stratified).
    train_size: fraction in (0, 1] or count of the remaining training images kept
                (stratified subsample); None keeps all.
    seed:       draws the validation set and the subsample (not digits' test split).
    normalize:  "standard" (default, or True): per-channel standardisation with the final
                training images' mean/std; "unit" (or False): pixels in [0, 1]; "none":
                the raw pixel values (0-255, digits 0-16).
    """
    name = canonical_name(name)
    normalize = normalization_name(normalize)
    if not is_whole(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    classes, scale, notes = CLASSES.get(name), SCALE.get(name, 255), []
    if is_folder_spec(name):  # the user's images: the path is not under data_dir
        from .folder import read_folder_splits

        x_train, y_train, x_test, y_test, source, classes, notes = read_folder_splits(name)
    elif "?" in name:  # some of the classes, relabelled 0..k-1 in the order given
        base = name.split("?", 1)[0]
        x_train, y_train, x_test, y_test, source = _read_raw(base, data_dir, download)
        picked = _class_subset(base, name.split("?", 1)[1])
        relabel = np.full(len(CLASSES[base]), -1, dtype=np.int64)
        relabel[picked] = np.arange(len(picked))
        keep_train, keep_test = relabel[y_train] >= 0, relabel[y_test] >= 0
        x_train, y_train = x_train[keep_train], relabel[y_train[keep_train]]
        x_test, y_test = x_test[keep_test], relabel[y_test[keep_test]]
        classes, scale = [CLASSES[base][i] for i in picked], SCALE[base]
        shown = ", ".join(map(str, classes))
        notes = [f"classes {shown} of {base} only (labels 0-{len(picked) - 1})"]
    else:
        x_train, y_train, x_test, y_test, source = _read_raw(name, data_dir, download)

    n_val = _val_count(val_size, len(y_train))
    x_val, y_val = x_train[:0], y_train[:0]
    if n_val:
        is_val = stratified_pick(y_train, n_val, np.random.default_rng([seed, 1]))
        x_val, y_val = x_train[is_val], y_train[is_val]
        x_train, y_train = x_train[~is_val], y_train[~is_val]
    n_keep = _train_count(train_size, len(y_train))
    if n_keep < len(y_train):
        keep = stratified_pick(y_train, n_keep, np.random.default_rng([seed, 2]))
        x_train, y_train = x_train[keep], y_train[keep]

    raw = {"train": x_train, "val": x_val, "test": x_test}
    scaled = {k: v.astype(np.float32) for k, v in raw.items()}
    channels = x_train.shape[1]
    mean, std = np.zeros(channels), np.ones(channels)
    if normalize == "none":  # raw values: x = pixel / (1 / scale), in [0, 1] pixel units
        std = np.full(channels, 1 / scale)
    else:
        for x in scaled.values():
            x /= np.float32(scale)  # exact division: 255 -> 1.0
    if normalize == "standard":
        mean, std = _channel_stats(scaled["train"])
        for x in scaled.values():
            x -= mean.astype(np.float32).reshape(1, -1, 1, 1)
            x /= std.astype(np.float32).reshape(1, -1, 1, 1)
    labels = {"train": y_train, "val": y_val, "test": y_test}
    splits = {k: (scaled[k], labels[k]) for k in raw}
    official = _OFFICIAL_TEST_SIZE.get(name)  # (not for a subset of the classes)
    if official and len(y_test) != official:
        notes.append(
            f"test set holds {len(y_test)} of the {official} official test images "
            f"(accuracy is measured on {len(y_test)} images)"
        )
    return Dataset(name, splits, raw, classes, mean, std, scale, source, notes)


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of float32 NCHW ``x``, accumulated in float64."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    count = flat.shape[0] * flat.shape[2]
    mean = np.empty(c)
    sq = np.empty(c)
    for ch in range(c):  # per-image float32 sums (exact enough), totalled in float64
        mean[ch] = flat[:, ch].sum(axis=1).sum(dtype=np.float64) / count
        sq[ch] = np.einsum("ij,ij->i", flat[:, ch], flat[:, ch]).sum(dtype=np.float64) / count
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    return mean, np.where(std > 0, std, 1.0)


# ------------------------------------------------------------------ info and checks


@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`available` reports about one dataset.

    ``present`` means every file the loader needs was found and none is visibly cut
    short; ``problem`` says what is wrong with a file that was found but is not whole
    (then ``present`` is False). Only :func:`verify` reads the files in full.
    """

    name: str
    aliases: tuple[str, ...]
    input_shape: tuple[int, int, int]
    num_classes: int
    folder: str
    present: bool
    problem: str | None = None


def _files_state(name: str, folder: Path) -> tuple[bool, str | None]:
    """``(present, problem)``: whether every file is there and whole, and if one was
    found but is not whole, ``"<file>: <why>"``."""
    if name == "digits":  # without the slow import
        return importlib.util.find_spec("sklearn") is not None, None
    if name == "cifar10":
        try:
            batches, suffix = locate_cifar10(folder, download=False)
        except DatasetNotFoundError:
            return False, None
        except (ValueError, OSError) as exc:  # an archive that cannot be extracted
            return False, str(exc)
        paths = [batches / (b + suffix) for b in CIFAR_BATCHES] if suffix == ".bin" else []
        check = formats.cifar_binary_size_problem
    else:
        paths = [find_idx(folder, stem) for stem in IDX_STEMS]
        if None in paths:
            return False, None
        check = formats.idx_size_problem
    for path in paths:
        if (why := check(path)) is not None:
            return False, f"{path.name}: {why}"
    return True, None


def available(data_dir: str | os.PathLike | None = None) -> list[DatasetInfo]:
    """Every dataset with where its files are looked for and whether they are there.

    Checking presence may extract a local CIFAR-10 archive; it never downloads. It
    reads each file's header and length, not its content: a truncated download shows
    as a ``problem``, a damaged one only in :func:`verify`.
    """
    infos = []
    for name, aliases in ALIASES.items():
        folder = "sklearn.datasets.load_digits" if name == "digits" else data_root(data_dir) / name
        present, problem = _files_state(name, Path(folder))
        infos.append(
            DatasetInfo(
                name, aliases, INPUT_SHAPES[name], len(CLASSES[name]), str(folder), present, problem
            )
        )
    return infos


def verify(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Check the local files of ``name``: file -> state.

    The downloadable files are hashed against their published MD5: "ok" or "mismatch".
    One that is absent may be there in another layout the loader accepts (MNIST's
    files un-gzipped, CIFAR-10's extracted batches): those have no published
    checksum, so they are read in full instead, "read (no checksum)" or
    "unreadable: <why>". Otherwise the file is "missing". The digits come with
    scikit-learn and are read.
    """
    name = canonical_name(name)
    if name == "digits":
        where = str(_digits_file() or "sklearn.datasets.load_digits")
        return {where: _readable(_read_digits)}
    folder = data_root(data_dir) / name
    result = {}
    for remote in REMOTE_FILES.get(name, ()):
        path = folder / remote.filename
        if path.is_file():
            result[remote.filename] = "ok" if md5sum(path) == remote.md5 else "mismatch"
            continue
        other = _other_layout(name, folder, remote.filename)
        if other is None:
            result[remote.filename] = "missing"
        elif name == "cifar10":
            result[f"{other.name}/"] = _readable(lambda: _cifar_counts(folder))
        else:
            result[other.name] = _readable(lambda path=other: formats.read_idx(path))
    return result


def _other_layout(name: str, folder: Path, filename: str) -> Path | None:
    """The file or folder the loader reads in place of a missing download."""
    if name == "cifar10":  # extracted batches only: verify extracts no archive
        found = extracted_cifar10(folder)
        return None if found is None else found[0]
    return find_idx(folder, filename.removesuffix(".gz"))


def _cifar_counts(folder: Path) -> str:
    """Reads every batch; the image counts, which a batch cut short at a record
    boundary would change without making the file unreadable."""
    x_train, _, x_test, _ = _read_cifar10(folder, download=False)
    return f"{len(x_train)} train + {len(x_test)} test images"


def _readable(read) -> str:
    try:
        what = read()
    except (ValueError, OSError, EOFError) as exc:
        return f"unreadable: {exc}"
    return f"read (no checksum{'; ' + what if isinstance(what, str) else ''})"
