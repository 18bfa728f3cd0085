"""Study tools: ``compare`` (one model, three engines), ``train`` runs, and their engines;
``sweep`` (hyperparameters chosen on a validation split, in worker processes or on Ray).

Optimizer paths live in submodules: :mod:`~glassnet.study.surfaces` (2-D test functions),
:mod:`~glassnet.study.paths` (optimizers walking them, glassnet or torch) and
:mod:`~glassnet.study.landscape` (a network's loss on the plane of its training paths).
"""

from .compare import load_results, machine_info, results_table, run_compare
from .config import DEFAULT_MODELS, CompareConfig, Recipe, TrainConfig
from .engines import ENGINES, RunResult, RunSpec, run_engine

# glassnet.study.sweep(...) is the function (the module stays importable by its full name)
from .sweep import STUDIES, SweepConfig, run_sweep, sweep

__all__ = [
    "CompareConfig",
    "TrainConfig",
    "Recipe",
    "run_compare",
    "results_table",
    "load_results",
    "machine_info",
    "DEFAULT_MODELS",
    "ENGINES",
    "RunSpec",
    "RunResult",
    "run_engine",
    "sweep",
    "run_sweep",
    "SweepConfig",
    "STUDIES",
]
