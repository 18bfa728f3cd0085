"""The commands that train: ``compare``, ``train``, and ``evaluate``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..study.config import CompareConfig, TrainConfig
from .common import (
    UserError,
    add_command,
    add_recipe_flags,
    count_or_fraction,
    csv_list,
    duration,
    interrupted_message,
    merge_config,
    positive_int,
    read_config,
    require_module,
)
from .recipe import cmd_recipe, is_recipe_run

__all__ = ["add_compare", "add_train", "add_evaluate"]


def _progress(args) -> bool:
    from ..train.callbacks import progress_enabled

    return progress_enabled(getattr(args, "progress", True))


# ---------------------------------------------------------------------------- compare
def add_compare(sub) -> None:
    p = add_command(
        sub,
        "compare",
        "Train models with glassnet, PyTorch and scikit-learn side by side; write a report.",
        "  glassnet compare                                  # the classic study on digits\n"
        "  glassnet compare --models baseline,cnn-pool --epochs 20 --lr 3e-3\n"
        "  glassnet compare --dataset mnist --models mnist-mlp,lenet5 --batch-size 64 \\\n"
        "                   --scheduler onecycle --lr 3e-3 --epochs 8\n"
        "  glassnet compare --config runs/<run>/config.json   # repeat a run exactly\n"
        "  glassnet compare --resume runs/<run>               # continue after Ctrl-C\n",
    )
    p.add_argument(
        "--models",
        type=csv_list,
        help="comma-separated zoo models (default: baseline,cnn,cnn-pool,"
        "cnn-pool-skip; see 'glassnet summary --list')",
    )
    p.add_argument(
        "--engines",
        type=csv_list,
        help="comma-separated engines: glassnet,torch,sklearn (default: all three)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted compare run: the runs that finished are kept",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="train this many (model, engine) runs at a time in worker processes, one "
        "thread each (default: 1; their seconds then measure a shared machine)",
    )
    p.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="train the runs as Ray tasks on an existing cluster (or 'auto'); needs "
        "'glassnet[ray]'",
    )
    add_recipe_flags(p, "runs/<timestamp>-<dataset>", CompareConfig().to_dict())
    p.set_defaults(handler=cmd_compare)


def cmd_compare(args) -> int:
    from ..study import CompareConfig, results_table, run_compare

    resume = getattr(args, "resume", None)
    out = getattr(args, "out", None)
    if resume:  # the run's own recipe, whole: its finished runs were trained with it
        out = Path(resume)
        if not (out / "config.json").is_file():
            raise UserError(f"{out} is not a compare run folder (no config.json)")
        given = [k for k in sorted(CompareConfig.keys()) if getattr(args, k, None) is not None]
        given += [k for k in ("config", "out") if getattr(args, k, None)]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UserError(f"--resume continues the run's own recipe; leave out {flags}")
        config = CompareConfig.from_dict(read_config(out / "config.json")).validate()
    else:
        settings = merge_config(args, CompareConfig.keys())
        config = CompareConfig.from_dict(settings).validate()
        _refuse_ignored_flags(args, config)
    if "torch" in config.engines:
        require_module("torch", "the torch engine needs PyTorch: pip install 'glassnet[torch]'")
    if "sklearn" in config.engines:
        require_module(
            "sklearn", "the sklearn engine needs scikit-learn: pip install 'glassnet[sklearn]'"
        )
    from ..io import run_folder_lock
    from ..study.backends import RayUnavailableError
    from ..study.compare import default_out

    out = Path(out) if out else default_out(config.dataset)  # named here, to be locked
    with run_folder_lock(out):  # one writer: a second compare into it is refused
        try:
            out, results = run_compare(
                config,
                out=out,
                progress=_progress(args),
                log=print,
                validated=True,
                resume=bool(resume),
                jobs=getattr(args, "jobs", 1),
                ray_address=getattr(args, "ray_address", None),
            )
        except RayUnavailableError as exc:
            raise UserError(str(exc)) from None
    print()
    print(results_table(results))
    print()
    for note in results["notes"]:
        print(f"- {note}")
    print(f"\nrun folder: {out}")
    if (out / "report.html").exists():
        print(f"report:     {out / 'report.html'}")
    return 0


def _refuse_ignored_flags(args, config) -> None:
    """A flag the recipe would ignore (--momentum with Adam, --augment on MNIST) is an
    error on the command line; the same setting in a saved recipe (--config of an older
    run) only draws fit's warning, so that the run can still be repeated."""
    flags = {"momentum", "nesterov", "augment", "optimizer", "dataset"} & set(vars(args))
    ignored = config.ignored_settings() if flags else []
    if ignored:
        raise UserError("; ".join(ignored))


