"""The commands that inspect: ``gradcheck``, ``summary``, ``datasets``, ``report``."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from .common import (
    UserError,
    add_command,
    knob_table,
    non_negative_int,
    parse_shape,
    positive_int,
)

__all__ = ["add_gradcheck", "add_summary", "add_datasets", "add_report", "parse_layer"]


def parse_layer(text: str):
    """'Conv2d(3, 8, 3, stride=2, padding=1)' -> the glassnet.nn layer; containers take
    layers as arguments ('Sequential(Linear(4, 3), ReLU())', 'Residual(Linear(4, 4))').
    Only literal arguments are accepted (the text is parsed, never evaluated)."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise UserError(
            f"cannot parse layer {text!r}; write it like Conv2d(3, 8, 3, stride=2)"
        ) from None
    return _build_layer(node, text)


def _build_layer(node, text: str):
    from .. import nn

    if isinstance(node, ast.Name):
        node = ast.Call(func=node, args=[], keywords=[])
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise UserError(f"{text!r} is not a layer call like Linear(4, 3)")
    cls = getattr(nn, node.func.id, None)
    abstract = (nn.Module, nn.ModuleList)  # no forward or backward of their own
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or cls in abstract:
        raise UserError(f"glassnet.nn has no layer {node.func.id!r}")
    if issubclass(cls, nn.loss._Loss):
        raise UserError(f"{node.func.id} is a loss, not a layer; gradcheck checks layers")

    def value(arg):
        name = arg.func if isinstance(arg, ast.Call) else arg
        if isinstance(name, ast.Name) and isinstance(getattr(nn, name.id, None), type):
            return _build_layer(arg, text)  # a layer inside a container
        return ast.literal_eval(arg)  # anything else: a ValueError unless a literal

    try:
        args = [value(a) for a in node.args]
        kwargs = {k.arg: value(k.value) for k in node.keywords}
    except ValueError:
        raise UserError(f"layer arguments must be literals or layers in {text!r}") from None
    try:
        return cls(*args, **kwargs)
    except TypeError as exc:  # a missing or unknown argument
        raise UserError(f"{ast.unparse(node)}: {exc}") from None


# ---------------------------------------------------------------------------- gradcheck
def add_gradcheck(sub) -> None:
    p = add_command(
        sub,
        "gradcheck",
        "Check a zoo model's or a layer's backward against central differences (float64).",
        "  glassnet gradcheck digits-cnn-pool-skip\n"
        "  glassnet gradcheck resnet8 --batch 2 --max-checks 20\n"
        "  glassnet gradcheck 'Conv2d(3, 4, 3, stride=2, padding=1)' --input-shape 2,3,9,9\n"
        "  glassnet gradcheck 'MaxPool2d(3, stride=2, padding=1)' --input-shape 2,3,8,8\n",
    )
    p.add_argument("target", help="a zoo model name or a layer like 'Linear(8, 3)'")
    p.add_argument(
        "--input-shape",
        type=parse_shape,
        help="full input shape incl. batch (layers); zoo models use their own",
    )
    p.add_argument(
        "--batch", type=positive_int, default=2, help="batch size for zoo models (default 2)"
    )
    p.add_argument(
        "--max-checks",
        type=non_negative_int,
        default=60,
        help="entries checked per tensor (default 60; 0 = all)",
    )
    p.add_argument("--eval", action="store_true", default=False, help="check in evaluation mode")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_gradcheck)


def cmd_gradcheck(args) -> int:
    from .. import gradcheck, manual_seed, models

    manual_seed(args.seed)
    target = args.target
    if "(" in target or target[:1].isupper():
        module = parse_layer(target)
        shape = getattr(args, "input_shape", None)
        if shape is None:
            raise UserError("a layer needs --input-shape (with the batch), e.g. 2,3,8,8")
    else:
        module = models.get(target)
        shape = (args.batch, *module.zoo_spec["input_shape"])
    if args.eval:
        module.eval()
    rng = np.random.default_rng(args.seed)
    # distinct values: ties (max pooling) and kinks (ReLU at 0) break finite differences
    x = rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape) * 4 - 2
    x += rng.uniform(-0.1, 0.1, size=shape) / np.prod(shape)
    result = gradcheck(module, x, max_checks=args.max_checks or None, seed=args.seed)
    print(result)
    return 0 if result else 1


