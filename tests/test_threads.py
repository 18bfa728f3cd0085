"""glassnet's own threads (glassnet.kernels.threads): the thread count setting, parallel_map's
contract (order, errors, nesting, BLAS's count restored), and the layers that use it
giving the same numbers, bit for bit, with one thread or two."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

import glassnet as gn
from glassnet import nn
from glassnet.kernels import conv as conv_module
from glassnet.kernels import threads

pytestmark = pytest.mark.kernels("fast")  # these test the tuned forms themselves

needs_blas = pytest.mark.skipif(
    not threads.blas_threads_controllable(),
    reason="NumPy's BLAS is not an OpenBLAS glassnet can set the thread count of",
)


@pytest.fixture(autouse=True)
def _restore_setting():
    before = threads._requested
    yield
    threads._requested = before


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive int"):
            gn.set_num_threads(bad)
    gn.set_num_threads(3)
    assert gn.get_num_threads() == (3 if threads.blas_threads_controllable() else 1)


@needs_blas
def test_num_threads_from_the_environment(monkeypatch):
    threads._requested = None
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "3")
    assert gn.get_num_threads() == 3
    for bad in ("0", "two", "-2"):
        monkeypatch.setenv("GLASSNET_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="GLASSNET_NUM_THREADS"):
            gn.get_num_threads()
    monkeypatch.delenv("GLASSNET_NUM_THREADS")
    assert gn.get_num_threads() == threads._get_blas().get()  # default: BLAS's count


@needs_blas
def test_numpys_own_openblas_comes_first_when_scipy_brings_another():
    pytest.importorskip("scipy.linalg")  # SciPy's wheel loads its own OpenBLAS
    paths = threads._candidate_libraries()
    site = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))  # as maps names it
    assert paths and paths[0].startswith(os.path.join(site, "numpy"))


@needs_blas
def test_parallel_map_uses_the_threads_and_keeps_the_order():
    gn.set_num_threads(2)
    idents = set()
    # The first two items wait for each other: whichever thread takes one blocks until
    # another thread has taken the other, so both threads must have run an item. (A
    # sleep instead let a loaded machine run every item on the caller: flaky.) The
    # timeout only turns "the second thread never came" into a failure, not a hang.
    both = threading.Barrier(2, timeout=60)

    def work(i):
        idents.add(threading.get_ident())
        if i < 2:
            both.wait()
        return i * i

    assert threads.parallel_map(work, range(8)) == [i * i for i in range(8)]
    assert len(idents) == 2
    assert threading.get_ident() in idents  # the caller takes part


@needs_blas
def test_parallel_map_sets_blas_to_one_thread_inside_and_restores_it():
    gn.set_num_threads(2)
    blas = threads._get_blas()
    before = blas.get()
    inside = threads.parallel_map(lambda _: blas.get(), range(4))
    assert inside == [1] * 4
    assert blas.get() == before

    def fail(i):
        if i == 1:
            raise KeyError("item 1")
        return i

    with pytest.raises(KeyError, match="item 1"):
        threads.parallel_map(fail, range(6))
    assert blas.get() == before


@needs_blas
def test_parallel_map_stops_starting_items_after_an_error_and_raises_it():
    gn.set_num_threads(2)
    started = []

    def work(i):
        started.append(i)
        time.sleep(0.005)
        if i == 2:
            raise ValueError(f"bad item {i}")
        return i

    with pytest.raises(ValueError, match="bad item 2"):
        threads.parallel_map(work, range(40))
    assert 2 in started and len(started) < 10  # the rest never started
    assert threads.parallel_map(lambda i: i, range(5)) == list(range(5))  # usable again


@needs_blas
def test_interrupt_while_waiting_still_waits_for_the_worker(monkeypatch):
    """Ctrl-C while the caller waits for a worker: parallel_map raises it only once
    the worker is idle again (its next task must not overlap this one), with BLAS's
    thread count restored."""
    gn.set_num_threads(2)
    blas = threads._get_blas()
    before = blas.get()
    threads.parallel_map(lambda i: i, range(2))  # the worker exists
    real_wait = threads._Worker.wait
    calls = []

    def wait_interrupted_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real_wait(self)

    monkeypatch.setattr(threads._Worker, "wait", wait_interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        threads.parallel_map(lambda i: time.sleep(0.01), range(20))
    assert len(calls) == 2  # waited again after the interrupt
    assert threads._workers[0]._done.is_set()  # idle when parallel_map returned
    assert blas.get() == before
    monkeypatch.setattr(threads._Worker, "wait", real_wait)
    assert threads.parallel_map(lambda i: 2 * i, range(50)) == [2 * i for i in range(50)]


@needs_blas
def test_interrupt_inside_an_item_stops_the_region():
    gn.set_num_threads(2)
    main = threading.get_ident()
    started = []

    def work(i):
        started.append(i)
        time.sleep(0.005)
        if threading.get_ident() == main and len(started) > 4:
            raise KeyboardInterrupt
        return i

    with pytest.raises(KeyboardInterrupt):
        threads.parallel_map(work, range(100))
    assert len(started) < 20


@needs_blas
def test_nested_parallel_map_runs_serially_without_deadlock():
    gn.set_num_threads(2)

    def outer(i):
        return threads.parallel_map(lambda j: (i, j), range(3))

    assert threads.parallel_map(outer, range(4)) == [[(i, j) for j in range(3)] for i in range(4)]


def _child_map(queue):
    gn.set_num_threads(2)
    queue.put(threads.parallel_map(lambda i: i + 1, range(6)))


@needs_blas
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_parallel_map_works_in_a_forked_child():
    gn.set_num_threads(2)
    threads.parallel_map(lambda i: i, range(4))  # the parent has started its helper
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_map, args=(queue,))
    child.start()
    result = queue.get(timeout=60)
    child.join(timeout=60)
    assert result == list(range(1, 7)) and child.exitcode == 0


def test_batch_slices_cover_the_batch_and_depend_on_sizes_only(monkeypatch):
    monkeypatch.setattr(threads, "SLICES_MIN_BYTES", 100)
    for n in (1, 3, 4, 10, 129):
        for nbytes in (10, 10**6):
            slices = threads.batch_slices(n, nbytes)
            covered = [i for s in slices for i in range(n)[s]]
            assert covered == list(range(n))
            expected = 1 if nbytes < 100 else min(threads.BATCH_PIECES, n)
            assert len(slices) == expected
            gn.set_num_threads(1)
            assert threads.batch_slices(n, nbytes) == slices  # not the thread count


def _run_with(num_threads, fn):
    gn.set_num_threads(num_threads)
    return fn()


def _assert_same_bits(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def _conv_bits_on_one_and_two_threads(channels, kernel, args, seed):
    """y, dL/dx and dL/dW of a fresh Conv2d (fixed weights) run with 1, then 2 threads."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((9, channels[0], 10, 9)).astype(np.float32)
    g = rng.standard_normal((9, channels[1], *nn.Conv2d(*channels, kernel, **args)(x).shape[2:]))
    g = g.astype(np.float32)

    def run():
        layer = nn.Conv2d(*channels, kernel, **args)
        layer.weight.data[...] = rng_weights(layer.weight.shape)
        if layer.bias is not None:
            layer.bias.data[...] = 0.1
        y = layer(x)
        dx = layer.backward(g)
        return y, dx, layer.weight.grad.copy()

    return _run_with(1, run), _run_with(2, run)


