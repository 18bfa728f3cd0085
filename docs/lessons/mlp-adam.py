# %% [markdown]
# # A 784-128-10 MLP with Adam and an exponential schedule
#
# The standard MNIST baseline: one hidden layer of 128 ReLU units, trained with Adam
# (learning rate $10^{-3}$) whose learning rate shrinks by a factor $\gamma = 0.95$ after
# every epoch, $\eta_t = \eta_0\,\gamma^t$ (`ExponentialLR`). We look at the loss curve, the
# first 20 test predictions, the first 20 mistakes, and what happens without input
# normalisation.
#
# **Sizes.** `ci`: 10,000 training images, 4 epochs. `full` (the notebook's default):
# 55,000 training images (5,000 held out for validation), 20 epochs.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import glassnet as gn
from glassnet.optim.lr_scheduler import ExponentialLR
from glassnet.train import fit
from glassnet.train.metrics import predictions

SIZE = os.environ.get("GLASSNET_LESSON_SIZE", "full")
TRAIN, EPOCHS = (10_000, 4) if SIZE == "ci" else (None, 20)


def train(normalize):
    data = gn.data.load("mnist", val_size=5_000, train_size=TRAIN, normalize=normalize)
    model = gn.models.get("mnist-mlp", seed=0)
    opt = gn.optim.Adam(model.parameters(), lr=1e-3)
    history = fit(model, data, epochs=EPOCHS, batch_size=64, optimizer=opt,
                  scheduler=ExponentialLR(opt, gamma=0.95), progress=False)
    return model, data, history


model, data, history = train(normalize=True)
print(gn.summary(model, (1, 28, 28)))
for e in history.epochs:
    print(f"epoch {e['epoch']}: lr {e['lr']:.2e}  train loss {e['train_loss']:.4f}  "
          f"val accuracy {e['val_accuracy']:.4f}  test accuracy {e['test_accuracy']:.4f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(history["epoch"], history["train_loss"], "o-", label="training")
ax.plot(history["epoch"], history["val_loss"], "o-", label="validation")
ax.set(xlabel="epoch", ylabel="cross-entropy", title="784-128-10, Adam + ExponentialLR(0.95)")
ax.legend()
plt.show()

# %% [markdown]
# ## The first 20 test images and what the model says

# %%
pred = predictions(gn.train.predict(model, data.x_test))
images = data.images("test")[..., 0]


def grid(indices, title):
    fig, axes = plt.subplots(2, 10, figsize=(12, 3))
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        ax.imshow(images[i], cmap="gray_r")
        colour = "black" if pred[i] == data.y_test[i] else "red"
        ax.set_title(f"{pred[i]} (true {data.y_test[i]})", fontsize=9, color=colour)
    fig.suptitle(title)
    plt.show()


grid(range(20), "first 20 test images: predicted (true)")
mistakes = np.flatnonzero(pred != data.y_test)
print(f"{len(mistakes)} mistakes in {len(pred):,} test images "
      f"({len(mistakes) / len(pred):.2%})")
grid(mistakes[:20], "the first 20 mistakes")

# %% [markdown]
# Look at the mistakes: many are digits a person would hesitate over too (a 4 closed at
# the top like a 9, a 7 with a long bar), others are plain errors of a model that sees
# pixels, not strokes.
#
# ## Without input normalisation
#
# `gn.data.load` standardises pixels with the training set's mean and standard
# deviation, $x' = (x - 0.1307)/0.3081$. With `normalize=False` the inputs are left in
# $[0, 1]$: mostly zeros with a mean of 0.13, so every hidden unit's input is shifted the
# same way and the first layer's gradients all share a sign pattern. Same model, same
# initial weights, same schedule (compared on the validation images):

# %%
_, _, raw_history = train(normalize=False)
print(f"{'epoch':>5} {'normalised':>11} {'raw [0,1]':>10}   (training loss)")
for a, b in zip(history.epochs, raw_history.epochs):
    print(f"{a['epoch']:>5} {a['train_loss']:>11.4f} {b['train_loss']:>10.4f}")
print(f"validation accuracy after the last epoch: normalised {history['val_accuracy'][-1]:.4f}, "
      f"raw {raw_history['val_accuracy'][-1]:.4f}")
