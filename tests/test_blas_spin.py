"""glassnet.kernels.blas_spin: OPENBLAS_THREAD_TIMEOUT set before NumPy loads, never over
the user's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from glassnet.kernels import blas_spin

PROBE = """
import ctypes, os, sys
{first}
import numpy
from threadpoolctl import threadpool_info
libs = [p["filepath"] for p in threadpool_info() if p.get("internal_api") == "openblas"]
read = ctypes.CDLL(libs[0]).openblas_thread_timeout() if libs else "no-openblas"
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT"), read)
"""


def probe(first: str, **env) -> list[str]:
    pytest.importorskip("threadpoolctl")
    ours = (blas_spin.ENV_VAR, blas_spin.SWITCH_VAR, "GLASSNET_KERNELS")
    clean = {k: v for k, v in os.environ.items() if k not in ours}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(first=first)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_importing_glassnet_first_reaches_openblas():
    env_value, read = probe("import glassnet")
    assert env_value == str(blas_spin.SPIN_EXPONENT)
    if read != "no-openblas":  # another BLAS ignores the variable
        assert read == str(blas_spin.SPIN_EXPONENT)


def test_the_users_setting_wins():
    assert probe("import glassnet", OPENBLAS_THREAD_TIMEOUT="28")[0] == "28"


def test_too_late_once_numpy_is_loaded():
    env_value, _ = probe("import numpy; import glassnet")
    assert env_value == "None"


def test_set_short_spin_in_process(monkeypatch):
    monkeypatch.setenv(blas_spin.ENV_VAR, "x")  # so that teardown restores the original
    monkeypatch.delenv(blas_spin.ENV_VAR)
    assert blas_spin.set_short_spin() is False  # NumPy is loaded in this process
    assert blas_spin.ENV_VAR not in os.environ
    monkeypatch.delitem(sys.modules, "numpy")
    assert blas_spin.set_short_spin() is True
    assert os.environ[blas_spin.ENV_VAR] == str(blas_spin.SPIN_EXPONENT)
    monkeypatch.setenv(blas_spin.ENV_VAR, "4")
    assert blas_spin.set_short_spin() is False
    assert os.environ[blas_spin.ENV_VAR] == "4"


@pytest.mark.parametrize(
    "switch", [dict(GLASSNET_KERNELS="textbook"), dict(GLASSNET_SHORT_SPIN="0")]
)
def test_switched_off_import_leaves_the_environment_alone(switch):
    assert probe("import glassnet", **switch)[0] == "None"


def test_textbook_mode_import_changes_no_environment_variable():
    """``GLASSNET_KERNELS=textbook``: ``import glassnet`` (and its subpackages) leaves
    ``os.environ`` exactly as it was (docs/kernels.md lists what fast mode changes)."""
    code = (
        "import os; before = dict(os.environ); import glassnet, glassnet.kernels.conv, "
        "glassnet.train, glassnet.study; print(dict(os.environ) == before, "
        "glassnet.kernels.get_mode())"
    )
    env = {k: v for k, v in os.environ.items() if k != blas_spin.ENV_VAR}
    env["GLASSNET_KERNELS"] = "textbook"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "textbook"]
    env["GLASSNET_KERNELS"] = "fast"  # the same check fails in fast mode: it can fail
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "fast"]
