# %% [markdown]
# # Vectorising: loops against one matrix product
#
# The backward pass of a fully connected layer $y = xW^\top + b$ is three sums:
#
# $$\frac{\partial L}{\partial W_{oi}} = \sum_n g_{no}\,x_{ni},\qquad
#   \frac{\partial L}{\partial b_o} = \sum_n g_{no},\qquad
#   \frac{\partial L}{\partial x_{ni}} = \sum_o g_{no}\,W_{oi},$$
#
# with $g = \partial L/\partial y$. Written as Python loops, one multiply-add per weight
# per sample, that is `glassnet.nn.reference.linear_backward`. Written as matrix products,
# $g^\top x$, $g$ summed over the batch, and $gW$, it is `Linear.backward`. Same
# numbers; the question is how long each takes.
#
# **Size.** The same at `ci` and `full`: the digits MLP's first layer (64 inputs, 30
# units) on a batch of 64 images. The classic version of this experiment reports a
# speed-up of about 235x; the figure below is what the machine that built this page
# gave (it may have been busy with other work, which slows both sides).

# %%
import time

import numpy as np

import glassnet as gn
from glassnet.nn import reference

data = gn.data.load("digits")
x = data.x_train[:64].reshape(64, -1).astype(np.float32)
layer = gn.nn.Linear(64, 30)
y = layer(x)
g = np.random.default_rng(0).normal(size=y.shape).astype(np.float32)


def best_of(fn, repeats, setup=None):
    """The fastest of `repeats` timed calls of `fn` (the least disturbed by other work);
    `setup` runs before each call, untimed."""
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def forward():
    # a layer's backward uses (and frees) what its forward cached: one forward per backward
    layer.zero_grad()
    layer(x)


def vectorised():
    return layer.backward(g)


loops = best_of(lambda: reference.linear_backward(x, layer.weight.data, g), 3)
fast = best_of(vectorised, 200, setup=forward)

dx_loop, dw_loop, db_loop = reference.linear_backward(x, layer.weight.data, g)
forward()
dx = vectorised()
print("same gradients:",
      np.allclose(dx, dx_loop, atol=1e-5), np.allclose(layer.weight.grad, dw_loop, atol=1e-5),
      np.allclose(layer.bias.grad, db_loop, atol=1e-5))
print(f"loops:      {loops * 1e3:9.3f} ms")
print(f"vectorised: {fast * 1e3:9.3f} ms")
print(f"speed-up on this machine: {loops / fast:,.0f}x")

# %% [markdown]
# ## Why the gap is so large
#
# The loop version runs $64 \times 30 \times 64 \approx 123{,}000$ iterations of the Python
# interpreter, each creating Python floats from NumPy scalars. The vectorised version makes
# three calls into compiled code (BLAS for the two products), which stream through memory
# with SIMD instructions. The gap grows with the layer: the loop cost is linear in the
# number of multiply-adds at a few hundred nanoseconds each, while BLAS does several per
# nanosecond.

# %%
for fan_in, fan_out in ((16, 8), (64, 30), (128, 64)):
    layer = gn.nn.Linear(fan_in, fan_out)
    xb = np.random.default_rng(1).normal(size=(32, fan_in)).astype(np.float32)
    gb = np.random.default_rng(2).normal(size=(32, fan_out)).astype(np.float32)
    t_loop = best_of(lambda: reference.linear_backward(xb, layer.weight.data, gb), 2)
    t_fast = best_of(lambda: layer.backward(gb), 100, setup=lambda: layer(xb))
    print(f"Linear({fan_in:3d}, {fan_out:3d}), batch 32: speed-up {t_loop / t_fast:8,.0f}x")
