"""Finding and downloading the dataset files: mirrors, checksums, atomic writes, extraction.

Where files live
----------------
One folder, the *data root*, holds a sub-folder per dataset (``mnist/``,
``fashion-mnist/``, ``cifar10/``). It is, in this order of precedence: the
``data_dir=`` argument, the ``GLASSNET_DATA`` environment variable, or
``~/.cache/glassnet`` (only that one folder is searched). Files already there are
used as they are (MNIST idx files gzipped or not); only missing ones are
downloaded, into the same folder. :func:`locate_idx_files` and
:func:`locate_cifar10` do the looking.

How a file is downloaded
------------------------
For each URL in turn (the canonical one, then mirrors), the bytes are streamed
into a hidden temporary file *in the destination folder* while their MD5 is
computed. Only when the size and checksum match the published ones is the
temporary file renamed onto its final name with ``os.replace``, which is atomic:
a killed download never leaves a half file under the real name, and a file that
fails its checksum is deleted, never used. If every URL fails, one
:class:`DatasetNotFoundError` says which files to put where.

What is verified, and when
--------------------------
Downloaded files are always checked against their MD5. Files found locally are
*not* hashed on every load (we trust what you put there); they are still checked
by their format: gzip verifies a CRC32 of its content, idx headers must match the
byte count, CIFAR batches must be whole records. :func:`glassnet.data.verify`
hashes the local files on demand. A local CIFAR-10 python archive is hashed once,
before it is extracted. No checksum of the CIFAR-10 *binary* release is listed,
because none was confirmed; such files are checked by format only.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "ENV_VAR",
    "DEFAULT_ROOT",
    "RemoteFile",
    "REMOTE_FILES",
    "DatasetNotFoundError",
    "DownloadError",
    "data_root",
    "md5sum",
    "download_file",
    "safe_extract",
    "find_idx",
    "extracted_cifar10",
    "locate_idx_files",
    "locate_cifar10",
]

ENV_VAR = "GLASSNET_DATA"
DEFAULT_ROOT = Path("~/.cache/glassnet")
USER_AGENT = "glassnet (https://github.com/; dataset downloader)"
CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One canonical file: its name, published size and MD5, and where to get it."""

    filename: str
    md5: str | None
    size: int | None
    urls: tuple[str, ...]


def _mirrored(filename: str, md5: str, size: int, bases: tuple[str, ...]) -> RemoteFile:
    return RemoteFile(filename, md5, size, tuple(base + filename for base in bases))


_MNIST_BASES = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_FASHION_BASES = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

_MNIST_FILES = (  # name, MD5, size in bytes
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542),
)
_FASHION_FILES = (
    ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
    ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29515),
    ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4422102),
    ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5148),
)