@needs_blas
@pytest.mark.parametrize("channels", [(4, 6), (6, 4)])  # dx by scatter / by gather
@pytest.mark.parametrize(
    "args",
    [dict(padding=1), dict(stride=2, padding=1), dict(groups=2, padding=1, bias=False)],
)
def test_conv_on_threads_gives_the_same_bits_as_one_thread(monkeypatch, channels, args):
    """A layer large enough for threads (made so here by lowering the limit) cuts the
    same blocks whatever the thread count, and dL/dW adds their parts along the same
    runs of blocks, each in block order."""
    monkeypatch.setattr(conv_module, "THREADED_BYTES", 0)
    monkeypatch.setattr(conv_module, "THREADED_BLOCK_BYTES", 3000)  # blocks of ~1 sample
    monkeypatch.setattr(conv_module, "DW_RUNS", 3)  # runs of several blocks
    _assert_same_bits(*_conv_bits_on_one_and_two_threads(channels, 3, args, seed=3))
    assert len(conv_module._blocks(9, channels[0] * 9 * 10 * 11 * 4)) > 2


@needs_blas
def test_conv_by_kernel_rows_on_threads_gives_the_same_bits_as_one_thread(monkeypatch):
    """The kernel-rows form (a 5-wide kernel) in blocks on threads: the same bits."""
    monkeypatch.setattr(conv_module, "THREADED_BYTES", 0)
    monkeypatch.setattr(conv_module, "THREADED_BLOCK_BYTES", 6000)  # blocks of ~1 sample
    monkeypatch.setattr(conv_module, "DW_RUNS", 3)  # runs of several blocks
    assert conv_module._by_kernel_rows(nn.Conv2d(4, 6, 5, padding=2))
    _assert_same_bits(*_conv_bits_on_one_and_two_threads((4, 6), 5, dict(padding=2), seed=4))


