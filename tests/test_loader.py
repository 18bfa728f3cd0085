"""DataLoader batching, seeding and resuming; the batch transforms."""

from __future__ import annotations

import json

import numpy as np
import pytest

import glassnet
from glassnet.data import (
    Compose,
    DataLoader,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    default_train_transform,
)


def data(n=10, shape=(1, 2, 2)):
    x = np.arange(n * int(np.prod(shape)), dtype=np.float32).reshape(n, *shape)
    return x, np.arange(n)


def epoch(loader):
    return [(xb.copy(), yb.copy()) for xb, yb in loader]


# ----------------------------------------------------------------------- DataLoader


@pytest.mark.parametrize(
    "n, batch_size, drop_last, sizes",
    [(10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]), (9, 3, True, [3, 3, 3]),
     (2, 5, False, [2]), (2, 5, True, [])],
)  # fmt: skip
def test_batch_count(n, batch_size, drop_last, sizes):
    x, y = data(n)
    loader = DataLoader(x, y, batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(yb) for _, yb in loader] == sizes


def test_unshuffled_order_and_pairs():
    x, y = data(7)
    batches = epoch(DataLoader(x, y, batch_size=3))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), x)


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_sample_once_per_epoch(drop_last):
    x, y = data(103)
    loader = DataLoader(x, y, batch_size=10, shuffle=True, seed=0, drop_last=drop_last)
    orders = []
    for _ in range(3):
        seen = []
        for xb, yb in loader:
            np.testing.assert_array_equal(xb, x[yb])  # x and y stay paired
            seen.append(yb)
        seen = np.concatenate(seen)
        assert len(seen) == (100 if drop_last else 103) and len(set(seen)) == len(seen)
        orders.append(seen)
    assert not np.array_equal(orders[0], orders[1])  # a new permutation each epoch
    assert not np.array_equal(orders[0], np.sort(orders[0]))


def test_seed_determinism():
    x, y = data(50)
    a = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
    b = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
    c = DataLoader(x, y, batch_size=8, shuffle=True, seed=4)
    for _ in range(2):
        ea, eb, ec = epoch(a), epoch(b), epoch(c)
        for (xa, ya), (xb, yb) in zip(ea, eb):
            np.testing.assert_array_equal(ya, yb)
            np.testing.assert_array_equal(xa, xb)
        assert not all(np.array_equal(p[1], q[1]) for p, q in zip(ea, ec))


def test_unseeded_loader_follows_manual_seed():
    x, y = data(50)
    glassnet.manual_seed(11)
    first = epoch(DataLoader(x, y, batch_size=8, shuffle=True))
    glassnet.manual_seed(11)
    again = epoch(DataLoader(x, y, batch_size=8, shuffle=True))
    other = epoch(DataLoader(x, y, batch_size=8, shuffle=True))  # global stream moved on
    assert all(np.array_equal(p[1], q[1]) for p, q in zip(first, again))
    assert not all(np.array_equal(p[1], q[1]) for p, q in zip(first, other))


@pytest.mark.parametrize("stop_after", [0, 1, 3, 5])
def test_state_dict_resumes_bit_identically(stop_after):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((45, 3, 8, 8)).astype(np.float32)
    y = np.arange(45)
    transform = Compose([RandomCrop(8, padding=2), RandomHorizontalFlip()])
    make = lambda seed: DataLoader(  # noqa: E731
        x, y, batch_size=8, shuffle=True, seed=seed, transform=transform
    )
    reference = make(5)
    epoch(reference)  # epoch 1
    it = iter(reference)  # epoch 2, interrupted
    for _ in range(stop_after):
        next(it)
    state = json.loads(json.dumps(reference.state_dict()))  # checkpoints are plain data
    expected = [b for _, b in zip(range(6 - stop_after), it)] + epoch(reference)

    resumed = make(99)  # a different seed: everything comes from the state
    resumed.load_state_dict(state)
    got = epoch(resumed) + epoch(resumed)
    assert len(got) == len(expected)
    for (xe, ye), (xg, yg) in zip(expected, got):
        np.testing.assert_array_equal(ye, yg)
        np.testing.assert_array_equal(xe, xg)
    assert resumed.epoch == reference.epoch == 3


def test_state_dict_after_full_epoch_starts_next():
    x, y = data(20)
    a = DataLoader(x, y, batch_size=6, shuffle=True, seed=1)
    epoch(a)
    b = DataLoader(x, y, batch_size=6, shuffle=True, seed=2)
    b.load_state_dict(a.state_dict())
    for (_, ya), (_, yb) in zip(epoch(a), epoch(b)):
        np.testing.assert_array_equal(ya, yb)