# ---------------------------------------------------------------------------- summary
def add_summary(sub) -> None:
    p = add_command(
        sub,
        "summary",
        "Print a zoo model's layers, output shapes and parameter counts.",
        "  glassnet summary lenet5\n"
        "  glassnet summary cnn-pool --input-shape 3,32,32\n"
        "  glassnet summary baseline --set hidden=64,activation=relu\n"
        "  glassnet summary --list\n",
    )
    p.add_argument("model", nargs="?", help="a zoo model name")
    p.add_argument("--input-shape", type=parse_shape, help="(C,H,W) to adapt the model to")
    p.add_argument(
        "--num-classes", type=positive_int, help="classes of the last layer (default: 10)"
    )
    p.add_argument("--list", action="store_true", default=False, help="list the zoo models")
    p.add_argument(
        "--set",
        dest="knobs",
        type=knob_table,
        metavar="KNOBS",
        help="the model's knobs, e.g. hidden=64,activation=relu (its knobs and defaults are "
        "listed under the table)",
    )
    p.set_defaults(handler=cmd_summary)


def cmd_summary(args) -> int:
    from .. import models, summary

    if getattr(args, "list", False) or getattr(args, "model", None) is None:
        for name in models.list():
            info = models.info(name)
            shape = "x".join(map(str, info["input_shape"]))
            print(f"{name:<24}{info['parameters']:>10,} params  {shape:<9} {info['description']}")
        return 0
    model = models.get(
        args.model,
        input_shape=getattr(args, "input_shape", None),
        num_classes=getattr(args, "num_classes", None),
        **getattr(args, "knobs", {}),
    )
    print(f"{model.zoo_spec['model']}\n")
    print(summary(model, model.zoo_spec["input_shape"]))
    defaults = models.knobs(args.model)
    knobs = {**defaults, **model.zoo_spec["options"]}
    text = ", ".join(f"{k}={v!r}" for k, v in knobs.items()) or "none"
    changed = [k for k in knobs if knobs[k] != defaults.get(k)]
    note = ", ".join(f"{k}={defaults[k]!r}" for k in changed if k in defaults)
    note = f"defaults: {note}; " if note else ""
    print(f"\nknobs: {text} ({note}change with --set)")
    return 0


# ---------------------------------------------------------------------------- datasets
def add_datasets(sub) -> None:
    p = add_command(
        sub,
        "datasets",
        "List datasets and where their files are; download or verify them.",
        "  glassnet datasets                    # what is available, and where\n"
        "  glassnet datasets list cifar10       # one dataset\n"
        "  glassnet datasets download mnist     # fetch (checksums verified) into the cache\n"
        "  glassnet datasets verify mnist       # MD5 of the local files\n"
        "  GLASSNET_DATA=/data glassnet datasets\n",
    )
    p.add_argument("action", nargs="?", choices=["list", "download", "verify"], default="list")
    p.add_argument("name", nargs="?", help="dataset to list, download or verify")
    p.add_argument("--data-dir")
    p.set_defaults(handler=cmd_datasets)


