"""mkdocs hook: put a function's or class's source on a page, read from the file at build time.

A line holding only ``!source glassnet.nn.linear.Linear.forward`` becomes a fenced code
block with the source of that object (``inspect.getsource``, dedented) and a title naming
the file and lines it came from. The layer pages include the textbook code this way, so
what the page shows is what runs: edit the layer and the page follows on the next build.

A name that does not resolve stops the build with an error naming it (never a silent
gap on the page).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import textwrap
from pathlib import Path

DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)!source[ \t]+(?P<name>[A-Za-z_][\w.]*)[ \t]*$", re.M)


class SourceNotFound(Exception):
    """A ``!source`` name that names no importable object."""


def resolve(name: str):
    """The object a dotted name names: the longest importable module prefix, then
    attributes (``glassnet.nn.conv.Conv2d.forward``)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for i, attr in enumerate(parts[cut:], start=cut):
            try:
                obj = inspect.getattr_static(obj, attr)
            except AttributeError:
                raise SourceNotFound(
                    f"!source {name}: {'.'.join(parts[:i])} has no attribute {attr!r}"
                ) from None
            if isinstance(obj, (staticmethod, classmethod)):
                obj = obj.__func__
            elif isinstance(obj, property):
                obj = obj.fget
        return obj
    raise SourceNotFound(f"!source {name}: no module of that name can be imported")


def source_of(name: str) -> tuple[str, str, int, int]:
    """(dedented source, file path shown, first line, last line) of a dotted name."""
    obj = resolve(name)
    try:
        lines, first = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj))
    except (TypeError, OSError) as exc:
        raise SourceNotFound(f"!source {name}: no source to show ({exc})") from None
    text = textwrap.dedent("".join(lines))
    parts = path.parts
    shown = "/".join(parts[parts.index("glassnet") :]) if "glassnet" in parts else path.name
    return text, shown, first, first + len(lines) - 1


def code_block(name: str, indent: str = "") -> str:
    text, path, first, last = source_of(name)
    short = name.split(".", 2)[-1] if name.startswith("glassnet.") else name
    title = f"{path}, lines {first}-{last}: {short}"
    block = f'````python title="{title}"\n{text.rstrip()}\n````'
    return textwrap.indent(block, indent) if indent else block


def expand(markdown: str) -> str:
    """Replace every ``!source NAME`` line of a page with the code block."""
    return DIRECTIVE.sub(lambda m: code_block(m["name"], m["indent"]), markdown)


def on_config(config, **kwargs):
    # the pages' build-time code imports pagecheck (beside this file); figures need no display
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    os.environ.setdefault("MPLBACKEND", "Agg")
    return config


def on_page_markdown(markdown, page, config, files, **kwargs):
    from mkdocs.exceptions import PluginError

    try:
        return expand(markdown)
    except SourceNotFound as exc:
        raise PluginError(f"{page.file.src_uri}: {exc}") from None
