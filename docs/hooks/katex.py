"""mkdocs hook: serve KaTeX from the site itself (no CDN at view time).

``make docs`` installs KaTeX from the npm registry into ``build/npm``; this hook adds
its script, auto-render extension, stylesheet and fonts to the site under
``assets/katex/``. Without them the build stops and says how to get them.
"""

from __future__ import annotations

from pathlib import Path

KATEX_DIST = Path("build/npm/node_modules/katex/dist")
WANTED = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")


def on_files(files, config, **kwargs):
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    root = Path(config["config_file_path"]).parent
    dist = root / KATEX_DIST
    missing = [name for name in WANTED if not (dist / name).is_file()]
    if missing:
        raise PluginError(
            f"KaTeX is not installed in {dist} (missing {', '.join(missing)}): run "
            "'make docs', or 'npm install --prefix build/npm katex@0.16.22'"
        )
    chosen = [dist / name for name in WANTED] + sorted((dist / "fonts").glob("*.woff2"))
    for path in chosen:
        rel = path.relative_to(dist).as_posix()
        files.append(File.generated(config, f"assets/katex/{rel}", abs_src_path=str(path)))
    return files
