"""Helpers for the code the pages run at build time (markdown-exec blocks).

``parity`` runs a glassnet module and the same PyTorch module (built by
``glassnet.interop.torch.to_torch``, with the same weights) on one input and one
upstream gradient, and returns the largest differences of the output, the input's
gradient and every parameter's gradient as text. ``show`` returns a matplotlib figure as
an ``<img>`` with an embedded PNG.

They return text for the page's block to ``print``: markdown-exec captures what the
block itself prints, not what an imported module prints.
"""

from __future__ import annotations

import base64
import io

import numpy as np


def parity(module, x, *, seed: int = 0, training: bool = True) -> str:
    """max |glassnet - torch| for y, dL/dx and each parameter's gradient."""
    import torch

    from glassnet.interop.torch import to_torch

    module.train(training)
    tmodule = to_torch(module)
    tmodule.train(training)
    x = np.asarray(x)
    y = module(x)
    g = np.random.default_rng(seed).normal(size=y.shape).astype(y.dtype)
    module.zero_grad()
    module.set_input_grad(True)
    dx = module.backward(g)

    xt = torch.tensor(x, requires_grad=True)
    yt = tmodule(xt)
    yt.backward(torch.tensor(g))
    rows = [("output y", y, yt.detach().numpy()), ("dL/dx", dx, xt.grad.numpy())]
    tparams = dict(tmodule.named_parameters())
    for name, p in module.named_parameters():
        rows.append((f"dL/d{name}", p.grad, tparams[name].grad.numpy()))
    lines = [f"glassnet vs torch {torch.__version__}, {x.dtype}, input {tuple(x.shape)}"]
    for label, mine, theirs in rows:
        err = float(np.max(np.abs(mine - theirs))) if mine.size else 0.0
        lines.append(f"  {label:<16} shape {str(tuple(mine.shape)):<16} max |difference| {err:.1e}")
    return "\n".join(lines)


def loss_parity(loss_fn, torch_loss_fn, logits, target) -> str:
    """The same for a loss: the loss value and dL/dlogits."""
    import torch

    loss = loss_fn(logits, target)
    grad = loss_fn.backward()
    zt = torch.tensor(logits, requires_grad=True)
    tt = torch.tensor(target)
    lt = torch_loss_fn(zt, tt)
    lt.backward()
    err = float(np.max(np.abs(grad - zt.grad.numpy())))
    return "\n".join(
        [
            f"glassnet vs torch {torch.__version__}, {logits.dtype}, logits {logits.shape}",
            f"  loss             glassnet {loss:.6f}  torch {lt.item():.6f}",
            f"  dL/dlogits       max |difference| {err:.1e}",
        ]
    )


def show(fig, alt: str = "figure") -> str:
    """The figure as an <img> with an embedded PNG (print it in an html="true" block)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{alt}" src="data:image/png;base64,{data}">'
