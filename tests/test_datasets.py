"""glassnet.data.load: file lookup, splits, normalisation; the real files when GLASSNET_DATA
holds them (skipped otherwise)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from glassnet.data import (
    Dataset,
    DatasetNotFoundError,
    available,
    canonical_name,
    data_root,
    load,
    verify,
)
from glassnet.data import download as dl
from glassnet.data.formats import write_cifar_binary, write_idx


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Any attempt to reach the network from these tests fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"test tried to download: {args[0]!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def tagged_images(n: int, shape, seed: int) -> np.ndarray:
    """Random uint8 images whose first two pixels spell the sample id (id % 256, id // 256)."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    flat = images.reshape(n, -1)
    flat[:, 0], flat[:, 1] = np.arange(n) % 256, np.arange(n) // 256
    return images


def ids_of(ds: Dataset, split: str) -> np.ndarray:
    img = ds.images(split, layout="NCHW").reshape(len(ds.split(split)[1]), -1).astype(np.int64)
    return img[:, 0] + 256 * img[:, 1]


def unbalanced_labels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(10, size=n, p=np.linspace(1, 3, 10) / 20)


N_TRAIN, N_TEST = 500, 60


def write_mnist(folder: Path, gz=True, dotted=False):
    folder.mkdir(parents=True, exist_ok=True)
    y_train, y_test = unbalanced_labels(N_TRAIN, 1), unbalanced_labels(N_TEST, 2)
    arrays = {
        "train-images-idx3-ubyte": tagged_images(N_TRAIN, (28, 28), 3),
        "train-labels-idx1-ubyte": y_train.astype(np.uint8),
        "t10k-images-idx3-ubyte": tagged_images(N_TEST, (28, 28), 4),
        "t10k-labels-idx1-ubyte": y_test.astype(np.uint8),
    }
    for stem, array in arrays.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


def write_cifar_bin(folder: Path, per_batch=40, n_test=30):
    sub = folder / "cifar-10-batches-bin"
    sub.mkdir(parents=True)
    images = tagged_images(5 * per_batch, (3, 32, 32), 5)
    labels = unbalanced_labels(5 * per_batch, 6)
    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        write_cifar_binary(sub / f"data_batch_{i + 1}.bin", images[part], labels[part])
    write_cifar_binary(sub / "test_batch.bin", tagged_images(n_test, (3, 32, 32), 7), [3] * n_test)
    return images, labels


def cifar_python_archive(path: Path, per_batch=20, n_test=10) -> np.ndarray:
    """A cifar-10-python.tar.gz in the official layout; returns the training labels."""
    labels = unbalanced_labels(5 * per_batch, 8)
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
            n = n_test if name == "test_batch" else per_batch
            part = [1] * n if name == "test_batch" else labels[i * per_batch : (i + 1) * per_batch]
            batch = {b"data": np.full((n, 3072), i, np.uint8), b"labels": [int(v) for v in part]}
            blob = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return labels


@pytest.fixture
def root(tmp_path):
    write_mnist(tmp_path / "mnist")
    write_cifar_bin(tmp_path / "cifar10")
    return tmp_path


# ------------------------------------------------------------------- names and lookup


def test_names_and_aliases():
    assert canonical_name("Fashion_MNIST") == "fashion-mnist"
    assert canonical_name("fmnist") == "fashion-mnist"
    assert canonical_name("CIFAR-10") == "cifar10"
    assert canonical_name("mnist") == "mnist"
    with pytest.raises(ValueError) as info:
        load("imagenet")
    for name in ("digits", "mnist", "fashion-mnist", "cifar10"):
        assert name in str(info.value)


def test_load_mnist_files(root):
    ds = load("mnist", data_dir=root)
    assert repr(ds) == (
        "Dataset('mnist', train=500, val=0, test=60, input_shape=(1, 28, 28), classes=10)"
    )
    assert ds.x_train.shape == (500, 1, 28, 28) and ds.x_train.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.x_test.shape == (60, 1, 28, 28)
    assert ds.x_val.shape == (0, 1, 28, 28) and ds.y_val.shape == (0,)
    assert ds.y_train.tolist() == unbalanced_labels(N_TRAIN, 1).tolist()
    assert ds.classes == [str(i) for i in range(10)] and ds.num_classes == 10
    assert ds.input_shape == (1, 28, 28) and ds.name == "mnist"
    np.testing.assert_array_equal(ds.images("train")[..., 0], tagged_images(N_TRAIN, (28, 28), 3))
    assert ds.notes == ["test set holds 60 of the 10000 official test images"
                        " (accuracy is measured on 60 images)"]  # fmt: skip


@pytest.mark.parametrize("gz, dotted", [(False, False), (True, True), (False, True)])
def test_ungzipped_and_dotted_names(tmp_path, gz, dotted):
    arrays = write_mnist(tmp_path / "fashion-mnist", gz=gz, dotted=dotted)
    ds = load("fashion_mnist", data_dir=tmp_path, normalize=False)
    assert ds.name == "fashion-mnist" and ds.classes[0] == "T-shirt/top"
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("GLASSNET_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "glassnet"
    write_mnist(tmp_path / "env" / "mnist")
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "env"))
    assert load("mnist").n_train == N_TRAIN


