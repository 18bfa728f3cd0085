"""glassnet.kernels' switch (use, get_mode, GLASSNET_KERNELS), its plans, and the old
import paths of what moved into it."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from glassnet import kernels, nn


@pytest.mark.kernels("fast")
def test_use_switches_for_good_or_inside_a_with_block_only():
    assert kernels.get_mode() == "fast" and kernels.active()
    with kernels.use("textbook") as switch:
        assert kernels.get_mode() == "textbook" and not kernels.active()
        assert "textbook" in repr(switch)
        with pytest.raises(RuntimeError), kernels.use("fast"):
            assert kernels.active()
            raise RuntimeError("left by an exception")
        assert kernels.get_mode() == "textbook"  # the mode before the inner block
    assert kernels.get_mode() == "fast"
    kernels.use("textbook")  # not as a context manager: from now on
    assert kernels.get_mode() == "textbook"  # (the autouse fixture restores the mode)


@pytest.mark.kernels("fast")
@pytest.mark.parametrize("bad", ["Fast", "", None, "slow"])
def test_use_names_a_bad_mode(bad):
    with pytest.raises(ValueError, match="must be 'fast' or 'textbook'"):
        kernels.use(bad)
    assert kernels.get_mode() == "fast"


@pytest.mark.parametrize(
    "value, mode", [("textbook", "textbook"), (" Fast ", "fast"), ("", "fast")]
)
def test_the_environment_variable_sets_the_mode_at_import(value, mode):
    code = "import glassnet; print(glassnet.kernels.get_mode())"
    env = {**os.environ, "GLASSNET_KERNELS": value}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.split() == [mode], done.stderr


def test_a_bad_environment_variable_is_one_clear_error():
    """``import glassnet`` works (and changes no environment variable); the first layer
    to run says what is wrong, and every ``glassnet`` command says it in one line."""
    code = (
        "import os; before = dict(os.environ); import glassnet; "
        "assert dict(os.environ) == before; "
        "glassnet.nn.ReLU()(glassnet.nn.Linear(2, 2)(__import__('numpy').ones((1, 2))))"
    )
    env = {**os.environ, "GLASSNET_KERNELS": "turbo"}
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    message = "GLASSNET_KERNELS must be 'fast' or 'textbook', got 'turbo'"
    assert message in done.stderr.splitlines()[-1]
    cli = [sys.executable, "-m", "glassnet", "summary", "lenet5"]
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"glassnet summary: error: the environment variable {message}"
    ]


@pytest.mark.kernels("fast")
def test_a_layer_plans_once_per_mode_and_shape_and_forgets_on_request():
    conv = nn.Conv2d(3, 4, 5)
    x = np.zeros((2, 3, 9, 9), dtype=np.float32)
    conv(x)
    with kernels.use("textbook"):
        conv(x)
    conv(x[:1])
    plans = list(conv.__dict__["_kernel_plans"].values())
    assert [p.form for p in plans] == ["by kernel rows", "textbook", "by kernel rows"]
    assert plans[0].in_shape == (2, 3, 9, 9) and plans[0].out_shape == (2, 4, 5, 5)
    assert plans[0].fast and not plans[1].fast
    model = nn.Sequential(conv)
    kernels.forget_plans(model)
    assert "_kernel_plans" not in conv.__dict__
    assert "_kernel_plans" not in conv.state_dict()  # never a parameter or buffer


def test_the_old_import_paths_still_work():
    """What moved into glassnet.kernels is still importable where it was."""
    import glassnet.allocator
    import glassnet.blas_spin
    import glassnet.threads
    from glassnet.nn.conv import BLOCK_BYTES, KEEP_BYTES
    from glassnet.nn.im2col import col2im_phases, rows_pads

    assert glassnet.threads is kernels.threads  # the same module: settings reach it
    assert glassnet.allocator is kernels.allocator
    assert glassnet.blas_spin is kernels.blas_spin
    assert (BLOCK_BYTES, KEEP_BYTES) == (kernels.conv.BLOCK_BYTES, kernels.conv.KEEP_BYTES)
    assert rows_pads is kernels.im2col.rows_pads
    assert col2im_phases is kernels.im2col.col2im_phases
    assert glassnet.set_num_threads is kernels.threads.set_num_threads
    with pytest.raises(AttributeError):
        glassnet.nn.conv.NOT_A_SETTING  # noqa: B018


class _RecordingBlas:
    """Stands in for OpenBLAS's thread-count functions and records every change."""

    def __init__(self):
        self.count, self.changes = 2, []

    def get(self) -> int:
        return self.count

    def set(self, n: int) -> None:
        self.changes.append(n)
        self.count = n


@pytest.mark.parametrize("mode", ["textbook", "fast"])
def test_only_fast_mode_changes_blas_thread_count_or_starts_threads(monkeypatch, mode):
    """A training step of a ResNet block, its layers as large as the thread rule asks:
    fast mode hands blocks to glassnet's threads (BLAS's process-wide count set to 1 and
    back); textbook mode touches neither (docs/kernels.md)."""
    from _nets import resnet_block

    blas = _RecordingBlas()
    monkeypatch.setattr(kernels.threads, "_blas", blas)
    monkeypatch.setattr(kernels.threads, "_requested", 2)
    monkeypatch.setattr(kernels.conv, "THREADED_BYTES", 1)
    monkeypatch.setattr(kernels.conv, "THREADED_BLOCK_BYTES", 1)
    monkeypatch.setattr(kernels.threads, "SLICES_MIN_BYTES", 1)
    started = [w for w in kernels.threads._workers]
    model = resnet_block(3, 8, head=True)
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    with kernels.use(mode):
        y = model(x)
        model.backward(np.ones_like(y))
    if mode == "textbook":
        assert blas.changes == []
        assert kernels.threads._workers == started
    else:
        assert blas.changes and blas.changes[0] == 1 and blas.count == 2  # set back after


def test_run_records_note_the_mode():
    from glassnet.io import machine_info

    with kernels.use("textbook"):
        assert machine_info()["kernels"] == "textbook"
    with kernels.use("fast"):
        assert machine_info()["kernels"] == "fast"
