"""mkdocs hook: pages that other work adds to docs/ join the navigation when they exist.

``performance.md`` (the measurements and how to reproduce them) and ``kernels.md`` (how
glassnet's fast kernels work) are written outside this site's own pages; the nav lists
each one, before the API reference, only when its file is in docs/, so the strict build
passes with or without them.
"""

from __future__ import annotations

from pathlib import Path

OPTIONAL = [("Performance", "performance.md"), ("Fast kernels", "kernels.md")]


def _listed(nav, target: str) -> bool:
    for item in nav:
        if item == target:
            return True
        if isinstance(item, dict):
            for value in item.values():
                if value == target or (isinstance(value, list) and _listed(value, target)):
                    return True
    return False


def on_config(config, **kwargs):
    nav = config["nav"]
    if not nav:
        return config
    docs = Path(config["docs_dir"])
    at = next(
        (i for i, item in enumerate(nav) if isinstance(item, dict) and "API reference" in item),
        len(nav),
    )
    for title, page in OPTIONAL:
        if (docs / page).is_file() and not _listed(nav, page):
            nav.insert(at, {title: page})
            at += 1
    return config
