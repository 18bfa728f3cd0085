"""glassnet.models: the model zoo (``get``, ``list``, ``info``)."""

from .zoo import STUDY_MODELS, ModelSpec, get, info, knobs, list_models, register, resolve

list = list_models  # noqa: A001  (models.list(), as the zoo's users expect)

__all__ = [
    "get",
    "list",
    "list_models",
    "info",
    "knobs",
    "register",
    "resolve",
    "ModelSpec",
    "STUDY_MODELS",
]
