"""ImageFolder and load("folder:PATH") (issue 26): torchvision's layout read with Pillow,
resized and cropped, cached while the files are unchanged; bad input named."""

from __future__ import annotations

import os

import numpy as np
import pytest

import glassnet as gn
from glassnet.data import ImageFolder
from glassnet.data.folder import parse_folder_spec

Image = pytest.importorskip("PIL.Image")


def _write(root, classes=("cat", "dog", "owl"), per_class=4, size=(12, 10), mode="RGB", ext="png"):
    """Random images (width x height = size); returns {relative path: array}."""
    rng = np.random.default_rng(0)
    written = {}
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            a = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(a, mode).save(root / c / f"{i}.{ext}")
            written[f"{c}/{i}.{ext}"] = a
    return written


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_reads_the_layout_exactly(tmp_path, cache):
    written = _write(tmp_path / "imgs")
    folder = ImageFolder(tmp_path / "imgs", cache_dir=cache, progress=False)
    assert folder.classes == ["cat", "dog", "owl"]
    assert folder.images.shape == (12, 3, 10, 12) and folder.images.dtype == np.uint8
    np.testing.assert_array_equal(folder.targets, np.repeat([0, 1, 2], 4))
    for path, image, label in zip(folder.paths, folder.images, folder.targets):
        np.testing.assert_array_equal(image.transpose(1, 2, 0), written[path.replace(os.sep, "/")])
        assert folder.classes[label] == path.split(os.sep)[0]


def test_grey_jpeg_and_bmp_and_channels(tmp_path, cache):
    _write(tmp_path / "g", classes=("a", "b"), mode="L", ext="bmp", per_class=2)
    grey = ImageFolder(tmp_path / "g", cache_dir=cache, progress=False)
    assert grey.images.shape[1] == 1
    rgb = ImageFolder(tmp_path / "g", channels=3, cache_dir=cache, progress=False)
    assert rgb.images.shape[1] == 3
    np.testing.assert_array_equal(rgb.images[:, 0], grey.images[:, 0])
    _write(tmp_path / "j", classes=("a", "b"), ext="jpg", per_class=2)
    assert ImageFolder(tmp_path / "j", cache_dir=cache, progress=False).images.shape[1] == 3


def test_center_and_random_crops(tmp_path, cache):
    written = _write(tmp_path / "imgs", size=(12, 10))  # 12 wide, 10 high
    # resize=10 keeps the images (their shorter side is 10); the crop is the middle 8x8
    folder = ImageFolder(tmp_path / "imgs", size=8, resize=10, cache_dir=cache, progress=False)
    first = written[folder.paths[0].replace(os.sep, "/")]
    np.testing.assert_array_equal(folder.images[0].transpose(1, 2, 0), first[1:9, 2:10])
    rand = [
        ImageFolder(
            tmp_path / "imgs", size=8, resize=10, crop="random", seed=s, cache_dir=cache,
            progress=False,
        ).images
        for s in (0, 0, 1)
    ]  # fmt: skip
    np.testing.assert_array_equal(rand[0], rand[1])  # the seed decides
    assert not np.array_equal(rand[0], rand[2])
    # size alone: the shorter side is resized to the crop, then the centre is cut
    small = ImageFolder(tmp_path / "imgs", size=(6, 5), cache_dir=cache, progress=False)
    assert small.images.shape == (12, 3, 6, 5)


def test_the_cache_is_reused_until_a_file_changes(tmp_path, cache):
    _write(tmp_path / "imgs")
    first = ImageFolder(tmp_path / "imgs", cache_dir=cache, progress=False)
    assert not first.from_cache and len(list(cache.glob("*.npz"))) == 1
    again = ImageFolder(tmp_path / "imgs", cache_dir=cache, progress=False)
    assert again.from_cache
    np.testing.assert_array_equal(again.images, first.images)
    changed = np.zeros((10, 12, 3), np.uint8)
    Image.fromarray(changed).save(tmp_path / "imgs" / "cat" / "0.png")
    os.utime(tmp_path / "imgs" / "cat" / "0.png", ns=(1, 1))  # a new mtime, whatever the clock
    fresh = ImageFolder(tmp_path / "imgs", cache_dir=cache, progress=False)
    assert not fresh.from_cache
    np.testing.assert_array_equal(fresh.images[0], 0)
    # other settings are another cache entry
    assert not ImageFolder(tmp_path / "imgs", size=8, cache_dir=cache, progress=False).from_cache