# ---------------------------------------------------------------------------- train
def add_train(sub) -> None:
    p = add_command(
        sub,
        "train",
        "Train one zoo model on one dataset (resumable run folder).",
        "  glassnet train --model lenet5 --dataset mnist --epochs 8 --optimizer adam \\\n"
        "                 --scheduler onecycle --lr 3e-3\n"
        "  glassnet train --model resnet8 --dataset cifar10 --optimizer sgd --momentum 0.9 \\\n"
        "                 --nesterov --weight-decay 5e-4 --scheduler onecycle --lr 0.2 \\\n"
        "                 --augment --label-smoothing 0.1 --batch-size 128 --epochs 11\n"
        "  glassnet train --model resnet8 --dataset cifar10 --optimizer sgd --momentum 0.9 \\\n"
        "                 --scheduler onecycle --lr 0.2 --time-budget 10m --epochs 100\n"
        "  glassnet train --resume runs/<run>         # continue after Ctrl-C\n"
        "  glassnet train --config my_recipe.toml --epochs 3\n"
        "  glassnet train --recipe cifar10-94      # CIFAR-10 to ~94%: airbench's recipe\n"
        "  glassnet train --recipe cifar10-94 --epochs 3.5 --batch-size 512   # ~90%, shorter\n"
        "  glassnet train --recipe cifar10-94 --engine torch --epochs 4\n",
    )
    p.add_argument(
        "--recipe",
        metavar="NAME",
        help="a whole training recipe: cifar10-94 (airbench's network, whitening, "
        "lookahead and TTA; default 9.9 epochs); takes --engine, --epochs (a fraction "
        "too), --batch-size, "
        "--val-size, --train-size, --seed, --data-dir, --out",
    )
    p.add_argument(
        "--model", help="zoo model (e.g. digits-cnn-pool-skip, mnist-mlp, lenet5, resnet8)"
    )
    p.add_argument("--engine", choices=["glassnet", "torch"], help="default: glassnet")
    p.add_argument(
        "--early-stopping",
        type=int,
        metavar="PATIENCE",
        help="stop when the validation loss has not improved for this many epochs",
    )
    p.add_argument("--log-interval", type=int, help="record the loss every N batches")
    p.add_argument(
        "--time-budget",
        type=duration,
        metavar="DURATION",
        help="train for this long (600, 90s, 10m, 1.5h; the training loop only, evaluation "
        "excluded); --epochs is then an upper bound, and onecycle spreads over the budget",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in this folder")
    add_recipe_flags(p, "runs/<timestamp>-<dataset>-<model>", TrainConfig().to_dict())
    p.set_defaults(handler=cmd_train)


def cmd_train(args) -> int:
    from ..io import run_folder_lock
    from ..study import TrainConfig
    from ..study.train_run import ReportInterrupted, run_train, train_out

    resume = getattr(args, "resume", None)
    if getattr(args, "recipe", None) or (resume and is_recipe_run(resume)):
        return cmd_recipe(args, _progress(args))
    out = getattr(args, "out", None)
    settings = {}
    if resume:
        folder = Path(resume)
        if not (folder / "config.json").exists():
            raise UserError(f"{folder} is not a glassnet train run (no config.json)")
        settings = read_config(folder / "config.json")
        out = folder
    settings.update(merge_config(args, TrainConfig.keys()))
    config = TrainConfig.from_dict(settings)
    if not resume:  # a resumed run keeps its recipe, whatever it holds
        _refuse_ignored_flags(args, config.validate())
    out = train_out(config, out)  # named here, so that Ctrl-C can say where the run is
    try:
        # validated once: above for a new run, by run_train for a resumed one (validating
        # builds the model and the optimizer, so it is not repeated); one writer at a
        # time: a second train (or resume) into the folder is refused
        with run_folder_lock(out):
            out, metrics = run_train(
                config,
                out=out,
                resume=bool(resume),
                progress=_progress(args),
                validated=not resume,
            )
    except OSError as exc:  # a full disk, a folder made read-only: say what is safe
        if (exc.strerror or "").startswith("cannot write ") and (out / "last.safetensors").exists():
            raise UserError(
                f"{exc}; the last checkpoint, {out / 'last.safetensors'}, is whole: once the "
                f"cause is fixed, continue with 'glassnet train --resume {out}'"
            ) from exc
        raise
    except KeyboardInterrupt as exc:
        if isinstance(exc, ReportInterrupted):  # after training, while writing the report
            message = str(exc)
        else:
            message = interrupted_message(out, config.engine)
        print(f"\ninterrupted: {message}", file=sys.stderr)
        return 130
    print(
        f"final test accuracy {metrics['test_accuracy'] * 100:.2f}% (loss "
        f"{metrics['test_loss']:.4f}) after {metrics['epochs']} epochs, "
        f"{metrics['train_seconds']:.1f} s training (wall-clock, noisy on a shared machine)"
    )
    if metrics.get("best_epoch") is not None:
        kept = "; best.safetensors holds its weights" if (out / "best.safetensors").exists() else ""
        print(
            f"best epoch {metrics['best_epoch']} by validation accuracy "
            f"({metrics['best_val_accuracy'] * 100:.2f}%){kept}"
        )
    else:
        print("no validation split (val_size=0): no best epoch is chosen")
    print(f"run folder: {out}")
    if (out / "report.html").exists():
        print(f"report:     {out / 'report.html'}")
    return 0


# ---------------------------------------------------------------------------- evaluate
def add_evaluate(sub) -> None:
    p = add_command(
        sub,
        "evaluate",
        "Evaluate a saved model on a dataset split.",
        "  glassnet evaluate runs/<run>/model.safetensors --dataset mnist\n"
        "  glassnet evaluate runs/<run>/best.safetensors --dataset digits --split val "
        "--val-size 0.1\n",
    )
    p.add_argument(
        "weights",
        help="a model.safetensors / best.safetensors written by train, or a "
        "weights/<model>-<engine>.safetensors written by compare",
    )
    p.add_argument("--dataset", help="default: the run's dataset (from its config.json)")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--data-dir", help="folder with the dataset files (default: $GLASSNET_DATA)")
    p.add_argument(
        "--val-size",
        type=count_or_fraction,
        help="images held out for validation, a count or a fraction (default: the run's)",
    )
    p.add_argument("--batch-size", type=positive_int, default=512, help="default: 512")
    p.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from .. import data
    from ..study.train_run import load_model
    from ..train import evaluate

    path = Path(args.weights)
    if path.is_dir():
        raise UserError(
            f"{path} is a folder; pass a weights file, e.g. {path / 'model.safetensors'}"
        )
    if not path.exists():
        raise UserError(f"no such file: {path}")
    # the run's config.json: beside train's weights, one folder up from compare's weights/
    configs = [f / "config.json" for f in (path.parent, path.parent.parent)]
    run_config = next((c for c in configs if c.exists()), None)
    settings = read_config(run_config) if run_config else {}
    dataset_name = getattr(args, "dataset", None) or settings.get("dataset")
    if not dataset_name:
        raise UserError("which dataset? pass --dataset")
    model = load_model(path)
    same_data = data.canonical_name(dataset_name) == data.canonical_name(
        settings.get("dataset", dataset_name)
    )
    # the run's split (its val_size, train_size and seed), unless told otherwise
    split_settings = settings if same_data else {}
    dataset = data.load(
        dataset_name,
        # not the run's data_dir: it may be relative to where the run was started
        data_dir=getattr(args, "data_dir", None),
        val_size=getattr(args, "val_size", split_settings.get("val_size", 0)),
        train_size=split_settings.get("train_size"),
        seed=split_settings.get("seed", 0),
        normalize=settings.get("normalization", "standard"),  # as the model was trained
    )
    if tuple(dataset.input_shape) != tuple(model.zoo_spec["input_shape"]):
        raise UserError(
            f"the model takes {tuple(model.zoo_spec['input_shape'])} inputs, "
            f"{dataset.name} has {dataset.input_shape}"
        )
    result = evaluate(model, dataset, split=args.split, batch_size=args.batch_size)
    print(
        f"{model.zoo_spec['model']} on {dataset.name} ({args.split}, {result['n']} images): "
        f"accuracy {result['accuracy'] * 100:.2f}%, loss {result['loss']:.4f}"
    )
    _print_confusion(result["confusion_matrix"], dataset.classes)
    return 0


def _print_confusion(cm: np.ndarray, classes) -> None:
    names = [str(c)[:8] for c in classes]
    width = max(6, *(len(n) for n in names)) + 1
    print("\nconfusion matrix (rows: true class, columns: predicted)")
    print(" " * width + "".join(f"{n:>{width}}" for n in names) + f"{'errors':>{width + 1}}")
    for i, (name, row) in enumerate(zip(names, cm)):
        errors = int(row.sum() - row[i])
        print(
            f"{name:>{width}}"
            + "".join(f"{int(v):>{width}}" for v in row)
            + f"{errors:>{width + 1}}"
        )
