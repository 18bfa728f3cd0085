"""glassnet.kernels.allocator: freed memory is kept for the next step (glibc), and fit uses it."""

import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import glassnet as gn
from glassnet.kernels import allocator

pytestmark = pytest.mark.kernels("fast")  # these test the tuned forms themselves

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# allocate and free an 8 MB array 20 times; print the page faults of the last 19
_FAULTS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from glassnet.kernels import allocator
    print(allocator.keep_freed_memory(sys.argv[1] == "keep"))
    a = np.ones(2 * 2**20, dtype=np.float32); del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(19):
        a = np.ones(2 * 2**20, dtype=np.float32)
        del a
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> tuple[str, int]:
    # NumPy asks for transparent huge pages on arrays of 4 MiB and more: when the kernel
    # has free 2 MiB pages, a fresh 8 MB block then costs ~4 faults instead of ~2,000
    # (a clean-clone CI run saw 95 faults for the 19 blocks), so the count would depend
    # on the machine's memory at that moment. Counted in 4 KiB pages, it does not.
    env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"}
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_kept_memory_is_reused_without_page_faults():
    assert allocator.available()
    took, kept = _faults("keep")
    assert took == "True"
    took, default = _faults("default")
    assert took == "True"
    # glibc's starting thresholds: each 8 MB block is a fresh mmap, hundreds of page
    # faults (measured 500-2,000 a block); reused blocks: next to none
    assert default > 19 * 100, default
    assert kept < 200 and kept * 10 < default, (kept, default)


def test_without_glibc_it_does_nothing(monkeypatch):
    monkeypatch.setattr(allocator, "_mallopt", False)
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("", ""))
    assert allocator.keep_freed_memory() is False
    assert allocator.available() is False
    monkeypatch.setattr(allocator, "_mallopt", False)  # looked up again by the next test


@pytest.mark.parametrize(
    "value, expected",
    [(None, True), ("1", True), ("yes", True), ("0", False), ("off", False), (" False ", False)],
)
def test_environment_switch(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("GLASSNET_KEEP_FREED_MEMORY", raising=False)
    else:
        monkeypatch.setenv("GLASSNET_KEEP_FREED_MEMORY", value)
    assert allocator.enabled_by_environment() is expected


@pytest.mark.parametrize(
    "setting, mode, calls", [("1", "fast", 1), ("0", "fast", 0), ("1", "textbook", 0)]
)
def test_fit_keeps_freed_memory_unless_switched_off(monkeypatch, setting, mode, calls):
    """fit calls mallopt unless GLASSNET_KEEP_FREED_MEMORY=0 or in textbook mode."""
    monkeypatch.setattr(gn.kernels.mode, "_mode", mode)
    seen = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda enable=True: seen.append(enable))
    monkeypatch.setenv("GLASSNET_KEEP_FREED_MEMORY", setting)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.integers(0, 2, 32)
    model = gn.nn.Sequential(gn.nn.Linear(4, 2))
    gn.train.fit(model, (x, y), epochs=1, batch_size=16, progress=False, eval_test=False)
    assert seen == [True] * calls
