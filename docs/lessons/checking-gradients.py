# %% [markdown]
# # Checking gradients: softmax regression by hand
#
# Softmax regression is the smallest model with every ingredient of backprop: a linear
# map, a softmax, and the cross-entropy loss. We write its forward and backward passes by
# hand, check the backward against finite differences, train it on MNIST, and then see
# what a gradient that is only 1% wrong looks like to the check.
#
# **Sizes.** `ci`: training on 10,000 images for 5 epochs. `full` (the notebook's
# default): all 55,000 training images for 15 epochs. Either way 5,000 more images are
# held out for validation. The check itself is the same in both.
#
# ## The model and its gradient
#
# For a batch $X \in \mathbb{R}^{N\times 784}$, weights $W \in \mathbb{R}^{10\times 784}$ and
# bias $b \in \mathbb{R}^{10}$:
#
# $$Z = XW^\top + b,\qquad P_{nk} = \frac{e^{Z_{nk}}}{\sum_j e^{Z_{nj}}},\qquad
#   L = -\frac{1}{N}\sum_n \log P_{n,y_n}.$$
#
# The derivative of the loss with respect to the logits is the famous
# $\partial L/\partial Z = (P - Y)/N$, with $Y$ the one-hot targets. The chain rule then
# gives $\partial L/\partial W = (\partial L/\partial Z)^\top X$ and
# $\partial L/\partial b = \sum_n \partial L/\partial Z_n$.

# %%
import os

import numpy as np

import glassnet as gn

SIZE = os.environ.get("GLASSNET_LESSON_SIZE", "full")
N_TRAIN, EPOCHS = (10_000, 5) if SIZE == "ci" else (None, 15)


def forward(W, b, X, y):
    Z = X @ W.T + b
    Z = Z - Z.max(axis=1, keepdims=True)  # the same softmax, without overflow
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    loss = -np.log(P[np.arange(len(y)), y]).mean()
    return loss, P


def backward(P, X, y):
    dZ = P.copy()
    dZ[np.arange(len(y)), y] -= 1
    dZ /= len(y)
    return dZ.T @ X, dZ.sum(axis=0)  # dL/dW, dL/db


# %% [markdown]
# ## The finite-difference check
#
# For each weight $w$, the central difference
# $\frac{L(w+h) - L(w-h)}{2h}$ approximates $\partial L/\partial w$ with an error of order
# $h^2$. In float64 with $h=10^{-6}$ the two agree to about seven digits when the
# backward is right. We compare with the relative error
# $\frac{|a-n|}{\max(|a|, |n|)}$ on a sample of weights.

# %%
data = gn.data.load("mnist", val_size=5_000, train_size=N_TRAIN)
X = data.x_train.reshape(len(data.y_train), -1).astype(np.float64)
y = data.y_train
rng = np.random.default_rng(0)
W = rng.normal(0, 0.01, (10, 784))
b = np.zeros(10)
Xs, ys = X[:64], y[:64]


def numeric_grad(W, b, idx, h=1e-6):
    Wp, Wm = W.copy(), W.copy()
    Wp[idx] += h
    Wm[idx] -= h
    return (forward(Wp, b, Xs, ys)[0] - forward(Wm, b, Xs, ys)[0]) / (2 * h)


def check(dW, label, samples=30):
    idxs = [tuple(rng.integers(0, s) for s in W.shape) for _ in range(samples)]
    # pixels that are equal on every image of the batch carry no gradient: skip zeros
    worst = 0.0
    for idx in idxs:
        a, n = dW[idx], numeric_grad(W, b, idx)
        if max(abs(a), abs(n)) > 1e-10:
            worst = max(worst, abs(a - n) / max(abs(a), abs(n)))
    print(f"{label:32s} worst relative error over {samples} weights: {worst:.2e}")
    return worst


_, P = forward(W, b, Xs, ys)
dW, db = backward(P, Xs, ys)
right = check(dW, "hand-written backward")

# %% [markdown]
# glassnet's own `gradcheck` does the same for any module or loss, for the input and
# every parameter, in float64. The two pieces of this model, `Linear` and
# `CrossEntropyLoss`:

# %%
print(gn.gradcheck(gn.nn.Linear(784, 10), Xs[:8]))
print()
print(gn.gradcheck(gn.nn.CrossEntropyLoss(), rng.normal(size=(8, 10)), ys[:8]))

# %% [markdown]
# ## A gradient that is 1% wrong
#
# Multiply the weight gradient by 1.01, a mistake that training might never reveal (it
# only changes the step size by 1%). The check sees it at once: every weight's relative
# error jumps from about $10^{-8}$ to $\frac{0.01}{1.01} \approx 10^{-2}$, six orders of
# magnitude. A subtler bug, a wrong sign on one term or a missing $1/N$, shows the same way.

# %%
wrong = check(dW * 1.01, "backward with a 1% error")
missing_n = check(dW * len(ys), "backward without the 1/N")
print(f"\nthe 1% error is {wrong / right:,.0f} times the correct backward's error")

# %% [markdown]
# ## Training with the hand-written backward
#
# Plain mini-batch gradient descent, batch 128, learning rate 0.01, with the accuracy
# on the 5,000 held-out validation images after each epoch (a larger rate, such as 0.1,
# makes the accuracy jump up and down from epoch to epoch: the standardised pixels give
# the loss a steep curvature). The test set is used once, at the end.

# %%
Xv = data.x_val.reshape(len(data.y_val), -1).astype(np.float64)
Xt = data.x_test.reshape(len(data.y_test), -1).astype(np.float64)
W = rng.normal(0, 0.01, (10, 784))
b = np.zeros(10)
order = np.random.default_rng(1)
for epoch in range(1, EPOCHS + 1):
    perm = order.permutation(len(y))
    for start in range(0, len(y), 128):
        i = perm[start : start + 128]
        loss, P = forward(W, b, X[i], y[i])
        dW, db = backward(P, X[i], y[i])
        W -= 0.01 * dW
        b -= 0.01 * db
    accuracy = ((Xv @ W.T + b).argmax(axis=1) == data.y_val).mean()
    print(f"epoch {epoch}: last batch loss {loss:.3f}, validation accuracy {accuracy:.4f}")
test_accuracy = ((Xt @ W.T + b).argmax(axis=1) == data.y_test).mean()
print(f"test accuracy after the last epoch: {test_accuracy:.4f}")