def test_state_dict_mismatch_and_bad_arguments():
    x, y = data(20)
    state = DataLoader(x, y, batch_size=6).state_dict()
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(x, y, batch_size=5).load_state_dict(state)
    with pytest.raises(ValueError, match="drop_last=False, this loader has True"):
        DataLoader(x, y, batch_size=6, drop_last=True).load_state_dict(state)
    with pytest.raises(ValueError, match="shuffle=False, this loader has True"):
        DataLoader(x, y, batch_size=6, shuffle=True).load_state_dict(state)
    old_state = {k: v for k, v in state.items() if k not in ("shuffle", "drop_last")}
    DataLoader(x, y, batch_size=6).load_state_dict(old_state)  # checkpoints from before
    json.dumps(DataLoader(x, y, batch_size=6, seed=np.int64(3)).state_dict())
    with pytest.raises(ValueError, match="samples"):
        DataLoader(x, y[:-1])
    with pytest.raises(ValueError):
        DataLoader(x, y, batch_size=0)
    with pytest.raises(TypeError):
        DataLoader(x, y, batch_size=2.0)
    with pytest.raises(TypeError):
        DataLoader(x, y, transform="flip")


def test_loader_applies_transform_with_its_rng():
    x = np.random.default_rng(0).standard_normal((64, 3, 6, 6)).astype(np.float32)
    y = np.arange(64)
    loader = DataLoader(x, y, batch_size=64, seed=0, transform=RandomHorizontalFlip(1.0))
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb, x[yb][..., ::-1])
    assert "batches=1" in repr(loader)


# ----------------------------------------------------------------------- transforms


def test_random_crop_matches_loop_reference():
    rng_data = np.random.default_rng(1)
    x = rng_data.standard_normal((16, 2, 5, 7)).astype(np.float32)
    crop = RandomCrop((4, 6), padding=2)
    out = crop(x, np.random.default_rng(7))
    # the same draws, done the slow, obvious way
    draws = np.random.default_rng(7)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    top = draws.integers(0, 9 - 4 + 1, size=16)
    left = draws.integers(0, 11 - 6 + 1, size=16)
    expected = np.stack(
        [padded[i, :, t : t + 4, l : l + 6] for i, (t, l) in enumerate(zip(top, left))]
    )
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (16, 2, 4, 6) and out.dtype == np.float32


def test_random_crop_offsets_vary_and_are_seeded():
    x = np.tile(np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4), (200, 1, 1, 1))
    crop = RandomCrop(4, padding=1)
    a = crop(x, np.random.default_rng(0))
    b = crop(x, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    distinct = {sample.tobytes() for sample in a}
    assert len(distinct) == 9  # all 3x3 offsets of the 6x6 padded image occur
    assert np.array_equal(a[(a != 0).sum(axis=(1, 2, 3)) == 16][0], x[0])  # centre = original
    np.testing.assert_array_equal(x[0, 0], np.arange(1, 17).reshape(4, 4))  # input untouched


def test_random_crop_reflect_padding():
    x = np.arange(2 * 1 * 3 * 3, dtype=np.float32).reshape(2, 1, 3, 3)
    out = RandomCrop(5, padding=1, padding_mode="reflect")(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect"))
    with pytest.raises(ValueError):
        RandomCrop(6, padding=1)(x, np.random.default_rng(0))
    with pytest.raises(ValueError):
        RandomCrop(3, padding_mode="wrap")


def test_horizontal_flip_about_half():
    x = np.random.default_rng(0).standard_normal((1000, 1, 3, 4)).astype(np.float32)
    out = RandomHorizontalFlip()(x, np.random.default_rng(1))
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped ^ kept)  # every image is either mirrored or untouched
    assert 0.44 < flipped.mean() < 0.56
    np.testing.assert_array_equal(out, RandomHorizontalFlip()(x, np.random.default_rng(1)))
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x, np.random.default_rng(1)), x)


def test_compose_normalize_and_defaults():
    x = np.random.default_rng(0).uniform(size=(50, 3, 4, 4)).astype(np.float32)
    norm = Normalize(x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3)))
    z = norm(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert z.dtype == np.float32
    pixels = np.array([0, 128, 255], dtype=np.uint8).reshape(1, 1, 1, 3)
    scaled = Normalize([127.5], [63.75])(pixels)  # uint8 in: floats out, no wrap-around
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.ravel(), [-2.0, 0.5 / 63.75, 2.0], rtol=1e-6)
    flip_all = RandomHorizontalFlip(1.0)
    composed = Compose([norm, flip_all])(x, np.random.default_rng(0))
    np.testing.assert_allclose(composed, z[..., ::-1], rtol=1e-6)
    recipe = default_train_transform("CIFAR-10")
    assert isinstance(recipe, Compose)
    crop, flip = recipe.transforms
    assert isinstance(crop, RandomCrop) and crop.size == (32, 32) and crop.padding == 4
    assert isinstance(flip, RandomHorizontalFlip) and flip.p == 0.5
    assert default_train_transform("mnist") is None and default_train_transform("digits") is None
    with pytest.raises(ValueError):
        default_train_transform("imagenet")


def test_random_transforms_without_a_generator_say_what_they_need():
    x = np.zeros((2, 1, 4, 4), np.float32)
    for transform in (RandomCrop(2), RandomHorizontalFlip(), Compose([RandomCrop(2)])):
        with pytest.raises(TypeError, match="draws random numbers: call it with a NumPy Generator"):
            transform(x) if isinstance(transform, Compose) else transform(x, None)
