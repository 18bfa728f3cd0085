"""Your own images: ``ImageFolder`` (torchvision's layout) and ``load("folder:PATH")``.

The layout is torchvision's: one sub-folder per class, the class names sorted give the
label indices::

    faces/                          faces/train/<class>/...   (optional official split:
      bracco/  001.jpg 002.png ...  faces/test/<class>/...     train/ and test/ with the
      butler/  ...                                             same class folders)

    >>> from glassnet.data import ImageFolder, load
    >>> folder = ImageFolder("faces", size=64)                       # doctest: +SKIP
    >>> folder.images.shape, folder.classes                          # doctest: +SKIP
    ((540, 3, 64, 64), ['bracco', 'butler', ...])
    >>> ds = load("folder:faces?size=64", val_size=0.1)              # doctest: +SKIP

Each image is read with Pillow (PNG, JPEG, BMP), converted to RGB or grayscale,
resized so its shorter side is ``resize`` pixels (default: ``size``; bilinear with
antialiasing, as torchvision's ``Resize``), then cropped to ``size`` x ``size`` (or
``(h, w)``): in the centre, or at a position drawn from ``seed`` for ``crop="random"``
(one fixed crop per image, decided at load time). With neither ``size`` nor
``resize`` the images are kept as they are and must all have one size.

Decisions about bad input (one clear error naming the file, or a warning):

* a file with an image suffix that Pillow cannot read, or that is cut short: refused
  (``ValueError`` naming the file) -- a broken image is a problem to fix, not noise;
* a file without an image suffix (notes, ``Thumbs.db``, a stray ``.gif``): skipped,
  with one warning listing how many and the first few; hidden files (``.DS_Store``)
  are skipped silently;
* no class folders, or a class folder without images: refused, naming the folder;
* mixed sizes without ``size``/``resize``: refused, naming two files of different size.

Decoded images are cached in ``cache_dir`` (default ``$XDG_CACHE_HOME/glassnet/folders``,
else ``~/.cache/glassnet/folders``) as an ``.npz`` (read with ``allow_pickle=False``),
named by a hash of every file's path, size and modification time and of the load
settings: the second load of an unchanged folder reads one file; a changed, added or
removed image (or other settings) decodes again. The cache is written atomically; a
cache folder that cannot be written only costs the speed-up (a warning).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..io import atomic_write

__all__ = ["ImageFolder", "IMAGE_SUFFIXES", "parse_folder_spec", "is_folder_spec", "PREFIX"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
PREFIX = "folder:"
CACHE_VERSION = 1
PROGRESS_MIN_FILES = 200  # a progress bar for folders with at least this many images
_OPTIONS = {"size", "resize", "crop", "channels"}


def is_folder_spec(name) -> bool:
    return isinstance(name, str) and name.strip().lower().startswith(PREFIX)


def parse_folder_spec(spec: str) -> tuple[str, dict]:
    """``"folder:PATH?size=64,crop=random,channels=1"`` -> ``("PATH", {options})``.

    Options (all optional): ``size`` (``64`` or ``64x48``, height x width), ``resize``
    (shorter side before the crop), ``crop`` (``center`` | ``random``), ``channels``
    (1 grey, 3 RGB; default: 1 if every image is grey, else 3).
    """
    if not is_folder_spec(spec):
        raise ValueError(f"not a folder dataset: {spec!r} (expected folder:PATH)")
    body = spec.strip()[len(PREFIX) :]
    path, _, query = body.partition("?")
    if not path:
        raise ValueError(f"{spec!r}: give the folder, e.g. folder:path/to/images")
    options: dict = {}
    for item in filter(None, (p.strip() for p in query.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in _OPTIONS:
            raise ValueError(
                f"{spec!r}: unknown folder option {item!r}; use size=64 (or 64x48), "
                "resize=72, crop=center|random, channels=1|3"
            )
        value = value.strip()
        if key == "crop":
            options[key] = value.lower()
        elif key == "size":
            parts = value.lower().replace(",", "x").split("x")
            try:
                sizes = [int(p) for p in parts]
            except ValueError:
                raise ValueError(f"{spec!r}: size must be 64 or 64x48, got {value!r}") from None
            options[key] = sizes[0] if len(sizes) == 1 else tuple(sizes)
        else:
            try:
                options[key] = int(value)
            except ValueError:
                raise ValueError(f"{spec!r}: {key} must be an integer, got {value!r}") from None
    return path, options


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "glassnet" / "folders"


def _pair(size, what: str):
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in size):
        raise ValueError(f"ImageFolder: {what} must be a positive int or (height, width)")
    return (int(size[0]), int(size[1]))


class ImageFolder:
    """The images of ``root`` (one sub-folder per class) as uint8 NCHW arrays.

    Attributes after construction: ``images`` (N, C, H, W) uint8, ``targets`` (N,)
    int64, ``classes`` (sorted folder names), ``paths`` (each image's file, relative
    to ``root``), ``skipped`` (files left out: not images), ``from_cache`` (bool).
    """

    def __init__(
        self,
        root,
        size=None,
        resize: int | None = None,
        crop: str = "center",
        channels: int | None = None,
        seed: int = 0,
        cache: bool = True,
        cache_dir=None,
        progress: bool = True,
    ):
        self.root = Path(root).expanduser()
        self.size = _pair(size, "size")
        if resize is not None and (not isinstance(resize, (int, np.integer)) or resize < 1):
            raise ValueError(f"ImageFolder: resize must be a positive int, got {resize!r}")
        self.resize = None if resize is None else int(resize)
        if crop not in ("center", "random"):
            raise ValueError(f"ImageFolder: crop must be 'center' or 'random', got {crop!r}")
        self.crop = crop
        if channels not in (None, 1, 3):
            raise ValueError(f"ImageFolder: channels must be 1, 3 or None, got {channels!r}")
        self.channels = channels
        self.seed = int(seed)
        files, self.classes, self.skipped = _scan(self.root)
        self.paths = [str(p.relative_to(self.root)) for p, _ in files]
        self.targets = np.array([label for _, label in files], dtype=np.int64)
        self.from_cache = False
        cache_file = None
        if cache:
            cache_file = Path(cache_dir or _default_cache_dir()) / f"{self._key(files)}.npz"
            cached = _read_cache(cache_file)
            if cached is not None:
                self.images, self.from_cache = cached, True
                return
        self.images = self._decode_all([p for p, _ in files], progress)
        if cache_file is not None:
            _write_cache(cache_file, self.images)

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return (
            f"ImageFolder({str(self.root)!r}, images={len(self)}, classes={len(self.classes)}, "
            f"shape={tuple(self.images.shape[1:])})"
        )

    # ------------------------------------------------------------------ cache key
    def _key(self, files) -> str:
        h = hashlib.sha256()
        settings = {
            "version": CACHE_VERSION,
            "root": str(self.root.resolve()),
            "size": self.size,
            "resize": self.resize,
            "crop": self.crop,
            "channels": self.channels,
            "seed": self.seed if self.crop == "random" else None,
        }
        h.update(json.dumps(settings, sort_keys=True).encode())
        for path, label in files:
            st = path.stat()
            h.update(
                f"{path.relative_to(self.root)}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode()
            )
        return h.hexdigest()[:32]

    # ------------------------------------------------------------------ decoding
    def _decode_all(self, paths: list[Path], progress: bool) -> np.ndarray:
        try:
            from PIL import Image  # noqa: F401
        except ImportError:
            raise ImportError(
                "ImageFolder reads images with Pillow: pip install 'glassnet[image]'"
            ) from None
        bar = _bar(len(paths), f"decoding {self.root.name}", progress)
        arrays = []
        try:
            for i, path in enumerate(paths):
                arrays.append(self._decode(path, i))
                bar.update(1)
        finally:
            bar.close()
        shapes = {a.shape[:2] for a in arrays}
        if len(shapes) > 1:
            first = arrays[0].shape[:2]
            other = next(i for i, a in enumerate(arrays) if a.shape[:2] != first)
            raise ValueError(
                f"images of different sizes: {paths[0]} is {first[1]}x{first[0]}, "
                f"{paths[other]} is {arrays[other].shape[1]}x{arrays[other].shape[0]} "
                "(width x height); give a size to resize and crop them to, e.g. "
                "ImageFolder(root, size=64) or --dataset 'folder:PATH?size=64'"
            )
        channels = self.channels
        if channels is None:  # grey only if every image is grey
            channels = 1 if all(a.shape[2] == 1 for a in arrays) else 3
        out = np.empty((len(arrays), channels, *arrays[0].shape[:2]), dtype=np.uint8)
        for i, a in enumerate(arrays):
            if a.shape[2] != channels:  # a grey image among colour ones
                a = np.repeat(a, channels, axis=2)
            out[i] = a.transpose(2, 0, 1)
        return out

    def _decode(self, path: Path, index: int) -> np.ndarray:
        """(H, W, C) uint8 of one file, C = 1 (grey) or 3, resized and cropped."""
        from PIL import Image

        try:
            with Image.open(path) as img:
                img.load()  # decodes now: a truncated file raises here, naming no file
                grey = img.mode in ("1", "L", "LA", "I", "I;16", "F") and self.channels != 3
                img = img.convert("L" if grey or self.channels == 1 else "RGB")
                img = self._resize_crop(img, index)
                array = np.asarray(img, dtype=np.uint8)
        except Exception as exc:  # PIL.UnidentifiedImageError, OSError("truncated") ...
            raise ValueError(f"{path}: not a readable image ({exc})") from None
        return array[:, :, None] if array.ndim == 2 else array

    def _resize_crop(self, img, index: int):
        from PIL import Image

        # the shorter side: resize, else the crop's larger side (so the crop fits)
        shorter = self.resize or (max(self.size) if self.size else None)
        if shorter is not None:
            w, h = img.size
            scale = shorter / min(w, h)
            new = (max(1, round(w * scale)), max(1, round(h * scale)))
            if new != img.size:
                img = img.resize(new, Image.BILINEAR, reducing_gap=None)
        if self.size is None:
            return img
        th, tw = self.size
        w, h = img.size
        if th > h or tw > w:
            raise ValueError(
                f"a {w}x{h} image (after resize={self.resize}) is smaller than the crop "
                f"{tw}x{th}: give a larger resize"
            )
        if self.crop == "center":
            top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        else:
            rng = np.random.default_rng([self.seed, index])
            top, left = int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1))
        return img.crop((left, top, left + tw, top + th))


# ---------------------------------------------------------------------- scanning
def _scan(root: Path):
    """``([(file, label), ...], classes, skipped)``: class folders sorted, files sorted."""
    if not root.exists():
        raise FileNotFoundError(f"no such image folder: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is a file; give the folder holding one folder per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(
            f"{root}: no class folders (expected one sub-folder per class, e.g. "
            f"{root}/cat/001.png, {root}/dog/001.png)"
        )
    files, skipped = [], []
    for label, name in enumerate(classes):
        folder = root / name
        found = []
        for path in sorted(folder.rglob("*")):
            if path.is_dir() or any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            if path.suffix.lower() in IMAGE_SUFFIXES:
                found.append((path, label))
            else:
                skipped.append(str(path.relative_to(root)))
        if not found:
            raise ValueError(
                f"{folder}: class {name!r} has no images ({', '.join(IMAGE_SUFFIXES)} files)"
            )
        files += found
    if skipped:
        shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        warnings.warn(
            f"{root}: skipped {len(skipped)} file(s) that are not images "
            f"({'/'.join(IMAGE_SUFFIXES)}): {shown}",
            stacklevel=3,
        )
    return files, classes, skipped


# ---------------------------------------------------------------------- cache
def _read_cache(path: Path):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            images = f["images"]
    except (OSError, ValueError, KeyError, EOFError):
        return None  # a damaged cache file is decoded again (and rewritten)
    return images if images.dtype == np.uint8 and images.ndim == 4 else None


def _write_cache(path: Path, images: np.ndarray) -> None:
    try:
        with atomic_write(path) as f:
            np.savez(f, images=images)
    except OSError as exc:
        warnings.warn(f"could not cache the decoded images in {path.parent}: {exc}", stacklevel=3)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, desc: str, progress: bool):
    if not progress or total < PROGRESS_MIN_FILES or os.environ.get("CI"):
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="img", leave=False)


# ---------------------------------------------------------------------- splits
TEST_FRACTION = 0.2
TEST_SPLIT_SEED = 0


def read_folder_splits(spec: str, progress: bool = True, cache_dir=None):
    """``(x_train, y_train, x_test, y_test, source, classes, notes)`` for
    :func:`glassnet.data.load`: ``PATH/train`` and ``PATH/test`` when both exist (the
    same class folders), else a stratified 20% test split drawn with a fixed seed (0),
    whatever the run's seed, as for digits."""
    from .datasets import stratified_pick

    path, options = parse_folder_spec(spec)
    root = Path(path).expanduser()
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        train = ImageFolder(train_dir, progress=progress, cache_dir=cache_dir, **options)
        opts = dict(options, channels=options.get("channels") or train.images.shape[1])
        test = ImageFolder(test_dir, progress=progress, cache_dir=cache_dir, **opts)
        if test.classes != train.classes:
            raise ValueError(
                f"{root}: train/ and test/ hold different class folders "
                f"({train.classes} and {test.classes})"
            )
        if test.images.shape[1:] != train.images.shape[1:]:
            raise ValueError(
                f"{root}: train/ images are {train.images.shape[1:]}, test/ images "
                f"{test.images.shape[1:]}; give a size, e.g. folder:{path}?size=64"
            )
        return (
            train.images, train.targets, test.images, test.targets,
            str(root), train.classes, [],
        )  # fmt: skip
    folder = ImageFolder(root, progress=progress, cache_dir=cache_dir, **options)
    counts = np.bincount(folder.targets, minlength=len(folder.classes))
    if counts.min() < 2:
        small = folder.classes[int(np.argmin(counts))]
        raise ValueError(
            f"{root}: class {small!r} has {counts.min()} image; a test split needs at least 2 "
            "per class (or give train/ and test/ folders)"
        )
    n_test = max(len(folder.classes), int(round(TEST_FRACTION * len(folder))))
    is_test = stratified_pick(folder.targets, n_test, np.random.default_rng(TEST_SPLIT_SEED))
    notes = [
        f"no train/ and test/ folders: the test set is {int(is_test.sum())} images "
        f"({TEST_FRACTION:.0%} of each class) drawn with a fixed seed"
    ]
    if folder.skipped:
        notes.append(f"skipped {len(folder.skipped)} file(s) that are not images")
    return (
        folder.images[~is_test], folder.targets[~is_test],
        folder.images[is_test], folder.targets[is_test],
        str(root), folder.classes, notes,
    )  # fmt: skip
