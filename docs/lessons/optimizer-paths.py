# %% [markdown]
# # Optimizers: SGD and momentum on a loss surface
#
# A model with two weights has a loss we can draw: a contour map over $(w_1, w_2)$. Here
# it is linear regression $\hat y = w_1 x_1 + w_2 x_2$ with two correlated inputs, so the
# mean squared error is a long, narrow valley, the shape that makes plain gradient
# descent zig-zag and momentum worth having.
#
# **Size.** The same at `ci` and `full`: 60 steps on 200 points (a second or two).

# %%
import matplotlib.pyplot as plt
import numpy as np

import glassnet as gn

rng = np.random.default_rng(0)
x1 = rng.normal(size=200)
x = np.stack([x1, 0.9 * x1 + 0.3 * rng.normal(size=200)], axis=1).astype(np.float32)
true_w = np.array([1.5, -0.5], dtype=np.float32)
y = (x @ true_w)[:, None]


def loss_at(w1, w2):
    pred = np.multiply.outer(w1, x[:, 0]) + np.multiply.outer(w2, x[:, 1])
    return ((pred - y[:, 0]) ** 2).mean(axis=-1)


def path(optimizer_cls, steps=60, **options):
    """Train glassnet's Linear(2, 1) from (-2, 2) and return the weights after each step."""
    layer = gn.nn.Linear(2, 1, bias=False)
    layer.weight.data[:] = [[-2.0, 2.0]]
    loss_fn = gn.nn.MSELoss()
    opt = optimizer_cls(layer.parameters(), **options)
    points = [layer.weight.data[0].copy()]
    for _ in range(steps):
        loss = loss_fn(layer(x), y)
        opt.zero_grad()
        layer.backward(loss_fn.backward())
        opt.step()
        points.append(layer.weight.data[0].copy())
    return np.array(points), float(loss)


# %% [markdown]
# SGD updates $w \leftarrow w - \eta g$. Momentum keeps a velocity
# $v \leftarrow \mu v + g$ and steps $w \leftarrow w - \eta v$ (PyTorch's form), so steps
# along the valley add up while the zig-zag across it cancels.

# %%
runs = {
    "SGD, lr 0.2": path(gn.optim.SGD, lr=0.2),
    "SGD + momentum 0.9, lr 0.02": path(gn.optim.SGD, lr=0.02, momentum=0.9),
    "Adam, lr 0.1": path(gn.optim.Adam, lr=0.1),
}
w1, w2 = np.meshgrid(np.linspace(-2.5, 3, 200), np.linspace(-2.5, 3, 200))
plt.figure(figsize=(7, 6))
plt.contour(w1, w2, loss_at(w1, w2), levels=np.geomspace(0.01, 30, 20), cmap="Greys")
for label, (points, final) in runs.items():
    plt.plot(points[:, 0], points[:, 1], ".-", label=f"{label} (loss {final:.4f})")
plt.plot(*true_w, "k*", markersize=14, label="minimum")
plt.xlabel("$w_1$")
plt.ylabel("$w_2$")
plt.legend()
plt.title("60 steps on the mean squared error")
plt.show()
for label, (points, final) in runs.items():
    print(f"{label:30s} final loss {final:.5f}, final weights {points[-1].round(3)}")
