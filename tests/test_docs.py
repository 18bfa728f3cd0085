"""The documentation site's build hooks (docs/hooks/).

- ``source_include``: a layer page's code is the source file's code. The hook resolves
  each ``!source NAME`` marker to the lines of the file where NAME is defined, so a page
  cannot drift from what runs: shown here with a scratch module that is edited between
  two expansions (no project file is touched).
- every layer page shows its layer's forward and backward through such markers, and
  holds no hand-copied ``def forward``/``def backward``;
- ``lessons``: a jupytext percent script runs in a fresh kernel and renders as a page
  with its printed output and its figure.
- the built site (``make docs``; ``make test`` builds it first) holds the included code.

Needs the ``docs`` extra (mkdocs, jupytext, nbclient); without it these tests skip,
except under CI=true, where they fail.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SITE = ROOT / "site"
IN_CI = os.environ.get("CI", "").lower() == "true"

sys.path.insert(0, str(DOCS / "hooks"))
import source_include  # noqa: E402

# each layer page and the textbook methods it must include from the source
LAYER_PAGES = {
    "linear.md": ["glassnet.nn.linear.Linear.forward", "glassnet.nn.linear.Linear.backward"],
    "conv2d.md": ["glassnet.nn.conv.Conv2d.forward", "glassnet.nn.conv.Conv2d.backward"],
    "pooling.md": ["glassnet.nn.pooling.MaxPool2d.backward"],
    "batchnorm.md": ["glassnet.nn.normalization.BatchNorm2d.backward"],
    "dropout.md": ["glassnet.nn.dropout.Dropout.forward", "glassnet.nn.dropout.Dropout.backward"],
    "activations.md": ["glassnet.nn.activation.Sigmoid.backward"],
    "softmax.md": ["glassnet.nn.activation.Softmax.backward"],
    "cross-entropy.md": ["glassnet.nn.loss.CrossEntropyLoss.backward"],
    "mse.md": ["glassnet.nn.loss.MSELoss.backward"],
    "residual-concat.md": ["glassnet.nn.containers.Residual.backward"],
}


def require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{module} is not installed (CI=true: the docs tests must run)")
        pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")


def file_lines(path: Path, first: int, last: int) -> str:
    lines = path.read_text().splitlines(keepends=True)[first - 1 : last]
    return textwrap.dedent("".join(lines)).rstrip()


def test_marker_becomes_the_source_file_lines():
    block = source_include.expand("before\n\n!source glassnet.nn.linear.Linear.backward\n\nafter")
    m = re.search(r'````python title="(?P<title>[^"]+)"\n(?P<code>.*?)\n````', block, re.S)
    assert m, block
    assert block.startswith("before\n\n") and block.endswith("\n\nafter")
    title = re.fullmatch(
        r"(?P<file>\S+), lines (?P<a>\d+)-(?P<b>\d+): linear\.Linear\.backward", m["title"]
    )
    assert title and title["file"] == "glassnet/nn/linear.py", m["title"]
    source = ROOT / "src" / title["file"]
    assert m["code"] == file_lines(source, int(title["a"]), int(title["b"]))
    assert m["code"].startswith("def backward(self, grad_out")


def test_page_follows_the_file_when_the_code_changes(tmp_path, monkeypatch):
    module = tmp_path / "scratch_layer.py"
    module.write_text("class Layer:\n    def backward(self, g):\n        return 2 * g\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    page = "## The code\n\n!source scratch_layer.Layer.backward\n"
    first = source_include.expand(page)
    assert "return 2 * g" in first

    module.write_text("class Layer:\n    def backward(self, g):\n        return 3 * g  # fixed\n")
    sys.modules.pop("scratch_layer", None)
    importlib.invalidate_caches()
    second = source_include.expand(page)
    assert "return 3 * g  # fixed" in second and "return 2 * g" not in second
    assert "scratch_layer.py, lines 2-3" in second


def test_indented_marker_keeps_its_indent():
    text = source_include.expand('=== "Tab"\n\n    !source glassnet.nn.linear.Linear.forward\n')
    assert '\n    ````python title="glassnet/nn/linear.py' in text
    assert "\n    def forward(self, x" in text


def test_unknown_name_stops_with_a_clear_error():
    with pytest.raises(source_include.SourceNotFound, match="has no attribute 'backwards'"):
        source_include.expand("!source glassnet.nn.linear.Linear.backwards")
    with pytest.raises(source_include.SourceNotFound, match="no module"):
        source_include.expand("!source nosuchpackage.thing")


@pytest.mark.parametrize("page", sorted(LAYER_PAGES))
def test_layer_page_includes_its_code_from_the_source(page):
    text = (DOCS / "layers" / page).read_text()
    markers = re.findall(r"^[ \t]*!source[ \t]+(\S+)[ \t]*$", text, re.M)
    for wanted in LAYER_PAGES[page]:
        assert any(m.startswith(wanted) for m in markers), f"{page} lacks !source {wanted}..."
    for name in markers:  # every marker resolves to real source
        source_include.source_of(name)
    # no hand-copied layer code: python blocks that define methods come only from markers
    assert not re.search(r"^\s*def (forward|backward)\(self", text, re.M), page


def test_lesson_script_executes_and_renders(tmp_path):
    require("jupytext")
    require("nbclient")
    import lessons

    script = tmp_path / "tiny.py"
    script.write_text(
        "# %% [markdown]\n# # A tiny lesson\n#\n# Some $x^2$ math.\n\n"
        "# %%\nimport os\nprint('size', os.environ['GLASSNET_LESSON_SIZE'])\n"
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])\nplt.show()\n"
    )
    os.environ.setdefault("MPLBACKEND", "Agg")
    nb, seconds = lessons.execute(script, "ci")
    markdown, images = lessons.render(nb, "tiny", seconds, "ci")
    assert markdown.startswith("# A tiny lesson")
    assert "This page is an executed notebook" in markdown and "size `ci`" in markdown
    assert "```text\nsize ci\n```" in markdown
    assert list(images) == ["tiny/cell01-1.png"]
    assert images["tiny/cell01-1.png"].startswith(b"\x89PNG")
    assert "![output of cell 1](tiny/cell01-1.png)" in markdown


def test_failing_lesson_names_the_error(tmp_path):
    require("jupytext")
    require("nbclient")
    import lessons

    script = tmp_path / "broken.py"
    script.write_text("# %%\nraise ValueError('a lesson that breaks')\n")
    with pytest.raises(Exception, match="a lesson that breaks"):
        lessons.execute(script, "ci")


def built(page: str) -> Path:
    path = SITE / page
    if not path.is_file():
        if IN_CI:
            pytest.fail(f"{path} is missing: make test builds the site first (make docs)")
        pytest.skip(f"{path} is not built (make docs)")
    return path


def test_built_layer_page_shows_the_source_file_code():
    html = built("layers/linear.html").read_text()
    from glassnet.nn.linear import Linear

    for method in (Linear.forward, Linear.backward):
        code = inspect.getsource(method)
        first_line = textwrap.dedent(code).splitlines()[0]  # e.g. 'def backward(self, ...'
        words = re.findall(r"[A-Za-z_]+", first_line)
        text = re.sub(r"<[^>]+>", "", html)  # the highlighted code without its spans
        assert all(w in text for w in words), first_line
        assert "glassnet/nn/linear.py, lines" in text


def test_built_site_has_every_lesson_with_its_timing():
    import json

    record = json.loads(built("lessons/timings.json").read_text())
    scripts = sorted(p.stem for p in (DOCS / "lessons").glob("*.py"))
    assert sorted(record["seconds"]) == scripts
    for name in scripts:
        page = built(f"lessons/{name}.html").read_text()
        assert "This page is an executed notebook" in page
        assert (SITE / "lessons" / f"{name}.ipynb").is_file()
