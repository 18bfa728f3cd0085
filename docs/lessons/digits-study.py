# %% [markdown]
# # The digits study: from a sigmoid MLP to a CNN with a skip link
#
# The classic study this project started from: four models of growing structure, each
# trained from the **same initial weights** on the same data, by glassnet, by PyTorch and
# (for the MLP) by scikit-learn.
#
# | model | what it adds |
# | --- | --- |
# | `baseline` | 64-30-10 perceptron, sigmoid hidden layer |
# | `cnn` | a 3x3 convolution (18 filters, ReLU) before a 64-unit hidden layer |
# | `cnn-pool` | 2x2 max pooling after the convolution |
# | `cnn-pool-skip` | the pooled features concatenated with the raw image (a skip link) |
#
# Then the same four on CIFAR-10 with 1,000 training images, and what replacing the
# sigmoid by Leaky ReLU does to the MLP.
#
# **Sizes.** `GLASSNET_LESSON_SIZE=ci` (what the documentation build runs): 10 epochs on
# digits, 4 on CIFAR-10. `full` (the default when you open the notebook): 30 epochs on
# digits and 15 on CIFAR-10. Build the site at full size with
# `make docs GLASSNET_LESSON_SIZE=full`, or run this notebook in Jupyter.

# %%
import os
import tempfile

import numpy as np

import glassnet as gn
from glassnet.study import CompareConfig, run_compare
from glassnet.study.compare import results_table

SIZE = os.environ.get("GLASSNET_LESSON_SIZE", "full")
DIGITS_EPOCHS, CIFAR_EPOCHS = (10, 4) if SIZE == "ci" else (30, 15)
print(f"size {SIZE}: {DIGITS_EPOCHS} epochs on digits, {CIFAR_EPOCHS} on CIFAR-10")


def study(**settings):
    """One `glassnet compare` run in a scratch folder; returns its results."""
    with tempfile.TemporaryDirectory() as tmp:
        config = CompareConfig(**settings)
        _, results = run_compare(config, out=os.path.join(tmp, "run"), log=lambda *a: None,
                                 report=False)
    return results


# %% [markdown]
# ## The four models on the 8x8 digits
#
# 1,797 images of 8x8 pixels; scikit-learn ships them, so this part needs no download.
# Every engine trains with Adam (learning rate $10^{-3}$), batch 32, the same seed and the
# same batch order.

# %%
digits = study(dataset="digits", epochs=DIGITS_EPOCHS, engines=["glassnet", "torch", "sklearn"])
print(results_table(digits))

# %% [markdown]
# Read the table by rows of one model: the three engines start from the same weights and
# see the same batches, so their accuracies differ only by floating-point rounding
# (scikit-learn's MLP differs a little more: its L2 penalty and batch handling are its
# own). Down the table, each model adds one piece of structure: the convolution sees
# neighbouring pixels together and shares its filters across the image, pooling makes
# the features tolerate small shifts and shrinks the next layer (a quarter of the
# parameters), and the skip link hands the classifier the raw pixels beside the
# features. `final test` is the test accuracy after the last epoch; `best val` and
# `best ep` are the best accuracy on the validation split (10% of the training images,
# held out) and its epoch: the test set chooses nothing. What each piece bought in this
# run, from glassnet's rows:

# %%
import matplotlib.pyplot as plt


def steps(results):
    """Each model against the one before it: accuracy and parameters (glassnet's runs)."""
    runs = [r for r in results["runs"] if r["engine"] == "glassnet" and r["status"] == "ok"]
    for before, after in zip(runs, runs[1:]):
        change = (after["final_test_accuracy"] - before["final_test_accuracy"]) * 100
        print(f"{before['model']:>13} -> {after['model']:<14} test accuracy "
              f"{change:+6.2f} points, parameters x{after['params'] / before['params']:.2f}")


steps(digits)


def curves(results, title):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for run in results["runs"]:
        if run["engine"] != "glassnet" or run["status"] != "ok":
            continue
        epochs = [e["epoch"] for e in run["history"]]
        axes[0].plot(epochs, [e["train_loss"] for e in run["history"]], label=run["model"])
        axes[1].plot(epochs, [e["test_accuracy"] for e in run["history"]], label=run["model"])
    axes[0].set(xlabel="epoch", ylabel="training loss", title=title)
    axes[1].set(xlabel="epoch", ylabel="test accuracy", title=title)
    axes[1].legend()
    fig.tight_layout()
    plt.show()


curves(digits, "digits")

# %% [markdown]
# ## The same four on CIFAR-10 with 1,000 training images
#
# 32x32 colour photographs of ten classes, and only 100 training images per class: a
# much harder problem. (The test set here is the first 1,000 CIFAR-10 test images, so
# each accuracy carries about $\pm 1.5$ points of sampling noise.)

# %%
cifar = study(dataset="cifar10", train_size=1000, epochs=CIFAR_EPOCHS, engines=["glassnet", "torch", "sklearn"])
print(results_table(cifar))
steps(cifar)
curves(cifar, "CIFAR-10, 1,000 training images")

# %% [markdown]
# With 100 images per class every model overfits quickly, and the differences between
# the four are a few points, close to the $\pm 1.5$ points of sampling noise of a
# 1,000-image test set: on photographs, structure alone does not make up for so little
# data (at the `ci` size the models have also trained for only 4 epochs). Compare the
# parameter counts: the CNN without pooling has four times the baseline's, almost all in
# the first fully connected layer.
#
# ## Sigmoid against Leaky ReLU
#
# The baseline's hidden layer uses a sigmoid, whose derivative is at most $1/4$ and
# vanishes for large $|z|$. Swap it for a Leaky ReLU (derivative 1 for $z>0$, 0.01 below)
# and train both from the same first-layer weights:

# %%
from glassnet.train import fit


def mlp(activation, data):
    gn.manual_seed(0)
    features = int(np.prod(data.input_shape))
    return gn.nn.Sequential(gn.nn.Flatten(), gn.nn.Linear(features, 30), activation,
                            gn.nn.Linear(30, data.num_classes))


for name, data_kwargs, epochs in (
    ("digits", {}, DIGITS_EPOCHS),
    ("cifar10", {"train_size": 1000}, CIFAR_EPOCHS),
):
    data = gn.data.load(name, val_size=0.1, **data_kwargs)  # the study's split
    for activation in (gn.nn.Sigmoid(), gn.nn.LeakyReLU(0.01)):
        model = mlp(activation, data)
        history = fit(model, data, epochs=epochs, batch_size=32, progress=False)
        print(f"{name:8s} {type(activation).__name__:10s} after {epochs} epochs: validation "
              f"accuracy {history['val_accuracy'][-1]:.3f}, test {history['test_accuracy'][-1]:.3f}")

# %% [markdown]
# Leaky ReLU passes the gradient through the hidden layer at full size where a unit is
# active, where the sigmoid scales it by at most $1/4$, so at the same learning rate the
# first layer moves faster: compare the two rows of each dataset (on the validation
# accuracy; the test figure is reported, not used to choose). With a single hidden
# layer the effect is mild; [ReLU against sigmoid](../concepts/relu-vs-sigmoid.md) shows
# it growing with depth, layer by layer.
