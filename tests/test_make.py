"""How the test set-up tells a user what it installs and what it skips (issue 28, item 11)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import browser_skip_note

ROOT = Path(__file__).resolve().parents[1]


def test_a_browser_skip_says_how_to_enable_the_browser_tests():
    def skipped(name, reason, keywords):
        longrepr = ("tests/test_report_browser.py", 1, f"Skipped: {reason}")
        return SimpleNamespace(keywords={name: 1, **keywords}, longrepr=longrepr)

    stats = {
        "skipped": [
            skipped("test_a", "no Chromium at /usr/bin/chromium", {"browser": 1}),
            skipped("test_b", "no Chromium at /usr/bin/chromium", {"browser": 1}),
            skipped("test_c", "no torch", {}),
        ]
    }
    note = browser_skip_note(stats)
    assert note.startswith("browser tests skipped (no Chromium at /usr/bin/chromium); to run")
    assert "make browser" in note and "apt-get" in note and "playwright" in note
    assert "no torch" not in note
    assert browser_skip_note({"skipped": stats["skipped"][2:]}) is None


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_says_it_installs_chromium_and_how_not_to():
    help_text = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "apt-get" in help_text and "BROWSER=0" in help_text
    plan = subprocess.run(
        ["make", "-n", "browser"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "apt-get install chromium chromium-driver (make test BROWSER=0 skips this)" in plan
    skipped = subprocess.run(
        ["make", "-s", "browser", "BROWSER=0"], cwd=ROOT, capture_output=True, text=True
    )
    assert skipped.returncode == 0 and "browser test will skip" in skipped.stdout
