"""glassnet: neural networks for image classification, from scratch in NumPy.

import glassnet as gn
model = gn.nn.Sequential(gn.nn.Flatten(), gn.nn.Linear(64, 10))
loss_fn = gn.nn.CrossEntropyLoss()
opt = gn.optim.SGD(model.parameters(), lr=0.1)
loss = loss_fn(model(x), y); opt.zero_grad(); model.backward(loss_fn.backward()); opt.step()
"""

from __future__ import annotations

__version__ = "0.1.0"

# before anything imports NumPy: OpenBLAS reads its thread settings once, at load.
# Off in textbook mode and with GLASSNET_SHORT_SPIN=0 (docs/performance.md).
from .kernels.blas_spin import set_short_spin_unless_disabled  # noqa: E402

set_short_spin_unless_disabled()

from . import data, kernels, models, nn, optim, train  # noqa: E402
from .gradcheck import GradcheckResult, gradcheck  # noqa: E402
from .io import load_state, save  # noqa: E402
from .kernels.threads import get_num_threads, set_num_threads  # noqa: E402
from .models.saved import load  # noqa: E402
from .nn.module import no_grad  # noqa: E402
from .random import manual_seed  # noqa: E402
from .summary import summary  # noqa: E402

__all__ = [
    "__version__",
    "nn",
    "kernels",
    "optim",
    "data",
    "models",
    "train",
    "gradcheck",
    "GradcheckResult",
    "summary",
    "save",
    "load",
    "load_state",
    "no_grad",
    "manual_seed",
    "set_num_threads",
    "get_num_threads",
]