def test_missing_files_without_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path / "mnist") in message and "GLASSNET_DATA" in message
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "download=False" in message
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-bin"):
        load("cifar10", data_dir=tmp_path, download=False)


def test_partial_mnist_lists_only_missing(root):
    (root / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", data_dir=root, download=False)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)
    assert "train-images-idx3-ubyte.gz" not in str(info.value)


def test_cifar_binary_layout_and_truncated_test(root):
    images, labels = write_cifar_bin(root / "other" / "cifar10", per_batch=12, n_test=9)
    ds = load("cifar-10", data_dir=root / "other", normalize=False)
    assert ds.n_train == 60 and ds.n_test == 9 and ds.input_shape == (3, 32, 32)
    assert "9 of the 10000" in ds.notes[0] and "test=9" in repr(ds)
    np.testing.assert_array_equal(ds.y_train, labels)
    np.testing.assert_array_equal(ds.images("train", layout="NCHW"), images)
    np.testing.assert_array_equal(ds.images("train"), images.transpose(0, 2, 3, 1))
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck"


def test_cifar_python_archive_is_checked_and_extracted(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    archive = folder / "cifar-10-python.tar.gz"
    labels = cifar_python_archive(archive)
    remote = dl.RemoteFile(archive.name, "0" * 32, None, ("http://127.0.0.1:9/x",))
    monkeypatch.setitem(dl.REMOTE_FILES, "cifar10", (remote,))
    with pytest.raises(ValueError, match="MD5"):
        load("cifar10", data_dir=tmp_path, download=False)
    assert not (folder / "cifar-10-batches-py").exists()
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(dl.REMOTE_FILES, "cifar10", (dl.RemoteFile(archive.name, md5, None, ()),))
    ds = load("cifar10", data_dir=tmp_path, download=False, normalize=False)
    assert ds.n_train == 100 and ds.n_test == 10
    np.testing.assert_array_equal(ds.y_train, labels)
    assert ds.x_train[20:40].max() == pytest.approx(1 / 255)  # batch 2 is all ones
    archive.unlink()  # extracted once: the batches are used from now on
    assert load("cifar10", data_dir=tmp_path, download=False).n_test == 10
    assert not list(folder.glob(".extract-*"))


@pytest.mark.parametrize("gz", [True, False])
def test_available_names_a_file_cut_short(tmp_path, gz):
    """A download cut short is not "present": the header's size (plain) or gzip's
    length trailer (gz) does not match, found from a few bytes."""
    write_mnist(tmp_path / "mnist", gz=gz)
    write_cifar_bin(tmp_path / "cifar10")
    name = "t10k-images-idx3-ubyte" + (".gz" if gz else "")
    path = tmp_path / "mnist" / name
    whole = path.read_bytes()
    info = {i.name: i for i in available(tmp_path)}
    assert info["mnist"].present and info["cifar10"].present
    assert info["fashion-mnist"].problem is None  # missing is not damaged
    path.write_bytes(whole[: len(whole) - 100])
    info = {i.name: i for i in available(tmp_path)}
    assert not info["mnist"].present and info["mnist"].problem.startswith(name + ": ")
    assert "the header implies" in info["mnist"].problem  # the size it should have
    assert info["cifar10"].present
    path.write_bytes(whole + b"\0")  # trailing bytes: wrong too (the gz's trailer moves)
    assert available(tmp_path)[1].problem.startswith(name)
    path.write_bytes(b"\0\0\x08")  # shorter than a header
    assert available(tmp_path)[1].problem == f"{name}: too short for an idx header (3 bytes)"
    path.write_bytes(whole)
    batch = tmp_path / "cifar10" / "cifar-10-batches-bin" / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-1])
    info = {i.name: i for i in available(tmp_path)}
    assert info["mnist"].present
    assert info["cifar10"].problem == (
        "data_batch_3.bin: 122919 bytes, not a whole number of 3073-byte records"
    )


