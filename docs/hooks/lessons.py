"""mkdocs hook: run every lesson notebook on each build and put it, with its outputs, on the site.

A lesson is a jupytext "percent" script, ``docs/lessons/<name>.py`` (it diffs well in
git; ``jupytext --to ipynb`` or Jupyter's jupytext plugin opens it as a notebook). On
every build this hook

1. turns each script into a notebook and executes it in a fresh Jupyter kernel
   (two at a time), in the size named by ``GLASSNET_LESSON_SIZE`` (``ci`` or ``full``;
   the notebooks themselves default to ``full``);
2. writes the executed notebook next to the page as ``lessons/<name>.ipynb`` (a
   download link sits at the top of the page);
3. renders it as the page ``lessons/<name>.md``: markdown cells as they are, code cells
   as Python blocks, printed output as text blocks and figures as PNG files.

A lesson that raises stops the build with the cell and the error. No network is used;
the data come from ``GLASSNET_DATA``.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import re
import time
from pathlib import Path

LESSONS = "lessons"
TIMEOUT = 1800  # seconds per cell: a full-size lesson may train for many minutes
THREADS = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "GLASSNET_NUM_THREADS": "1",
}
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

_rendered: dict[str, dict] = {}  # per build: name -> {"markdown", "notebook", "images", ...}
_size_built = ""
TIMINGS_MARKER = "<!-- lesson-timings -->"


def _size() -> str:
    size = os.environ.get("GLASSNET_LESSON_SIZE", "full")
    if size not in ("ci", "full"):
        raise ValueError(f"GLASSNET_LESSON_SIZE must be 'ci' or 'full', got {size!r}")
    return size


def execute(path: Path, size: str):
    """The lesson at ``path`` as an executed notebook (nbformat), and its seconds."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    # the lesson reads its size from its environment; two kernels share the two cores,
    # so each keeps to one BLAS/OpenMP thread (oversubscribed pools wait on each other)
    # figures are shown inline, as in Jupyter, even when the build itself runs with
    # MPLBACKEND=Agg (which would make plt.show() in the kernel draw nothing)
    env = dict(os.environ, GLASSNET_LESSON_SIZE=size, MPLBACKEND=INLINE_BACKEND, **THREADS)
    client.execute(env=env)
    return nb, time.perf_counter() - start


def _text(value) -> str:
    return _ANSI.sub("", "".join(value) if isinstance(value, list) else value)


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def render(nb, name: str, seconds: float, size: str) -> tuple[str, dict[str, bytes]]:
    """Markdown for the executed notebook, and its figures {relative path: PNG bytes}."""
    images: dict[str, bytes] = {}
    parts = []
    title_done = False
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            if not title_done and cell.source.lstrip().startswith("# "):
                title_done = True
                parts.append(
                    f'!!! info "This page is an executed notebook"\n'
                    f"    Run at build time at size `{size}` in {seconds:.0f} s "
                    f"(the build machine's time, with other work running beside it). "
                    f"Download the notebook: [{name}.ipynb]({name}.ipynb), "
                    f"or its source as a script: [{name}.py]({name}.py)."
                )
            continue
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        parts.append(_fence(cell.source, "python"))
        for j, out in enumerate(cell.get("outputs", [])):
            kind = out.get("output_type")
            if kind == "stream":
                parts.append(_fence(_text(out["text"]), "text"))
            elif kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                if "image/png" in data:
                    file = f"{name}/cell{i:02d}-{j}.png"
                    images[file] = base64.b64decode(data["image/png"])
                    parts.append(f"![output of cell {i}]({file})")
                elif "text/plain" in data:
                    parts.append(_fence(_text(data["text/plain"]), "text"))
            elif kind == "error":  # nbclient raises first; kept for allow_errors runs
                parts.append(_fence(_text(out.get("traceback", [])), "text"))
    return "\n\n".join(parts) + "\n", images


def _build_one(path: Path, size: str) -> dict:
    import nbformat

    nb, seconds = execute(path, size)
    markdown, images = render(nb, path.stem, seconds, size)
    return {
        "markdown": markdown,
        "images": images,
        "notebook": nbformat.writes(nb),
        "seconds": seconds,
    }


def on_files(files, config, **kwargs):
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    docs = Path(config["docs_dir"])
    sources = sorted((docs / LESSONS).glob("*.py"))
    global _size_built
    size = _size_built = _size()
    _rendered.clear()
    workers = max(1, min(2, len(sources)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_build_one, p, size): p for p in sources}
        for future in concurrent.futures.as_completed(futures):
            path = futures[future]
            try:
                _rendered[path.stem] = future.result()
            except Exception as exc:  # the cell's traceback, once, then stop the build
                raise PluginError(f"lesson {path.name} failed at size {size}:\n{exc}") from exc
    timings = {}
    for name, done in sorted(_rendered.items()):
        base = f"{LESSONS}/{name}"
        files.append(File.generated(config, f"{base}.md", content=done["markdown"]))
        files.append(File.generated(config, f"{base}.ipynb", content=done["notebook"]))
        for rel, png in done["images"].items():
            files.append(File.generated(config, f"{LESSONS}/{rel}", content=png))
        timings[name] = round(done["seconds"], 1)
    # the build's record of what ran and how long it took (read by the report and tests)
    record = {"size": size, "seconds": timings}
    files.append(
        File.generated(config, f"{LESSONS}/timings.json", content=json.dumps(record, indent=1))
    )
    return files


def timings_table() -> str:
    """A markdown table of this build's lessons: size and seconds each."""
    rows = [
        f"| [{name}]({name}.md) | `{_size_built}` | {done['seconds']:.0f} s |"
        for name, done in sorted(_rendered.items())
    ]
    total = sum(done["seconds"] for done in _rendered.values())
    head = "| lesson | size | time to execute |\n| --- | --- | --- |"
    foot = (
        f"\n\nIn all {total:.0f} s of kernel time (two lessons ran at a time, on a machine "
        "that may have been busy with other work)."
    )
    return head + "\n" + "\n".join(rows) + foot


def on_page_markdown(markdown, page, config, files, **kwargs):
    if TIMINGS_MARKER in markdown:
        return markdown.replace(TIMINGS_MARKER, timings_table())
    return markdown