def cmd_datasets(args) -> int:
    from .. import data

    data_dir = getattr(args, "data_dir", None)
    if args.action == "list":
        only = data.canonical_name(args.name) if getattr(args, "name", None) else None
        print(
            f"data folder: {data.data_root(data_dir)}  (set with --data-dir or ${data.ENV_VAR})\n"
        )
        for info in data.available(data_dir):
            if only is not None and info.name != only:
                continue
            shape = "x".join(map(str, info.input_shape))
            if info.present:
                state = "present"
            elif info.problem:
                state = f"damaged: {info.problem} (glassnet datasets verify {info.name})"
            else:
                state = f"missing (glassnet datasets download {info.name})"
            print(
                f"{info.name:<15}{shape:<9}{info.num_classes:>3} classes  {state}\n"
                f"{'':<15}{info.folder}"
            )
        return 0
    if not getattr(args, "name", None):
        raise UserError(f"'{args.action}' needs a dataset name, e.g. mnist")
    name = data.canonical_name(args.name)
    if args.action == "download":
        dataset = data.load(name, data_dir=data_dir, download=True)
        where = "scikit-learn" if name == "digits" else data.data_root(data_dir) / name
        print(f"{dataset!r} ready (from {where})")
        return 0
    status = data.verify(name, data_dir)
    for file, state in status.items():
        print(f"{state:<18} {file}")
    return 0 if all(s == "ok" or s.startswith("read (") for s in status.values()) else 1


# ---------------------------------------------------------------------------- report
def add_report(sub) -> None:
    p = add_command(
        sub,
        "report",
        "Rebuild report.html and the PNG plots of a compare or train run folder (or the "
        "report of a sweep).",
        "  glassnet report runs/20261122-101500-digits\n"
        "  glassnet report runs/20261122-103000-digits-lenet5      # a train run\n"
        "  glassnet report runs/20261122-104500-digits-sweep       # a sweep\n",
    )
    p.add_argument("run_dir")
    p.set_defaults(handler=cmd_report)


def cmd_report(args) -> int:
    from ..io import write_json
    from ..study import load_results
    from ..study.compare import write_report

    folder = Path(args.run_dir)
    if (folder / "trials").is_dir() and (folder / "config.json").is_file():  # a sweep
        from ..io import read_json
        from ..report.sweep import build_sweep_report

        if not (folder / "results.json").exists():
            raise UserError(
                f"{folder} holds a sweep that was interrupted before its results were written "
                f"(no results.json): continue it with 'glassnet sweep --resume {folder}'"
            )
        print(f"report: {build_sweep_report(folder, read_json(folder / 'results.json'))}")
        return 0
    dataset = None
    if (folder / "results.json").exists() and not _stale_train_results(folder):
        results = load_results(folder)  # a damaged file: a ValueError naming it
    elif (folder / "model.safetensors").is_file() and (folder / "history.json").is_file():
        # a train run from before train wrote results.json, or one continued with --resume
        # and stopped before its new results.json was written: its model evaluated again
        from ..study.train_run import train_results

        results, dataset = train_results(folder)
        write_json(folder / "results.json", results)  # the record the report is made of
    elif (folder / "config.json").is_file() and (folder / "weights").is_dir():
        raise UserError(
            f"{folder} holds a compare run that was interrupted before its results were "
            "written (no results.json): there is nothing to report yet; continue it with "
            f"'glassnet compare --resume {folder}'"
        )
    elif (folder / "last.safetensors").is_file():
        raise UserError(
            f"{folder} holds a train run that has not finished (no model.safetensors yet): "
            f"continue it with 'glassnet train --resume {folder}'"
        )
    else:
        raise UserError(
            f"{folder} is not a compare or train run folder (no results.json, no model.safetensors)"
        )
    print(f"report: {write_report(folder, results, dataset)}")
    return 0


def _stale_train_results(folder: Path) -> bool:
    """A train folder whose results.json has fewer epochs than its history.json: the run
    was continued (--resume) and stopped before it wrote its new results."""
    from ..io import read_json

    try:
        results = read_json(folder / "results.json")
        history = read_json(folder / "history.json")
        return results.get("kind") == "train" and len(results["runs"][0]["history"]) != len(
            history["epochs"]
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return False  # not a train folder, or a damaged file: load_results names it