def test_block_shares_are_added_along_fixed_runs_in_block_order(monkeypatch):
    """_map_blocks_summed: DW_RUNS runs of consecutive blocks, each summed in block
    order, then the runs in order; float32 parts whose sum depends on the order."""
    monkeypatch.setattr(conv_module, "THREADED_BYTES", 0)  # blocks on threads
    monkeypatch.setattr(conv_module, "THREADED_BLOCK_BYTES", 100)  # one sample a block
    monkeypatch.setattr(conv_module, "DW_RUNS", 3)
    rng = np.random.default_rng(0)
    parts = rng.standard_normal((10, 50)) * 10.0 ** rng.integers(-4, 5, (10, 1))
    parts = parts.astype(np.float32)
    blocks = conv_module._blocks(10, 100)
    assert len(blocks) == 10

    def share(block):
        return parts[block.start].copy()

    want = parts[0] + parts[1] + parts[2]  # runs of 3, 3 and 4 blocks (even_slices)
    want = want + (parts[3] + parts[4] + parts[5])
    want = want + (parts[6] + parts[7] + parts[8] + parts[9])
    for count in (1, 2):
        got = _run_with(count, lambda: conv_module._map_blocks_summed(share, 10, 100))
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(want, parts[::-1].sum(axis=0))  # the order shows
    assert conv_module._map_blocks_summed(lambda block: None, 10, 100) is None


