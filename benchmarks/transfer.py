"""The transfer study of issue 26: features learnt on one task, reused with few labels.

    python benchmarks/transfer.py                      # about 15-30 minutes here
    python benchmarks/transfer.py --per-class 10,50 --steps 200

LeNet-5 is trained on MNIST's digits 0-4 only (the "pretrained" network; its best epoch
chosen on a validation split of 0-4). It is then moved to two targets, each with
10, 50 and 500 training images per class (``glassnet.study.transfer.run_transfer``:
train from scratch, a linear head on frozen features, fine-tune everything with a
10x smaller learning rate for the body). The head's features are the pooled output of
the second convolution (layer ``5``, 400 per image), as the classic assignment takes
AlexNet's conv4 rather than its last hidden layer: the last hidden layers of a small
network are specific to the classes it was trained on.

* ``mnist 5-9``      the digits it has never seen (a near task: same strokes);
* ``fashion-mnist``  clothes (a far task: same image size, other content).

The images of both targets are normalised with the source's statistics (what the
network was trained on). Every run picks its best epoch on the target's validation
split; the test accuracy is read once, at that epoch. Results go to
benchmarks/results/<date>-transfer.{json,md}.
"""

from __future__ import annotations

import _common as C
import numpy as np

import glassnet as gn
from glassnet import data, models, train
from glassnet.data import Dataset
from glassnet.study.transfer import TransferConfig, run_transfer, transfer_table


def class_subset(ds: Dataset, keep, name: str) -> Dataset:
    """The images of the classes ``keep`` (relabelled 0..len(keep)-1), statistics kept."""
    keep = list(keep)
    lookup = np.full(len(ds.classes), -1)
    lookup[keep] = np.arange(len(keep))
    splits, raw = {}, {}
    for split in ("train", "val", "test"):
        x, y = ds.split(split)
        mask = np.isin(y, keep)
        splits[split] = (x[mask], lookup[y[mask]])
        raw[split] = ds.images(split, layout="NCHW")[mask]  # MNIST: 0-255 as stored
    classes = [ds.classes[k] for k in keep]
    return Dataset(name, splits, raw, classes, ds.mean, ds.std, ds.scale, ds.source, ds.notes)


def main() -> None:
    def more(parser):
        parser.add_argument("--per-class", default="10,50,500")
        parser.add_argument("--steps", type=int, default=300)
        parser.add_argument("--pretrain-epochs", type=int, default=3)
        parser.add_argument("--layer", default="5", help="features for 'head' (default: 5)")

    args = C.parse_args(__doc__.splitlines()[0], more)
    C.pin_threads(args.threads)
    per_class = tuple(int(n) for n in args.per_class.split(","))

    mnist = data.load("mnist", val_size=5000, seed=0)
    source = class_subset(mnist, range(5), "mnist 0-4")
    model = models.get("lenet5", num_classes=5, seed=0)
    history = train.fit(
        model, source, epochs=args.pretrain_epochs, batch_size=64, lr=3e-3,
        scheduler="onecycle", seed=0, progress=False, eval_test=False,
    )  # fmt: skip
    pre_val = history.epochs[-1]["val_accuracy"]
    pre_test = train.evaluate(model, source, details=False)["accuracy"]
    print(f"pretrained lenet5 on {source!r}: val {pre_val:.4f}, test {pre_test:.4f}")

    stats = (source.mean, source.std)
    results = {
        "machine": C.machine_info(args.threads),
        "pretrained": {"dataset": source.name, "val": pre_val, "test": pre_test},
    }
    targets = {
        "mnist 5-9": lambda: class_subset(mnist, range(5, 10), "mnist 5-9"),
        "fashion-mnist": lambda: data.load("fashion-mnist", val_size=1000, seed=0),
    }
    tables = []
    for name, make in targets.items():
        cfg = TransferConfig(
            dataset="mnist", per_class=per_class, steps=args.steps, layer=args.layer
        )
        result = run_transfer(model, cfg, input_stats=stats, dataset=make(), progress=False)
        results[name] = result
        tables.append(f"### digits 0-4 -> {name}\n\n{transfer_table(result)}\n")
        print(tables[-1])
    text = (
        "# Transfer: LeNet-5 pretrained on MNIST digits 0-4\n\n"
        f"Pretrained: validation {pre_val * 100:.2f}%, test {pre_test * 100:.2f}% on 0-4. "
        f"'head' is a linear classifier on the frozen features at layer {args.layer!r}. "
        f"Each cell: test accuracy at the best validation epoch, {args.steps} Adam steps "
        "of 32 images (lr 1e-3; fine-tune: body 1e-4).\n\n" + "\n".join(tables)
    )
    C.write_results(args, "transfer", results, text)


if __name__ == "__main__":
    gn.manual_seed(0)
    main()
