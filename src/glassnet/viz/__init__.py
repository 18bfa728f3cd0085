"""Pictures of a run: matplotlib PNG figures and the array helpers behind them.

``save_plots(run_dir)`` writes every figure of a ``glassnet compare`` run into
``<run>/plots/``. The ``plot_*`` functions take plain arrays and are reusable on their
own; :mod:`glassnet.viz.png` encodes small images without any imaging library.
:mod:`glassnet.viz.paths` draws optimizer paths on a loss contour. matplotlib is
imported only when a figure is drawn (``pip install 'glassnet[plot]'``).
"""

from .images import diverging, mosaic, to_display, weight_tiles
from .paths import plot_loss_plane, plot_paths, plot_surface_paths
from .plots import (
    plot_confusion,
    plot_curves,
    plot_image_grid,
    plot_iterations,
    plot_synopsis,
    plot_weights,
    save_plots,
)
from .png import encode_png, png_data_uri
from .run import RunData, load_run

__all__ = [
    "save_plots",
    "plot_curves",
    "plot_synopsis",
    "plot_iterations",
    "plot_weights",
    "plot_confusion",
    "plot_image_grid",
    "plot_paths",
    "plot_surface_paths",
    "plot_loss_plane",
    "weight_tiles",
    "mosaic",
    "diverging",
    "to_display",
    "encode_png",
    "png_data_uri",
    "load_run",
    "RunData",
]
