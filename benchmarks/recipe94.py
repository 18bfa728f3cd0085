"""The cifar10-94 recipe in glassnet and in PyTorch: both accuracies and both times.

Each engine trains in its own process, one after the other, with the same thread count
(``glassnet train --recipe cifar10-94 --engine E``): the same first weights, batches
and schedule (glassnet.study.recipe94). The table gives each run's training time
(evaluation excluded), its accuracy with and without test-time augmentation on the
5,000 held-out validation images and on the test images at hand, one standard error
of each (binomial), and the validation accuracy after each epoch (no TTA).

    python benchmarks/recipe94.py [--engines glassnet torch] [--epochs N] [--batch-size B]
                                  [--activation relu] [--threads N]
    python benchmarks/recipe94.py --tabulate RUN_DIR [RUN_DIR ...]   # runs made already

It needs the CIFAR-10 files (GLASSNET_DATA). One full run (9.9 epochs) takes most of an
hour per engine on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, machine_info, md_table, parse_args, write_results  # noqa: E402

from glassnet import io  # noqa: E402
from glassnet.study.recipe94 import Recipe94  # noqa: E402


def _arguments(parser) -> None:
    parser.add_argument("--engines", nargs="+", default=["glassnet", "torch"])
    parser.add_argument("--epochs", type=float, help="epochs, e.g. 3.5 (default: the recipe's 9.9)")
    parser.add_argument("--batch-size", type=int, help="default: the recipe's 1,024")
    parser.add_argument(
        "--activation", help="the net's activation, e.g. relu (default: the recipe's, gelu)"
    )
    parser.add_argument(
        "--runs", type=Path, default=Path("runs"), help="where the run folders go (default: runs)"
    )
    parser.add_argument("--tabulate", nargs="+", type=Path, help="tabulate these run folders")


def run_engine(engine: str, args, stamp: str) -> Path:
    name = f"{stamp}-cifar10-94-{engine}"
    name += f"-{args.epochs:g}ep" if args.epochs else ""
    name += f"-b{args.batch_size}" if args.batch_size else ""
    name += f"-{args.activation}" if args.activation else ""
    out = args.runs / name
    threads = str(args.threads)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    cmd = [
        sys.executable,
        "-m",
        "glassnet",
        "train",
        "--recipe",
        "cifar10-94",
        "--engine",
        engine,
        "--out",
        str(out),
        "--no-progress",
    ]
    if args.epochs:
        cmd += ["--epochs", f"{args.epochs:g}"]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    if args.activation:
        cmd += ["--model-args", f"activation={args.activation}"]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)
    return out


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.2f}"


def tabulate(folders: list[Path]) -> tuple[list[dict], str]:
    records, rows, curves = [], [], []
    for folder in folders:
        m = io.read_json(folder / "metrics.json")
        history = io.read_json(folder / "history.json")
        config = io.read_json(folder / "config.json")
        records.append({"folder": str(folder), "metrics": m, "history": history, "config": config})
        rows.append(
            [
                m["engine"],
                f"{m['epochs']:g}",
                str(config["batch_size"]),
                Recipe94.from_dict(config).activation,
                f"{m['train_seconds'] / 60:.1f}",
                f"{_pct(m.get('val_accuracy'))} +- {_pct(m.get('val_noise'))}",
                _pct(m.get("val_accuracy_no_tta")),
                f"{_pct(m.get('test_accuracy'))} +- {_pct(m.get('test_noise'))}",
                _pct(m.get("test_accuracy_no_tta")),
            ]
        )
        curve = ", ".join(
            f"{row['epoch']}: {_pct(row['val_accuracy'])} ({row['train_seconds'] / 60:.1f} min)"
            for row in history
        )
        curves.append(f"- {m['engine']}: {curve}")
    table = md_table(
        [
            "engine",
            "epochs",
            "batch",
            "activation",
            "training min",
            "val % (TTA) +- 1 se",
            "val % no TTA",
            "test % (TTA) +- 1 se",
            "test % no TTA",
        ],
        rows,
    )
    text = (
        table
        + "\n\nValidation accuracy after each epoch (no TTA; minutes of training so far):\n\n"
        + "\n".join(curves)
    )
    return records, text


def results_name(records: list[dict]) -> str:
    """ "cifar10-94", with "-<E>ep", "-b<B>" and "-<activation>" when every run shares a
    schedule, a batch or an activation other than the recipe's, so such runs file apart
    from the recipe's own."""
    name, recipe = "cifar10-94", Recipe94()
    epochs = {r["config"]["epochs"] for r in records}
    batches = {r["config"]["batch_size"] for r in records}
    if len(epochs) == 1 and epochs != {recipe.epochs}:
        name += f"-{epochs.pop():g}ep"
    if len(batches) == 1 and batches != {recipe.batch_size}:
        name += f"-b{batches.pop()}"
    # runs saved before the knob existed used ReLU (Recipe94.from_dict)
    activations = {Recipe94.from_dict(r["config"]).activation for r in records}
    if len(activations) == 1 and activations != {recipe.activation}:
        name += f"-{activations.pop()}"
    return name


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _arguments)
    info = machine_info(args.threads)
    if args.tabulate:
        folders = args.tabulate
    else:
        stamp = info["date"]
        folders = [run_engine(engine, args, stamp) for engine in args.engines]
    records, text = tabulate(folders)
    markdown = header("cifar10-94: glassnet and PyTorch on one recipe", info, args.quick)
    markdown += (
        "\nEach engine in its own process, one after the other; training time excludes "
        "evaluation. Validation: 5,000 images held out of the 50,000 training images "
        "(trained on the other 45,000); test: the test images at hand.\n\n" + text
    )
    print(markdown)
    write_results(args, results_name(records), {"machine": info, "runs": records}, markdown)


if __name__ == "__main__":
    main()
