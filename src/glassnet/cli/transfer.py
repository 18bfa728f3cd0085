"""``glassnet transfer`` (a pretrained network on a new dataset, three ways) and
``glassnet export`` (a model to ONNX)."""

from __future__ import annotations

from pathlib import Path

from .common import (
    UserError,
    _positive_float,
    add_command,
    count_or_fraction,
    csv_list,
    non_negative_int,
    parse_shape,
    positive_int,
    require_module,
)

__all__ = ["add_transfer", "add_export", "load_pretrained"]

TRANSFER_EXAMPLES = """\
  # pretrain LeNet-5 on MNIST's digits 0-4, then move it to 5-9 with few labels; the
  # head is trained on the pooled conv features, layer 5 ('glassnet summary lenet5')
  glassnet train --model lenet5 --dataset 'mnist?classes=0-4' --epochs 3 --out runs/digits0-4
  glassnet transfer runs/digits0-4/model.safetensors --dataset 'mnist?classes=5-9' \\
      --layer 5 --per-class 10,50,500 --out runs/transfer-5-9
  # the same network on Fashion-MNIST (a far task)
  glassnet transfer runs/digits0-4/model.safetensors --dataset fashion-mnist --layer 5
  # torchvision's AlexNet (its .pth downloaded on a machine with internet) on your images,
  # a linear classifier on conv4's features (features.9: conv4 after its ReLU) only
  glassnet transfer alexnet --weights alexnet-owt-7be5be79.pth \\
      --dataset 'folder:faces?size=224,resize=256' --layer features.9 --modes head
"""

EXPORT_EXAMPLES = """\
  glassnet export runs/mnist-lenet5/model.safetensors --onnx lenet5.onnx
  glassnet export resnet18 --weights resnet18-f37072fd.pth --onnx resnet18.onnx
"""


def _add_model_args(p) -> None:
    p.add_argument(
        "model",
        help="a model.safetensors written by glassnet train (the architecture is in its "
        "metadata), or a zoo model name (with --weights, e.g. torchvision's alexnet .pth)",
    )
    p.add_argument(
        "--weights",
        help="weights for a zoo model name: a .pth/.pt (read with torch.load(weights_only="
        "True)) or .safetensors file whose keys are the model's (torchvision's for alexnet, "
        "resnet18)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="alexnet/resnet18: download torchvision's ImageNet weights (SHA-256 checked) "
        "into $GLASSNET_WEIGHTS or ~/.cache/glassnet/weights",
    )
    p.add_argument("--input-shape", type=parse_shape, help="C,H,W for a zoo model name")


def load_pretrained(args, input_shape=None):
    """The model named by ``args.model`` (a run's weights file, or a zoo name with
    ``--weights`` / ``--download``), its weights loaded."""
    from .. import models
    from ..study.train_run import load_model

    name = args.model
    weights = getattr(args, "weights", None)
    shape = getattr(args, "input_shape", None) or input_shape
    path = Path(name)
    if path.suffix.lower() in (".pth", ".pt", ".bin", ".ckpt"):
        raise UserError(
            f"{path} holds weights but not the architecture: name the zoo model and pass the "
            f"file with --weights, e.g. 'alexnet --weights {path}'"
        )
    if path.suffix.lower() == ".safetensors" or path.exists():
        if path.is_dir():
            raise UserError(
                f"{path} is a folder; pass a weights file, e.g. {path / 'model.safetensors'}"
            )
        if not path.exists():
            raise UserError(f"no such file: {path}")
        if weights:
            raise UserError("--weights goes with a zoo model name, not with a run's weights file")
        return load_model(path)
    key = models.resolve(name)  # a ValueError listing the zoo
    if weights is None and not getattr(args, "download", False):
        if key in models.weights.PRETRAINED:
            raise UserError(
                f"{key} needs weights: --weights FILE (torchvision's "
                f"{models.weights.PRETRAINED[key].filename}) or --download"
            )
        raise UserError(f"{key} needs weights: --weights FILE (.pth or .safetensors)")
    if key in models.weights.PRETRAINED:
        require_module("torch", "reading .pth files needs PyTorch: pip install torch")
        return models.pretrained(
            key, weights, download=getattr(args, "download", False), input_shape=shape
        )
    if getattr(args, "download", False):
        raise UserError(
            f"--download knows {', '.join(sorted(models.weights.PRETRAINED))}, not {key}"
        )
    from ..interop.torch import load_state_dict_file

    state = load_state_dict_file(weights)
    # the classes: the rows of the classifier's (the last Linear's) weight in the file
    from ..train.transfer import head_name

    head = head_name(models.get(key, input_shape=shape)) + ".weight"
    classes = int(state[head].shape[0]) if head in state else None
    model = models.get(key, input_shape=shape, num_classes=classes)
    model.load_state_dict(state)
    return model


