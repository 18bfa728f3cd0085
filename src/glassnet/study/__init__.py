"""Study tools: ``compare`` (one model, three engines), ``train`` runs, and their engines."""

from .compare import load_results, machine_info, results_table, run_compare
from .config import DEFAULT_MODELS, CompareConfig, Recipe, TrainConfig
from .engines import ENGINES, RunResult, RunSpec, run_engine

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
]