# dataset name -> the files to download into <root>/<name>/
REMOTE_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": tuple(_mirrored(*spec, _MNIST_BASES) for spec in _MNIST_FILES),
    "fashion-mnist": tuple(_mirrored(*spec, _FASHION_BASES) for spec in _FASHION_FILES),
    "cifar10": (
        RemoteFile(
            "cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
            170498071,
            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        ),
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are neither on disk nor downloadable (offline, all mirrors down)."""


class DownloadError(OSError):
    """Every URL of one file failed; ``errors`` lists ``(url, reason)`` for each."""

    def __init__(self, filename: str, errors: list[tuple[str, str]]):
        self.file = filename  # not .filename: OSError would format it as "[Errno None] ..."
        self.errors = errors
        lines = "\n".join(f"  {url}: {reason}" for url, reason in errors)
        super().__init__(f"could not download {filename}:\n{lines}")


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The data root: ``data_dir``, else ``$GLASSNET_DATA``, else ``~/.cache/glassnet``.
    A root that is a file is refused here, naming it (it was reported as "dataset files
    not found in <file>/mnist")."""
    given = data_dir is not None
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or DEFAULT_ROOT
    root = Path(data_dir).expanduser()
    if root.exists() and not root.is_dir():
        where = (
            "data_dir, --data-dir"
            if given
            else f"${ENV_VAR}"
            if os.environ.get(ENV_VAR)
            else "the root"
        )
        raise NotADirectoryError(
            f"the data folder {root} ({where}) is a file; name the folder that holds the "
            "datasets (mnist/, cifar10/, ...)"
        )
    return root


def md5sum(path: str | os.PathLike) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _progress_bar(total: int | None, desc: str):
    """A tqdm bar on a terminal; a silent stand-in under CI, in pipes, or without tqdm."""
    quiet = bool(os.environ.get("CI")) or not (sys.stderr and sys.stderr.isatty())
    try:
        from tqdm.auto import tqdm
    except ImportError:
        quiet = True
    if quiet:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024)


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _fetch(url: str, remote: RemoteFile, folder: Path, timeout: float) -> Path:
    """Stream one URL into a temp file in ``folder``; return it once size and MD5 check out."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{remote.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else remote.size
            bar = _progress_bar(total, remote.filename)
            try:
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
        if length and length.isdigit() and received != int(length):
            raise OSError(f"connection closed after {received} of {length} bytes")
        if remote.size is not None and received != remote.size:
            raise OSError(f"got {received} bytes, expected {remote.size}")
        if remote.md5 is not None and digest.hexdigest() != remote.md5:
            raise OSError(
                f"MD5 mismatch: got {digest.hexdigest()}, expected {remote.md5}; file discarded"
            )
        return tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def download_file(remote: RemoteFile, folder: str | os.PathLike, *, timeout: float = 30.0) -> Path:
    """Download ``remote`` into ``folder`` (trying each URL in turn); return its final path.

    The file appears under its final name only after its size and MD5 matched;
    raises :class:`DownloadError` listing every URL's failure otherwise.
    ``timeout`` is the socket timeout in seconds for each connect and read.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    errors: list[tuple[str, str]] = []
    for url in remote.urls:
        try:
            tmp = _fetch(url, remote, folder, timeout)
        # URLError, HTTPError and timeouts are OSErrors; IncompleteRead is an HTTPException
        except (OSError, ValueError, http.client.HTTPException) as exc:
            errors.append((url, str(exc) or type(exc).__name__))
            continue
        final = folder / remote.filename
        os.replace(tmp, final)
        return final
    raise DownloadError(remote.filename, errors)