@pytest.mark.parametrize(
    "n, bytes_per_sample, threaded",
    [
        (128, 288 * 8 * 8 * 4, True),
        (128, 144 * 16 * 16 * 4, True),
        (7, 10**6, True),
        (64, 10**5, False),
    ],
)
def test_conv_blocks_share_the_batch_out_evenly(monkeypatch, n, bytes_per_sample, threaded):
    """Blocks cover the batch in order, fit the byte limit, differ in size by one at
    most, and a threaded layer has a multiple of BLOCK_COUNT_MULTIPLE of them where
    the batch allows (ResNet's 32->64 stride-2 layer: 6 blocks of 21-22, not 4 x 28 + 16)."""
    monkeypatch.setattr(conv_module, "THREADED_BYTES", 0 if threaded else 10**12)
    blocks = conv_module._blocks(n, bytes_per_sample)
    assert blocks[0].start == 0 and blocks[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(blocks[:-1], blocks[1:]))
    sizes = [b.stop - b.start for b in blocks]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    limit = conv_module.THREADED_BLOCK_BYTES if threaded else conv_module.BLOCK_BYTES
    assert max(sizes) == 1 or max(sizes) * bytes_per_sample <= limit
    if threaded:
        assert len(blocks) % conv_module.BLOCK_COUNT_MULTIPLE == 0 or len(blocks) == n
    else:
        assert len(blocks) == -(-n // (limit // bytes_per_sample))


@needs_blas
@pytest.mark.parametrize("args", [dict(stride=2, bias=False), dict(groups=2)])
def test_pointwise_conv_on_threads_gives_the_same_bits_as_one_thread(monkeypatch, args):
    """The 1x1 path cuts the batch by size only; dL/dW adds the slices' parts in order."""
    monkeypatch.setattr(threads, "SLICES_MIN_BYTES", 0)  # every pass in BATCH_PIECES
    _assert_same_bits(*_conv_bits_on_one_and_two_threads((4, 6), 1, args, seed=6))
    assert len(threads.batch_slices(9, 1)) == threads.BATCH_PIECES


@needs_blas
@pytest.mark.parametrize(
    "pool",
    [
        lambda: nn.MaxPool2d(2),
        lambda: nn.MaxPool2d(3, stride=2, padding=1),  # overlapping windows
        lambda: nn.AvgPool2d(2),
        lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    ],
)
def test_pooling_on_threads_gives_the_same_bits_as_one_thread(monkeypatch, pool):
    monkeypatch.setattr(threads, "SLICES_MIN_BYTES", 0)  # every pass in BATCH_PIECES
    rng = np.random.default_rng(8)
    x = rng.standard_normal((9, 3, 11, 10)).astype(np.float32)
    x[:, :, 4, 4] = x[:, :, 4, 5]  # ties: the first maximum wins
    g = rng.standard_normal(pool()(x).shape).astype(np.float32)

    def run():
        layer = pool()
        y = layer(x)
        return y, layer.backward(g)

    one, two = _run_with(1, run), _run_with(2, run)
    _assert_same_bits(one, two)
    monkeypatch.setattr(threads, "SLICES_MIN_BYTES", 10**12)  # the whole batch at once
    _assert_same_bits(one, _run_with(1, run))


def rng_weights(shape):
    return np.random.default_rng(7).standard_normal(shape).astype(np.float32) * 0.1


@needs_blas
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_relu_and_skip_sum_on_threads_give_the_same_bits(monkeypatch, training):
    monkeypatch.setattr(threads, "SLICES_MIN_BYTES", 0)  # every pass in BATCH_PIECES
    rng = np.random.default_rng(4)
    x = rng.standard_normal((10, 5, 6, 7)).astype(np.float32) * 3 + 1
    g = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        block = nn.Residual(nn.Sequential(nn.BatchNorm2d(5), nn.ReLU()))
        block.train(training)
        if not training:
            block.body[0].running_mean[...] = 0.5
            block.body[0].running_var[...] = 2.0
        y = block(x)
        dx = block.backward(g)
        bn = block.body[0]
        return y, dx, bn.weight.grad.copy(), bn.bias.grad.copy(), bn.running_var.copy()

    one, two = _run_with(1, run), _run_with(2, run)
    _assert_same_bits(one, two)
    monkeypatch.setattr(threads, "SLICES_MIN_BYTES", 10**12)  # one piece: the plain sums
    plain = _run_with(1, run)
    for a, b in zip(one, plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@needs_blas
def test_inplace_relu_on_threads():
    x = np.random.default_rng(5).standard_normal((8, 3, 4, 4)).astype(np.float32)
    expected = np.maximum(x, 0)
    gn.set_num_threads(2)
    threads_min = threads.SLICES_MIN_BYTES
    threads.SLICES_MIN_BYTES = 0
    try:
        layer = nn.ReLU(inplace=True)
        y = layer(x)
        dx = layer.backward(np.ones_like(x))
    finally:
        threads.SLICES_MIN_BYTES = threads_min
    assert y is x
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(dx, (expected > 0).astype(np.float32))
