"""The built documentation site in a real browser: headless Chromium driven by Playwright.

Opens the home page, a layer page and a lesson page of ``site/`` (built by ``make docs``,
which ``make test`` runs first) from file:// URLs, as a reader who opens
``site/index.html`` does, and checks: the math is typeset by KaTeX (no raw ``$...$``
or ``\\(...\\)`` left), every image loads and is not blank, no request leaves the
machine (every request is file:, data: or blob:), no console or page error, and the
search box finds a page.

Needs the ``playwright`` package and Debian's Chromium (``make browser``); without them,
or without a built site, the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _browser import chromium, require

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
PAGES = ["index.html", "layers/linear.html", "lessons/mlp-adam.html"]
LOCAL = ("file:", "data:", "blob:", "about:")


@pytest.fixture(scope="module")
def browser():
    require((SITE / "index.html").is_file(), f"no built site in {SITE} (make docs)")
    with chromium() as launched:
        yield launched


def open_page(browser, page: str):
    """The page, loaded, with its errors and its non-local requests collected."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def route(r):  # anything not on the disk is recorded and refused
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    tab.goto((SITE / page).as_uri(), wait_until="load")
    tab.wait_for_load_state("networkidle")
    tab.errors, tab.outside, tab.context_ = errors, outside, context
    return tab


@pytest.fixture(scope="module", params=PAGES)
def loaded(request, browser):
    tab = open_page(browser, request.param)
    tab.wait_for_timeout(300)  # let late errors and the typesetting finish
    yield request.param, tab
    tab.context_.close()


def test_no_errors_and_no_request_leaves_the_machine(loaded):
    page, tab = loaded
    assert tab.errors == [], page
    assert tab.outside == [], f"{page} asked the network for {tab.outside}"


def test_math_is_typeset(loaded):
    page, tab = loaded
    found = tab.evaluate("""() => {
        const math = [...document.querySelectorAll('.arithmatex')];
        const raw = math.filter(el => !el.querySelector('.katex')).map(el => el.textContent);
        const article = document.querySelector('article').cloneNode(true);
        article.querySelectorAll('pre, code, .katex').forEach(el => el.remove());
        return {typeset: document.querySelectorAll('.katex').length, raw: raw,
                text: article.textContent};
    }""")
    assert found["typeset"] > 0, f"{page}: no KaTeX output"
    assert found["raw"] == [], f"{page}: math left as source: {found['raw'][:3]}"
    leftover = re.findall(r"\$\$?[^$\s][^$]{0,40}\$|\\\(|\\\[", found["text"])
    assert leftover == [], f"{page}: raw math in the text: {leftover[:3]}"


def test_every_image_loads(loaded):
    page, tab = loaded
    images = tab.evaluate("""() => [...document.querySelectorAll('article img')].map(img => {
        // embedded (data:) figures are read back here; files on the disk are read by the
        // test itself (a file:// page may not read another file's pixels)
        let spread = null;
        if (img.complete && img.naturalWidth > 0 && img.currentSrc.startsWith('data:')) {
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let lo = 255, hi = 0;
            for (let i = 0; i < px.length; i += 4) {
                const grey = (px[i] + px[i + 1] + px[i + 2]) / 3;
                lo = Math.min(lo, grey); hi = Math.max(hi, grey);
            }
            spread = hi - lo;
        }
        return {src: img.currentSrc, ok: img.complete && img.naturalWidth > 0, spread: spread};
    })""")
    if page.startswith("lessons/"):
        assert len(images) >= 3, f"{page}: the lesson's figures are missing"
    for im in images:
        assert im["ok"], f"{page}: {im['src'][:80]} did not load"
        if im["spread"] is None:
            im["spread"] = file_spread(im["src"])
        assert im["spread"] > 10, f"{page}: {im['src'][:80]} is blank"


def file_spread(url: str) -> float:
    """max - min grey level (0-255) of a PNG on the disk, named by its file:// URL."""
    from urllib.parse import unquote, urlparse

    import matplotlib.image

    path = Path(unquote(urlparse(url).path))
    assert url.startswith("file:") and path.is_file(), url
    pixels = matplotlib.image.imread(path)[..., :3].mean(axis=-1) * 255
    return float(pixels.max() - pixels.min())


def test_layer_page_shows_the_build_time_checks(browser):
    tab = open_page(browser, "layers/linear.html")
    text = tab.inner_text("article")
    assert "glassnet/nn/linear.py, lines" in text  # the code block's title: from the file
    assert "max |difference|" in text  # the PyTorch parity output, printed at build time
    tab.context_.close()


def test_search_finds_a_page(browser):
    tab = open_page(browser, "index.html")
    tab.keyboard.press("s")  # Material's shortcut: focus the search box
    tab.keyboard.type("fused softmax")
    results = tab.locator(".md-search-result__item")
    results.first.wait_for(state="visible", timeout=15_000)
    titles = " ".join(results.all_inner_texts())
    assert "CrossEntropyLoss" in titles, titles[:300]
    assert tab.errors == [] and tab.outside == []
    tab.context_.close()
