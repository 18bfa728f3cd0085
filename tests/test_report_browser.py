"""The compare report in a real browser: headless Chromium driven by Playwright.

Opens a generated report.html from a file:// URL (no server, no network) and checks
what a reader sees: no console or page errors, every plotly chart drawn with its
curves or bars, every image decoded and not blank, and a hover label with a number
when the mouse rests on a curve point.

Needs the ``playwright`` Python package and Debian's Chromium (``make browser``
installs it; no browser is ever downloaded). Without them the tests skip, except
under CI=true, where they fail.
"""

from __future__ import annotations

import re

import pytest

from _browser import chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    from glassnet.report import build_report
    from glassnet.study import CompareConfig, run_compare

    out = tmp_path_factory.mktemp("browser-run")
    config = CompareConfig(
        epochs=2, models=["baseline", "cnn-pool"], engines=["glassnet", "sklearn"]
    )
    folder, results = run_compare(config, out=out, log=lambda *a, **k: None)
    return build_report(folder, results)


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def report_page(browser, report_path):
    """The report, loaded, with every console and page error collected in page.errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors = []
    tab.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    tab.goto(report_path.as_uri(), wait_until="load")
    tab.wait_for_function("document.querySelectorAll('.gn-chart .main-svg').length > 0")
    tab.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    tab.errors = errors
    yield tab
    context.close()


def test_no_console_or_page_errors(report_page):
    report_page.wait_for_timeout(300)  # let late errors surface
    assert report_page.errors == []


def test_every_chart_is_drawn(report_page):
    charts = report_page.evaluate("""() => [...document.querySelectorAll('.gn-chart')].map(div => ({
        id: div.id,
        svgs: div.querySelectorAll('.main-svg').length,
        lines: [...div.querySelectorAll('.scatterlayer path.js-line')]
                  .filter(p => (p.getAttribute('d') || '').length > 10).length,
        bars: [...div.querySelectorAll('.barlayer .point path')]
                 .filter(p => p.getBBox().height > 0).length,
        width: div.getBoundingClientRect().width,
    }))""")
    assert {c["id"] for c in charts} >= {
        "chart-synopsis",
        "chart-iterations",
        "chart-curves-baseline",
        "chart-curves-cnn-pool",
    }
    for chart in charts:
        assert chart["svgs"] > 0 and chart["width"] > 300, chart
        assert chart["lines"] + chart["bars"] > 0, f"{chart['id']} has no curves or bars"
    curves = next(c for c in charts if c["id"] == "chart-curves-baseline")
    # glassnet and scikit-learn x train/validation/test x loss/accuracy
    assert curves["lines"] == 12
    synopsis = next(c for c in charts if c["id"] == "chart-synopsis")
    assert synopsis["bars"] == 3  # baseline x 2 engines, cnn-pool x glassnet


def test_images_are_loaded_and_not_blank(report_page):
    images = report_page.evaluate("""() => [...document.querySelectorAll('img')].map(img => {
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        let spread = 0;
        if (img.complete && img.naturalWidth > 0) {
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
        const box = img.getBoundingClientRect();
        return {alt: img.alt, ok: img.complete && img.naturalWidth > 0, spread: spread,
                shown: box.width, natural: img.naturalWidth,
                gallery: !!img.closest('.gn-gallery')};
    })""")
    gallery = [im for im in images if im["gallery"]]
    assert len(gallery) >= 3 * 20  # three engine runs, first 20 test images each
    assert sum("weights" in im["alt"] for im in images) == 3
    for im in images:
        assert im["ok"], f"{im['alt']} did not load"
        assert im["spread"] > 10, f"{im['alt']} is blank"
    for im in gallery:  # 8x8 digits are drawn large enough to see
        assert im["shown"] >= 4 * im["natural"], im


def test_hovering_a_curve_point_shows_its_value(report_page):
    chart = report_page.locator("#chart-curves-baseline")
    chart.scroll_into_view_if_needed()
    point = chart.locator(".scatterlayer .trace .points path").nth(1)
    box = point.bounding_box()
    assert box, "no curve point on screen"
    report_page.mouse.move(0, 0)
    report_page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    label = chart.locator(".hoverlayer .hovertext")
    label.first.wait_for(state="visible", timeout=5_000)
    text = label.first.text_content()
    assert re.search(r"\d\.\d{4}", text), f"hover label without a value: {text!r}"
    assert "epoch" in text
