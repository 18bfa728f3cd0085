"""glassnet.nn: layers with an explicit backward, PyTorch's names and state_dict keys."""

from . import functional, init, reference
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .containers import Concat, ModuleList, Residual, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .linear import Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, is_grad_enabled, no_grad
from .normalization import BatchNorm1d, BatchNorm2d
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .shape import Flatten, Identity, Unflatten

__all__ = [
    "Module",
    "Parameter",
    "no_grad",
    "is_grad_enabled",
    "Linear",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "Flatten",
    "Unflatten",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softmax",
    "LogSoftmax",
    "BatchNorm1d",
    "BatchNorm2d",
    "Dropout",
    "Sequential",
    "ModuleList",
    "Residual",
    "Concat",
    "CrossEntropyLoss",
    "NLLLoss",
    "MSELoss",
    "functional",
    "init",
    "reference",
]
