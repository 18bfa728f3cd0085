"""mkdocs hook: serve the site's scripts from the site itself (no CDN at view time).

``make docs`` installs two npm packages into ``build/npm``: KaTeX (the math: script,
auto-render extension, stylesheet and fonts, served under ``assets/katex/``) and
iframe-worker (the shim that lets Material's search run from ``file://``, served as
``assets/iframe-worker/shim.js``; without it Material's offline plugin would link the
shim from unpkg.com). Without them the build stops and says how to get them.
"""

from __future__ import annotations

from pathlib import Path

NPM = Path("build/npm/node_modules")
PINS = "katex@0.16.22 iframe-worker@1.0.4"
# (file in node_modules, where the site serves it)
WANTED = [
    ("katex/dist/katex.min.js", "assets/katex/katex.min.js"),
    ("katex/dist/katex.min.css", "assets/katex/katex.min.css"),
    ("katex/dist/contrib/auto-render.min.js", "assets/katex/contrib/auto-render.min.js"),
    ("iframe-worker/shim/index.js", "assets/iframe-worker/shim.js"),
]


def on_files(files, config, **kwargs):
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    npm = Path(config["config_file_path"]).parent / NPM
    missing = [src for src, _ in WANTED if not (npm / src).is_file()]
    if missing:
        raise PluginError(
            f"npm packages missing in {npm} ({', '.join(missing)}): run 'make docs', "
            f"or 'npm install --prefix build/npm {PINS}'"
        )
    chosen = [(npm / src, dest) for src, dest in WANTED]
    fonts = sorted((npm / "katex/dist/fonts").glob("*.woff2"))
    chosen += [(font, f"assets/katex/fonts/{font.name}") for font in fonts]
    for path, dest in chosen:
        files.append(File.generated(config, dest, abs_src_path=str(path)))
    return files
