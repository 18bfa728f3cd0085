"""The self-contained HTML report of a ``glassnet compare`` or ``glassnet train`` run.

``build_report(run_dir)`` writes ``<run>/report.html``: one file that works offline
(plotly.js's basic bundle, shipped with glassnet, embedded once; images as inline PNG).
"""

from .html import build_report, plotly_js, render_report

__all__ = ["build_report", "render_report", "plotly_js"]