# ---------------------------------------------------------------------------- transfer
def add_transfer(sub) -> None:
    p = add_command(
        sub,
        "transfer",
        "Move a pretrained network to a new dataset: train from scratch, a new head on "
        "frozen features, or fine-tune everything, for several training-set sizes.",
        TRANSFER_EXAMPLES,
    )
    _add_model_args(p)
    p.add_argument(
        "--dataset",
        default="fashion-mnist",
        help="the target: digits | mnist | fashion-mnist | cifar10, some of their classes "
        "('mnist?classes=5-9'), or your images ('folder:PATH?size=64') (default: fashion-mnist)",
    )
    p.add_argument("--data-dir", help="folder with the dataset files (default: $GLASSNET_DATA)")
    p.add_argument(
        "--per-class",
        default="10,50,500",
        help="training images per class, one run of each mode per count (default: 10,50,500)",
    )
    p.add_argument(
        "--modes",
        default="scratch,head,finetune",
        help="scratch, head (a linear classifier on frozen features), finetune "
        "(default: all three)",
    )
    p.add_argument(
        "--layer",
        help="the layer whose output the head is trained on, e.g. features.9 (AlexNet's "
        "conv4) (default: the input of the last Linear); 'glassnet summary MODEL' lists them",
    )
    p.add_argument(
        "--steps", type=positive_int, default=300, help="optimizer steps per run (default: 300)"
    )
    p.add_argument("--batch-size", type=positive_int, default=32, help="default: 32")
    p.add_argument(
        "--lr", type=_positive_float, default=1e-3, help="Adam's learning rate (default: 0.001)"
    )
    p.add_argument(
        "--body-lr-scale",
        type=_positive_float,
        default=0.1,
        help="finetune: the body's learning rate is lr times this (default: 0.1)",
    )
    p.add_argument(
        "--val-size",
        type=count_or_fraction,
        default=1000,
        help="validation images held out of the target's training split, for the best "
        "epoch (default: 1000)",
    )
    p.add_argument(
        "--normalize",
        choices=["source", "target"],
        default="source",
        help="normalise the target's images with the statistics the pretrained network "
        "was trained with (source: its run's dataset, ImageNet's for torchvision weights) "
        "or with the target's own (default: source)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="default: 0")
    p.add_argument("--out", help="folder for transfer.json and transfer.md (default: print only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_transfer)


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(c) for c in csv_list(text))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise UserError(f"--per-class takes positive counts such as 10,50,500, got {text!r}")
    return counts


def cmd_transfer(args) -> int:
    from .. import data
    from ..io import atomic_write, write_json
    from ..study.transfer import TransferConfig, run_transfer, transfer_table

    out = Path(args.out) if getattr(args, "out", None) else None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} is a file, not a folder")
        if (out / "transfer.json").exists():
            raise UserError(f"{out} already holds a transfer study; give another --out")
    dataset = data.canonical_name(args.dataset)
    val_size = args.val_size
    if isinstance(val_size, float):
        raise UserError("--val-size takes a count of images here (e.g. 1000)")
    cfg = TransferConfig(
        dataset=dataset,
        per_class=_counts(args.per_class),
        modes=tuple(csv_list(args.modes)),
        layer=getattr(args, "layer", None),
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        body_lr_scale=args.body_lr_scale,
        val_size=val_size,
        seed=args.seed,
        data_dir=getattr(args, "data_dir", None),
    ).validate()
    model = load_pretrained(args)
    stats = _source_stats(args) if args.normalize == "source" else None
    result = run_transfer(
        model, cfg, progress=not getattr(args, "no_progress", False), input_stats=stats
    )
    table = transfer_table(result)
    print("\ntest accuracy (best epoch on validation)\n" + table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "transfer.json", result)
        text = (
            f"# Transfer: {result['pretrained']} -> {result['dataset']}\n\n"
            f"Features for 'head' at layer `{result['layer']}`; head `{result['head']}`.\n\n"
            f"{table}\n\n" + "".join(f"- {n}\n" for n in result["notes"])
        )
        with atomic_write(out / "transfer.md", "w") as f:
            f.write(text)
        print(f"\nwrote {out / 'transfer.json'} and {out / 'transfer.md'}")
    return 0


def _source_stats(args):
    """(mean, std) the pretrained network's inputs were normalised with: ImageNet's for
    torchvision's weights; for a run's weights, its dataset's (from its config.json,
    with the run's split); None when unknown (the target's own are used)."""
    from .. import data, models

    path = Path(args.model)
    if not path.exists():  # a zoo name with --weights / --download
        key = models.resolve(args.model)
        if key in models.weights.PRETRAINED:
            return models.weights.IMAGENET_MEAN, models.weights.IMAGENET_STD
        return None
    configs = [f / "config.json" for f in (path.parent, path.parent.parent)]
    config = next((c for c in configs if c.exists()), None)
    if config is None:
        return None
    from .common import read_config

    settings = read_config(config)
    if "dataset" not in settings:
        return None
    source = data.load(
        settings["dataset"],
        data_dir=getattr(args, "data_dir", None),
        val_size=settings.get("val_size", 0),
        train_size=settings.get("train_size"),
        seed=settings.get("seed", 0),
    )
    print(f"normalising as the pretrained network's data, {source.name}")
    return source.mean, source.std


# ---------------------------------------------------------------------------- export
def add_export(sub) -> None:
    p = add_command(
        sub,
        "export",
        "Write a model as ONNX (built with the onnx package; checked with onnx.checker).",
        EXPORT_EXAMPLES,
    )
    _add_model_args(p)
    p.add_argument("--onnx", required=True, help="the .onnx file to write")
    p.add_argument("--num-classes", type=positive_int, help="classes for a zoo model name")
    p.set_defaults(handler=cmd_export)


def cmd_export(args) -> int:
    require_module("onnx", "glassnet export needs onnx: pip install 'glassnet[onnx]'")
    from ..interop.onnx import export

    model = load_pretrained(args)
    shape = model.zoo_spec["input_shape"]
    try:
        path = export(model, args.onnx, shape)
    except TypeError as exc:  # a layer without an ONNX form, named
        raise UserError(str(exc)) from None
    print(
        f"wrote {path}: {model.zoo_spec['model']}, input 'input' "
        f"(N, {', '.join(map(str, shape))}), output 'logits'"
    )
    return 0
