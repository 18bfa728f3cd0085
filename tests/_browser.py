"""Headless Chromium for the browser tests (the report's and the docs site's), driven
by Playwright: Debian's Chromium, never a downloaded browser. Without the playwright
package or Chromium the tests skip, except under CI=true, where they fail."""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest

CHROMIUM = os.environ.get("GLASSNET_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(ok: bool, why: str) -> None:
    """Skip the test when ``ok`` is false, or fail it under CI=true."""
    if not ok:
        if IN_CI:
            pytest.fail(f"{why} (CI=true: the browser test must run)")
        pytest.skip(why)


@contextlib.contextmanager
def chromium():
    """A launched headless Chromium, closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None, "the playwright Python package is not installed")
    require(
        os.access(CHROMIUM, os.X_OK) or bool(shutil.which(CHROMIUM)),
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or make browser)",
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