def test_bad_input_is_named(tmp_path, cache):
    root = tmp_path / "imgs"
    _write(root)
    data = (root / "dog" / "1.png").read_bytes()
    (root / "dog" / "1.png").write_bytes(data[: len(data) // 2])  # cut short
    with pytest.raises(ValueError, match=r"1\.png: not a readable image"):
        ImageFolder(root, cache=False, progress=False)
    (root / "dog" / "1.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"dog.1\.png: not a readable image"):
        ImageFolder(root, cache=False, progress=False)
    (root / "dog" / "1.png").write_bytes(data)
    # files that are not images: skipped with one warning; hidden files silently
    (root / "cat" / "notes.txt").write_text("hello")
    (root / "cat" / ".DS_Store").write_bytes(b"\0")
    with pytest.warns(UserWarning, match=r"skipped 1 file.*notes\.txt"):
        folder = ImageFolder(root, cache_dir=cache, progress=False)
    assert folder.skipped == [os.path.join("cat", "notes.txt")] and len(folder) == 12
    (root / "cat" / "notes.txt").unlink()
    # mixed sizes without a size
    Image.fromarray(np.zeros((7, 7, 3), np.uint8)).save(root / "owl" / "odd.png")
    with pytest.raises(ValueError, match=r"different sizes.*odd\.png.*size="):
        ImageFolder(root, cache=False, progress=False)
    assert ImageFolder(root, size=6, cache=False, progress=False).images.shape[2:] == (6, 6)
    # a class without images, no classes, no folder
    (root / "empty").mkdir()
    with pytest.raises(ValueError, match=r"class 'empty' has no images"):
        ImageFolder(root, cache=False, progress=False)
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(data)
    with pytest.raises(ValueError, match="no class folders"):
        ImageFolder(tmp_path / "flat", progress=False)
    with pytest.raises(FileNotFoundError, match="no such image folder"):
        ImageFolder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="crop must be"):
        ImageFolder(root, crop="middle")


def test_folder_spec_options():
    assert parse_folder_spec("folder:a/b?size=64x48,crop=random,channels=1,resize=72") == (
        "a/b",
        {"size": (64, 48), "crop": "random", "channels": 1, "resize": 72},
    )
    assert parse_folder_spec("folder:x") == ("x", {})
    with pytest.raises(ValueError, match="unknown folder option"):
        parse_folder_spec("folder:x?zoom=2")
    with pytest.raises(ValueError, match="size must be"):
        parse_folder_spec("folder:x?size=big")


def test_load_folder_splits(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _write(tmp_path / "imgs", per_class=10)
    ds = gn.data.load(f"folder:{tmp_path / 'imgs'}?size=8", val_size=3, seed=1)
    assert ds.classes == ["cat", "dog", "owl"]
    assert (ds.n_train, ds.n_val, ds.n_test) == (21, 3, 6)  # 20% test, 2 per class
    assert ds.input_shape == (3, 8, 8) and ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(ds.y_test), [2, 2, 2])
    assert abs(float(ds.x_train.mean())) < 1e-5  # normalised with training statistics
    # the test split does not depend on the run's seed
    other = gn.data.load(f"folder:{tmp_path / 'imgs'}?size=8", val_size=3, seed=2)
    np.testing.assert_array_equal(other.images("test"), ds.images("test"))
    # train/ and test/ folders are the official split
    _write(tmp_path / "split" / "train", per_class=3)
    _write(tmp_path / "split" / "test", per_class=2)
    ds = gn.data.load(f"folder:{tmp_path / 'split'}", val_size=0)
    assert (ds.n_train, ds.n_test) == (9, 6)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*folder:PATH"):
        gn.data.load("imagenet")


def test_a_subset_of_a_datasets_classes():
    ds = gn.data.load("digits?classes=3,1,8", val_size=30)
    assert ds.name == "digits?classes=3,1,8" and ds.classes == ["3", "1", "8"]
    full = gn.data.load("digits")
    for split in ("train", "test"):
        _, y = ds.split(split)
        assert sorted(np.unique(y)) == [0, 1, 2]
    # the test images are the full test set's 3s, 1s and 8s, in order, relabelled
    keep = np.isin(full.y_test, [3, 1, 8])
    np.testing.assert_array_equal(ds.images("test"), full.images("test")[keep])
    np.testing.assert_array_equal(
        ds.y_test, np.array([0, 1, 2])[[{3: 0, 1: 1, 8: 2}[v] for v in full.y_test[keep]]]
    )
    assert gn.data.canonical_name("CIFAR-10?classes=airplane,automobile,ship,truck") == (
        "cifar10?classes=0,1,8,9"
    )
    assert gn.data.canonical_name("mnist?classes=0-4") == "mnist?classes=0,1,2,3,4"
    for bad, message in [
        ("mnist?classes=3", "at least two different classes"),
        ("mnist?classes=2,2", "at least two different classes"),
        ("mnist?size=3", "the one option of a dataset is classes="),
        ("fashion?classes=cat", "'cat' is not a class of fashion-mnist"),
    ]:
        with pytest.raises(ValueError, match=message):
            gn.data.canonical_name(bad)


def test_train_on_a_folder_from_the_cli(tmp_path, monkeypatch, capsys):
    from glassnet.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "imgs", per_class=6, size=(20, 16))
    argv = ["train", "--model", "cnn-pool", "--dataset", "folder:imgs?size=12", "--epochs", "1"]
    assert main([*argv, "--val-size", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Dataset('folder:imgs?size=12', train=11, val=3, test=4" in out
    (run,) = (tmp_path / "runs").iterdir()
    assert "-folder-imgs-" in run.name  # runs/<stamp>-folder-imgs-<model>
    assert main(["evaluate", str(run / "model.safetensors")]) == 0
    assert "(test, 4 images)" in capsys.readouterr().out
    assert main(["train", "--dataset", "folder:nowhere", "--epochs", "1"]) == 2
    assert "no such image folder: nowhere" in capsys.readouterr().err


def test_pillow_reads_the_reports_png_encoder_exactly():
    """viz/png.py stays (the report needs no extra); Pillow checks its files."""
    import io

    from glassnet.viz.png import encode_png

    rng = np.random.default_rng(3)
    for shape in [(5, 7), (5, 7, 1), (6, 4, 3), (3, 9, 4)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        with Image.open(io.BytesIO(encode_png(image))) as decoded:
            decoded.load()
            got = np.asarray(decoded)
        np.testing.assert_array_equal(got, image.reshape(got.shape))