def _check_member(member: tarfile.TarInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, or ValueError for links, devices, absolute or ../ names."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or member.name.startswith(("/", "\\")):
        raise ValueError(f"{archive}: unsafe path in archive: {member.name!r}")
    if not (member.isreg() or member.isdir()):
        raise ValueError(f"{archive}: refusing archive member {member.name!r} (not a plain file)")
    return name


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract a tar archive into ``dest`` safely; return the top-level paths created.

    Every member is checked first: plain files and folders only (no symlinks,
    hard links or devices), no absolute paths, no ``..``. Files are written by us
    (not by ``tarfile.extractall``) into a temporary folder inside ``dest``, and
    each top-level entry is then moved into place, replacing an older copy. A
    compressed archive is read to its end, so that a truncated or altered one (gzip's
    CRC) is refused before anything is moved into place.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [(m, _check_member(m, archive)) for m in tar.getmembers()]
            for member, rel in members:
                target = staging.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
            # read the compressed stream to its end: gzip checks its CRC only there, so a
            # flipped byte would otherwise extract without a word
            while tar.fileobj.read(CHUNK):
                pass
        created = []
        for entry in sorted(staging.iterdir()):
            final = dest / entry.name
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            os.replace(entry, final)
            created.append(final)
        return created
    except tarfile.TarError as exc:
        raise ValueError(f"{archive}: not a readable tar archive ({exc})") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # cut short, or bytes changed
        raise ValueError(
            f"{archive}: the archive is truncated or corrupt ({exc}); delete it and download "
            f"it again"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------ finding the files, fetching what is missing

IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")  # fmt: skip
CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def find_idx(folder: Path, stem: str) -> Path | None:
    """Accept ``stem.gz``, ``stem`` and the dotted ``train-images.idx3-ubyte`` spelling."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (folder / name).is_file():
            return folder / name
    return None


def _not_found(name: str, folder: Path, wanted: list[str], errors=(), offline=False) -> str:
    remotes = REMOTE_FILES[name]
    lines = [f"{name}: dataset files not found in {folder}."]
    lines.append("Put these files in that folder (then nothing is downloaded):")
    lines += [f"    {w}" for w in wanted]
    lines.append(
        f"or set the {ENV_VAR} environment variable (or pass data_dir=, on the command "
        f"line --data-dir) to a folder holding {folder.name}/. Files can be fetched from e.g. "
        f"{remotes[0].urls[0].rsplit('/', 1)[0]}/ (see glassnet.data.download.REMOTE_FILES)."
    )
    if offline:
        lines.append("download=False, so no download was tried.")
    for err in errors:
        lines.append(f"Download failed: {err}")
    return "\n".join(lines)


def _check_not_one_level_down(name: str, folder: Path, holds) -> None:
    """A data folder given as the dataset's own folder (``--data-dir /data/mnist``, the
    files in it) would otherwise send the loader to download a second copy into
    ``/data/mnist/mnist``. Refused with the folder to give instead; not used as it is,
    since MNIST's and Fashion-MNIST's files share their names."""
    parent = folder.parent
    if parent.name == name and holds(parent):
        raise DatasetNotFoundError(
            f"{name}: no files in {folder}, but {parent} holds them: the data folder "
            f"(--data-dir, data_dir= or ${ENV_VAR}) is the one that holds {name}/, "
            f"here {parent.parent}"
        )


def _download_missing(name, folder, missing_remotes, wanted, download):
    if not download:
        raise DatasetNotFoundError(_not_found(name, folder, wanted, offline=True))
    errors = []
    for remote in missing_remotes:
        try:
            download_file(remote, folder)
        except (DownloadError, OSError) as exc:  # includes a read-only or missing folder
            errors.append(exc)
    if errors:
        raise DatasetNotFoundError(_not_found(name, folder, wanted, errors))


def locate_idx_files(name: str, folder: Path, download: bool = True) -> list[Path]:
    """The four idx files of ``name`` (train images, labels, test images, labels).

    Missing ones are downloaded into ``folder`` (or, with ``download=False``,
    reported by a :class:`DatasetNotFoundError`).
    """
    paths = [find_idx(folder, stem) for stem in IDX_STEMS]
    if None in paths:
        _check_not_one_level_down(
            name, folder, lambda d: all(find_idx(d, stem) for stem in IDX_STEMS)
        )
        missing = [r for r, p in zip(REMOTE_FILES[name], paths) if p is None]
        wanted = [f"{r.filename}  ({r.size} bytes, md5 {r.md5}) or un-gzipped" for r in missing]
        _download_missing(name, folder, missing, wanted, download)
        paths = [find_idx(folder, stem) for stem in IDX_STEMS]
    return paths


def extracted_cifar10(folder: Path) -> tuple[Path, str] | None:
    """``(folder of the six CIFAR-10 batches, ".bin" or "")`` if they lie extracted in
    ``folder`` (binary version first), else None. Extracts nothing."""
    for sub, suffix in (("cifar-10-batches-bin", ".bin"), ("cifar-10-batches-py", "")):
        if all((folder / sub / (b + suffix)).is_file() for b in CIFAR_BATCHES):
            return folder / sub, suffix
    return None


def locate_cifar10(folder: Path, download: bool = True) -> tuple[Path, str]:
    """``(folder of the six CIFAR-10 batches, ".bin" or "")``, extracting or downloading.

    Looked for in order: ``cifar-10-batches-bin/``, ``cifar-10-batches-py/``, the
    archive ``cifar-10-python.tar.gz`` (MD5-checked, then extracted once),
    ``cifar-10-binary.tar.gz`` (extracted), and finally a download of the python
    archive.
    """
    found = extracted_cifar10(folder)
    archive_py = folder / "cifar-10-python.tar.gz"
    archive_bin = folder / "cifar-10-binary.tar.gz"
    remote = REMOTE_FILES["cifar10"][0]
    if found is None and archive_py.is_file():
        if md5sum(archive_py) != remote.md5:
            raise ValueError(f"{archive_py}: MD5 differs from the official {remote.md5}")
        safe_extract(archive_py, folder)
        found = extracted_cifar10(folder)
    if found is None and archive_bin.is_file():
        safe_extract(archive_bin, folder)  # no confirmed checksum: checked by format only
        found = extracted_cifar10(folder)
    if found is None:
        _check_not_one_level_down(
            "cifar10",
            folder,
            lambda d: (
                extracted_cifar10(d) is not None
                or any((d / a).is_file() for a in (archive_py.name, archive_bin.name))
            ),
        )
        wanted = [
            "cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin (binary version), or",
            "cifar-10-batches-py/{data_batch_1..5,test_batch} (python version), or",
            f"cifar-10-python.tar.gz ({remote.size} bytes, md5 {remote.md5})",
        ]
        _download_missing("cifar10", folder, [remote], wanted, download)
        safe_extract(archive_py, folder)  # just downloaded, so its MD5 was checked
        found = extracted_cifar10(folder)
        if found is None:
            raise ValueError(f"{archive_py}: the archive lacks the CIFAR-10 python batches")
    return found
