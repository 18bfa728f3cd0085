# %% [markdown]
# # CIFAR-10 with a ResNet
#
# A residual network for 32x32 colour images (He et al. 2016, section 4.2): a 3x3
# convolution, then three stages of basic blocks (16, 32 and 64 channels, each stage
# halving the image), global average pooling and one linear layer. A basic block
# computes $\mathrm{ReLU}(x + F(x))$ where $F$ is conv-BN-ReLU-conv-BN; when the shape
# changes, the shortcut is a 1x1 convolution with stride 2.
#
# **Sizes.** `ci`: ResNet-8 (one block per stage, 78,042 parameters) on 2,000 training
# images for 3 epochs, which only starts learning. `full` (the notebook's default):
# ResNet-20 on 45,000 images (5,000 held out) for 15 epochs with the usual augmentation
# (random crops and flips) and a one-cycle schedule; that takes hours on a laptop's CPU.
# The test set is the first 1,000 CIFAR-10 test images (about $\pm 1.5$ points of
# sampling noise on any accuracy).

# %%
import os

import matplotlib.pyplot as plt

import glassnet as gn
from glassnet.train import fit

SIZE = os.environ.get("GLASSNET_LESSON_SIZE", "full")
if SIZE == "ci":
    NAME, TRAIN, EPOCHS, AUGMENT, SCHEDULE = "resnet8", 2_000, 3, False, None
else:
    NAME, TRAIN, EPOCHS, AUGMENT, SCHEDULE = "resnet20", None, 15, True, "onecycle"

data = gn.data.load("cifar10", val_size=5_000, train_size=TRAIN)
print(data)
model = gn.models.get(NAME, seed=0)
print(gn.summary(model, data.input_shape))

# %% [markdown]
# One residual block, as glassnet builds it (`glassnet.models.zoo.basic_block`):

# %%
print(model[3])

# %%
history = fit(model, data, epochs=EPOCHS, batch_size=128, optimizer="sgd", lr=0.1,
              momentum=0.9, weight_decay=5e-4, nesterov=True, augment=AUGMENT,
              scheduler=SCHEDULE, progress=False)
for e in history.epochs:
    print(f"epoch {e['epoch']}: train loss {e['train_loss']:.3f}  train acc "
          f"{e['train_accuracy']:.3f}  val acc {e['val_accuracy']:.3f}  "
          f"test acc {e['test_accuracy']:.3f}  ({e['seconds']:.0f} s)")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(history["epoch"], history["train_accuracy"], "o-", label="training")
ax.plot(history["epoch"], history["val_accuracy"], "o-", label="validation")
ax.set(xlabel="epoch", ylabel="accuracy", title=f"{NAME} on CIFAR-10")
ax.legend()
plt.show()

# %% [markdown]
# Why the shortcut helps: the gradient of $x + F(x)$ with respect to $x$ is
# $I + \partial F/\partial x$, so every block passes the gradient from the loss back
# unchanged plus its own contribution. Deep plain networks multiply many Jacobians
# whose norms may be below one; a residual network always has the identity path.