def test_available_reads_the_shared_files_as_whole():
    if not REAL_ROOT:
        pytest.skip("GLASSNET_DATA is not set")
    for info in available(REAL_ROOT):
        assert info.problem is None, info


def test_available_and_verify(root, monkeypatch):
    info = {i.name: i for i in available(data_dir=root)}
    assert list(info) == ["digits", "mnist", "fashion-mnist", "cifar10"]
    assert info["mnist"].present and info["cifar10"].present
    assert info["digits"].present == (importlib.util.find_spec("sklearn") is not None)
    assert not info["fashion-mnist"].present
    assert info["mnist"].folder == str(root / "mnist")
    assert info["cifar10"].input_shape == (3, 32, 32)
    good = (root / "mnist" / "train-labels-idx1-ubyte.gz").read_bytes()
    fake = [dl.RemoteFile(r.filename, r.md5, r.size, r.urls) for r in dl.REMOTE_FILES["mnist"]]
    fake[1] = dl.RemoteFile(fake[1].filename, hashlib.md5(good).hexdigest(), None, ())
    monkeypatch.setitem(dl.REMOTE_FILES, "mnist", tuple(fake))
    (root / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    result = verify("mnist", data_dir=root)
    assert result == {
        "train-images-idx3-ubyte.gz": "mismatch",
        "train-labels-idx1-ubyte.gz": "ok",
        "t10k-images-idx3-ubyte.gz": "mismatch",
        "t10k-labels-idx1-ubyte.gz": "missing",
    }


@pytest.mark.parametrize(
    "labels, words",
    [
        (np.array([0, 1, 2, 200] * 15, dtype=np.uint8), "labels 0..9, got uint8 from 0 to 200"),
        (np.array([3.7, 1.2, 0.0, 9.9] * 15, dtype=np.float32), "got float32"),
    ],
)
def test_mnist_labels_out_of_range_or_not_uint8_name_the_file(root, labels, words):
    """Float labels would be truncated to classes, 200 would fail only once training
    starts: both are refused when the file is read, as the CIFAR readers do."""
    write_idx(root / "mnist" / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ValueError, match=words) as info:
        load("mnist", data_dir=root, download=False)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)


def test_verify_reads_the_layouts_that_have_no_checksum(root):
    """Extracted CIFAR-10 batches and un-gzipped MNIST files load, so verify must not
    call them missing: it reads them in full (no MD5 is published for them)."""
    assert verify("cifar10", data_dir=root) == {
        "cifar-10-batches-bin/": "read (no checksum; 200 train + 30 test images)"
    }
    gz = root / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = gz.with_suffix("")
    raw.write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    assert verify("mnist", data_dir=root)["t10k-images-idx3-ubyte"] == "read (no checksum)"
    raw.write_bytes(raw.read_bytes()[:-100])  # truncated
    state = verify("mnist", data_dir=root)["t10k-images-idx3-ubyte"]
    assert state.startswith("unreadable: ") and "t10k-images" in state
    batch = root / "cifar10" / "cifar-10-batches-bin" / "test_batch.bin"
    batch.write_bytes(batch.read_bytes()[:-5])
    assert verify("cifar10", data_dir=root)["cifar-10-batches-bin/"].startswith("unreadable: ")


