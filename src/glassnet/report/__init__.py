"""The self-contained HTML report of a ``glassnet compare`` run.

``build_report(run_dir)`` writes ``<run>/report.html``: one file that works offline
(plotly's JavaScript embedded once, images as inline PNG). Needs plotly
(``pip install 'glassnet[plot]'``), imported only when a report is built.
"""

from .html import build_report, render_report

__all__ = ["build_report", "render_report"]
