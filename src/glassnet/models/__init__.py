"""glassnet.models: the model zoo (``get``, ``list``, ``info``) and ``load`` of a saved one."""

from .saved import load
from .weights import pretrained
from .zoo import (
    ACTIVATIONS,
    STUDY_MODELS,
    ModelSpec,
    get,
    info,
    knobs,
    list_models,
    register,
    resolve,
)

list = list_models  # noqa: A001  (models.list(), as the zoo's users expect)

__all__ = [
    "get",
    "load",
    "list",
    "list_models",
    "info",
    "knobs",
    "register",
    "resolve",
    "ModelSpec",
    "STUDY_MODELS",
    "ACTIVATIONS",
    "pretrained",
]