def test_verify_extracts_no_archive(root):
    """An unverified binary archive alone: verify says the download is missing and
    leaves the folder as it was (the loader would extract it)."""
    folder = root / "cifar10"
    batches = folder / "cifar-10-batches-bin"
    with tarfile.open(folder / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(batches, arcname="cifar-10-batches-bin")
    for f in batches.iterdir():
        f.unlink()
    batches.rmdir()
    before = sorted(p.name for p in folder.iterdir())
    assert verify("cifar10", data_dir=root) == {"cifar-10-python.tar.gz": "missing"}
    assert sorted(p.name for p in folder.iterdir()) == before


def test_verify_digits_reads_scikit_learns_copy():
    pytest.importorskip("sklearn")
    assert list(verify("digits").values()) == ["read (no checksum)"]


# ------------------------------------------------------------------------- splits


def test_digits_needs_sklearn(monkeypatch):
    import glassnet.data.datasets as datasets

    monkeypatch.setattr(datasets, "_digits_file", lambda: None)  # no data file found...
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # ...and the import fails
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        load("digits")


def test_digits_read_from_sklearns_file_equal_its_loader(monkeypatch):
    """The digits come from scikit-learn's data file without importing scikit-learn;
    where that file is not found, from load_digits: the same images and labels."""
    pytest.importorskip("sklearn")
    import glassnet.data.datasets as datasets

    assert datasets._digits_file() is not None
    direct = datasets._read_digits()
    monkeypatch.setattr(datasets, "_digits_file", lambda: None)
    loaded = datasets._read_digits()
    for a, b in zip(direct, loaded):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert direct[0].shape[1:] == (1, 8, 8) and direct[0].dtype == np.uint8


def test_digits_fixed_test_split():
    pytest.importorskip("sklearn")
    a, b = load("digits", seed=0), load("digits", seed=7, val_size=100)
    assert a.n_train + a.n_test == 1797 and a.n_test == 359 and b.n_val == 100
    np.testing.assert_array_equal(a.images("test"), b.images("test"))  # whatever the seed
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.images("test").max() == 255 and a.input_shape == (1, 8, 8)
    totals = np.bincount(a.y_train, minlength=10) + np.bincount(a.y_test, minlength=10)
    assert np.all(np.abs(np.bincount(a.y_test, minlength=10) - totals * 359 / 1797) < 1)
    assert a.x_train.dtype == np.float32 and a.mean.shape == (1,)


@pytest.mark.parametrize("val_size, expected", [(0.2, 100), (0.1, 50), (37, 37), (1, 1)])
def test_val_split_sizes_and_stratification(root, val_size, expected):
    ds = load("mnist", data_dir=root, val_size=val_size, seed=3)
    assert ds.n_val == expected and ds.n_train == N_TRAIN - expected
    full = np.bincount(unbalanced_labels(N_TRAIN, 1), minlength=10)
    share = full * expected / N_TRAIN
    assert np.all(np.abs(np.bincount(ds.y_val, minlength=10) - share) < 1)
    train_ids, val_ids = ids_of(ds, "train"), ids_of(ds, "val")
    assert not set(train_ids) & set(val_ids)
    assert sorted(np.concatenate([train_ids, val_ids])) == list(range(N_TRAIN))
    assert np.all(np.diff(train_ids) > 0)  # kept in file order
    labels = unbalanced_labels(N_TRAIN, 1)
    np.testing.assert_array_equal(ds.y_val, labels[val_ids])


def test_split_determinism(root):
    a = load("mnist", data_dir=root, val_size=0.2, seed=1)
    b = load("mnist", data_dir=root, val_size=0.2, seed=1)
    c = load("mnist", data_dir=root, val_size=0.2, seed=2)
    np.testing.assert_array_equal(ids_of(a, "val"), ids_of(b, "val"))
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert set(ids_of(a, "val")) != set(ids_of(c, "val"))


def test_train_size_subsample(root):
    full = load("mnist", data_dir=root, val_size=100, seed=4)
    for train_size, expected in [(0.5, 200), (123, 123), (1.0, 400), (400, 400)]:
        ds = load("mnist", data_dir=root, val_size=100, train_size=train_size, seed=4)
        assert ds.n_train == expected
        np.testing.assert_array_equal(ids_of(ds, "val"), ids_of(full, "val"))  # val unchanged
        assert set(ids_of(ds, "train")) <= set(ids_of(full, "train"))
        share = np.bincount(full.y_train, minlength=10) * expected / full.n_train
        assert np.all(np.abs(np.bincount(ds.y_train, minlength=10) - share) < 1)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"val_size": 1.0}, ValueError),
        ({"val_size": 1.5}, ValueError),
        ({"val_size": -0.1}, ValueError),
        ({"val_size": -3}, ValueError),
        ({"val_size": N_TRAIN}, ValueError),
        ({"val_size": 0.0001}, ValueError),
        ({"val_size": True}, TypeError),
        ({"val_size": "0.1"}, TypeError),
        ({"train_size": 0}, ValueError),
        ({"train_size": 0.0}, ValueError),
        ({"train_size": 1.2}, ValueError),
        ({"val_size": 100, "train_size": 401}, ValueError),
        ({"train_size": "all"}, TypeError),
        ({"seed": -1}, ValueError),
        ({"seed": 1.5}, ValueError),
    ],
)
def test_bad_split_arguments(root, kwargs, error):
    with pytest.raises(error):
        load("mnist", data_dir=root, **kwargs)


def test_train_size_error_explains(root):
    with pytest.raises(ValueError, match="only 400 training images remain"):
        load("mnist", data_dir=root, val_size=100, train_size=401)


# ------------------------------------------------------------------- normalisation


