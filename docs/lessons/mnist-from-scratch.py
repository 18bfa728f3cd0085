# %% [markdown]
# # MNIST from scratch: a two-layer perceptron, overfitting, then LeNet-5
#
# A 784-100-10 perceptron with a sigmoid hidden layer, trained with mini-batches of 256
# on 2,000 images and then on many more, with the training and validation curves side
# by side: the small training set is learned by heart, and the validation curve shows
# it. Then per-digit error rates, the first layer's weights as pictures, and LeNet-5.
#
# **Sizes.** `ci`: the small run uses 2,000 images and the large one 20,000, 8 epochs
# each, and LeNet-5 trains 2 epochs on 10,000 images. `full` (the notebook's default):
# 2,000 against 50,000 images for 30 epochs, LeNet-5 for 10 epochs on 50,000. The
# validation set is always 10,000 images held out from the training set; the test set
# is MNIST's 10,000 test images.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import glassnet as gn
from glassnet.train import fit
from glassnet.train.metrics import per_class_errors, predictions
from glassnet.viz.images import mosaic, weight_tiles

SIZE = os.environ.get("GLASSNET_LESSON_SIZE", "full")
if SIZE == "ci":
    LARGE, EPOCHS, LENET_TRAIN, LENET_EPOCHS = 20_000, 8, 10_000, 2
else:
    LARGE, EPOCHS, LENET_TRAIN, LENET_EPOCHS = 50_000, 30, 50_000, 10
print(f"size {SIZE}: 2,000 vs {LARGE:,} images, {EPOCHS} epochs; "
      f"LeNet-5 {LENET_EPOCHS} epochs on {LENET_TRAIN:,}")


def perceptron():
    gn.manual_seed(0)  # both runs start from the same weights
    return gn.nn.Sequential(gn.nn.Flatten(), gn.nn.Linear(784, 100), gn.nn.Sigmoid(),
                            gn.nn.Linear(100, 10))


runs = {}
for n in (2_000, LARGE):
    data = gn.data.load("mnist", val_size=10_000, train_size=n)
    model = perceptron()
    history = fit(model, data, epochs=EPOCHS, batch_size=256, optimizer="sgd", lr=0.5,
                  momentum=0.9, progress=False)
    runs[n] = (model, data, history)
    print(f"{n:>6,} training images: train accuracy {history['train_accuracy'][-1]:.3f}, "
          f"validation {history['val_accuracy'][-1]:.3f}, test {history['test_accuracy'][-1]:.3f}")

# %% [markdown]
# ## Training and validation curves
#
# The loss is the mean cross-entropy $-\frac{1}{N}\sum_n \log p_{n, y_n}$. On 2,000 images the
# training loss keeps falling while the validation loss stops following it: the gap
# between the two is overfitting. With more data the two curves stay together.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, (n, (_, _, history)) in zip(axes, runs.items()):
    epochs = history["epoch"]
    ax.plot(epochs, history["train_loss"], label="training")
    ax.plot(epochs, history["val_loss"], label="validation")
    ax.set(title=f"{n:,} training images", xlabel="epoch", ylabel="cross-entropy")
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Which digits are hard?
#
# The error rate of each true digit, on the test set, for the model trained on more data:

# %%
model, data, _ = runs[LARGE]
model.eval()
with gn.no_grad():
    pred = predictions(gn.train.predict(model, data.x_test))
wrong = per_class_errors(data.y_test, pred, 10)  # misclassified images of each true digit
count = np.bincount(data.y_test, minlength=10)
for digit in range(10):
    rate = wrong[digit] / count[digit]
    print(f"digit {digit}: {wrong[digit]:>4} of {count[digit]:>5,} wrong ({rate:6.2%})  "
          f"{'#' * int(round(rate * 400))}")
print(f"all digits: {wrong.sum()} of {count.sum():,} wrong ({wrong.sum() / count.sum():.2%})")

# %% [markdown]
# ## What the first layer learned
#
# Each hidden unit has 784 weights, one per pixel: drawn as a 28x28 picture (red positive,
# blue negative), many look like pen strokes or blurred parts of digits.

# %%
tiles = weight_tiles(model[1].weight.data, input_shape=(1, 28, 28), max_units=64)
plt.figure(figsize=(7, 7))
plt.imshow(mosaic(tiles, cols=8))
plt.axis("off")
plt.title("first-layer weights of 64 hidden units")
plt.show()

# %% [markdown]
# ## LeNet-5
#
# LeCun's convolutional network (here with ReLU and max pooling, as it is usually built
# today): two 5x5 convolutions with pooling, then 120-84-10 fully connected, 61,706
# parameters. It sees strokes wherever they are, and beats the perceptron with fewer
# epochs.

# %%
lenet_data = gn.data.load("mnist", val_size=10_000, train_size=LENET_TRAIN)
gn.manual_seed(0)
lenet = gn.models.get("lenet5")
print(gn.summary(lenet, (1, 28, 28)))
history = fit(lenet, lenet_data, epochs=LENET_EPOCHS, batch_size=64, optimizer="adam",
              lr=1e-3, progress=False)
for e in history.epochs:
    print(f"epoch {e['epoch']}: train loss {e['train_loss']:.3f}, "
          f"validation accuracy {e['val_accuracy']:.4f}, test accuracy {e['test_accuracy']:.4f}")