def test_normalisation_uses_train_only(root):
    ds = load("cifar10", data_dir=root, val_size=0.25, seed=0)
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 2, 3)), 1, atol=1e-5)
    train_raw = ds.images("train", layout="NCHW").astype(np.float64) / 255
    np.testing.assert_allclose(ds.mean, train_raw.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(ds.std, train_raw.std(axis=(0, 2, 3)), rtol=1e-5)
    # val and test are shifted by the *train* statistics
    for split in ("val", "test"):
        raw = ds.images(split, layout="NCHW") / 255
        np.testing.assert_allclose(ds.denormalize(ds.split(split)[0]), raw, atol=1e-6)
        assert abs(ds.split(split)[0].mean()) > 1e-4 or split == "val"
    assert ds.mean.shape == (3,) and ds.std.dtype == np.float32


def test_no_normalisation_gives_unit_interval(root):
    ds = load("mnist", data_dir=root, normalize=False)
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    np.testing.assert_array_equal(ds.x_test * 255, ds.images("test", layout="NCHW"))
    assert ds.mean.tolist() == [0.0] and ds.std.tolist() == [1.0]


def test_images_match_floats(root):
    ds = load("mnist", data_dir=root)
    back = np.round(ds.denormalize(ds.x_test) * 255)
    np.testing.assert_array_equal(back, ds.images("test", layout="NCHW"))
    with pytest.raises(ValueError):
        ds.images("holdout")
    with pytest.raises(ValueError):
        ds.images("test", layout="HWC")


# --------------------------------------------------------- the real files (skip if absent)

REAL_ROOT = os.environ.get("GLASSNET_DATA")


def _real(name: str) -> Dataset:
    if not REAL_ROOT or not {i.name: i for i in available(REAL_ROOT)}[name].present:
        pytest.skip(f"{name} files not found under GLASSNET_DATA={REAL_ROOT!r}")
    start = time.perf_counter()
    ds = load(name, data_dir=REAL_ROOT, download=False, normalize=False)
    ds.load_seconds = time.perf_counter() - start
    return ds


def channel_mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std, float32 temporaries, float64 sums (no 1 GB float64 copy)."""
    stats = []
    for c in range(x.shape[1]):
        v = x[:, c]
        mean = v.mean(dtype=np.float64)
        d = v - np.float32(mean)
        stats.append((mean, np.sqrt(np.square(d).mean(dtype=np.float64))))
    return tuple(np.array(s) for s in zip(*stats))


@pytest.fixture(scope="module")
def real_cache():
    return {}


def real(name, cache):
    if name not in cache:
        cache[name] = _real(name)
    return cache[name]


@pytest.mark.parametrize(
    "name, train_start, test_start, mean, std",
    [
        ("mnist", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9], 0.1307, 0.3081),
        ("fashion-mnist", [9, 0, 0, 3, 0, 2, 7, 2, 5, 5], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7], 0.2860,
         0.3530),
    ],
)  # fmt: skip
def test_real_mnist_like(real_cache, name, train_start, test_start, mean, std):
    ds = real(name, real_cache)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.y_train[:10].tolist() == train_start and ds.y_test[:10].tolist() == test_start
    pixel_mean, pixel_std = channel_mean_std(ds.x_train)
    assert pixel_mean[0] == pytest.approx(mean, abs=5e-5)
    assert pixel_std[0] == pytest.approx(std, abs=5e-5)
    assert ds.notes == [] and ds.load_seconds < 10
    normalised = load(name, data_dir=REAL_ROOT, download=False, val_size=0.1)
    assert normalised.mean[0] == pytest.approx(mean, abs=1e-3) and normalised.n_val == 6000


def test_real_cifar10(real_cache):
    ds = real("cifar10", real_cache)
    assert ds.x_train.shape == (50000, 3, 32, 32) and ds.x_test.shape == (1000, 3, 32, 32)
    assert ds.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert ds.y_test[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    pixel_mean, pixel_std = channel_mean_std(ds.x_train)
    np.testing.assert_allclose(pixel_mean, [0.4914, 0.4822, 0.4465], atol=5e-5)
    np.testing.assert_allclose(pixel_std, [0.2470, 0.2435, 0.2616], atol=5e-5)
    assert ds.n_test == 1000 and "1000 of the 10000" in ds.notes[0]
    assert ds.load_seconds < 20


def test_a_data_dir_that_is_a_file_is_named_as_such(tmp_path, monkeypatch):
    from glassnet import data

    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(NotADirectoryError, match=r"notes.txt \(data_dir, --data-dir\) is a file"):
        data.load("mnist", data_dir=a_file, download=False)
    monkeypatch.setenv("GLASSNET_DATA", str(a_file))
    with pytest.raises(NotADirectoryError, match=r"\(\$GLASSNET_DATA\) is a file"):
        data.load("mnist", download=False)
