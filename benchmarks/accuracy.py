"""Test accuracy of glassnet alone, with a documented recipe and seed (issue #3's targets).

    python benchmarks/accuracy.py               # all recipes (about 10-20 minutes here)
    python benchmarks/accuracy.py --only digits-cnn-pool-skip,mnist-mlp

Each recipe trains one zoo model with ``glassnet.train.fit`` and records the test
accuracy after every epoch (a learning curve to look at, not to choose from: the
figure is the final epoch's accuracy, since picking the best epoch on the test set
would report a selected, optimistic number) and the training time (the training
loop only). MNIST, Fashion-MNIST and CIFAR-10 are read from $GLASSNET_DATA.
Results go to benchmarks/results/<date>-accuracy.{json,md}.
"""

from __future__ import annotations

import time

import _common as C

import glassnet as gn
from glassnet import data, models, train

# name -> (dataset, zoo model, fit() keyword arguments, target test accuracy)
RECIPES = {
    "digits-cnn-pool-skip": (
        "digits",
        "digits-cnn-pool-skip",
        dict(epochs=30, batch_size=32, optimizer="adam", lr=3e-3, scheduler="onecycle"),
        0.985,
    ),
    "mnist-mlp": (
        "mnist",
        "mnist-mlp",
        dict(epochs=10, batch_size=64, optimizer="adam", lr=3e-3, scheduler="onecycle"),
        0.980,
    ),
    "lenet5": (
        "mnist",
        "lenet5",
        dict(epochs=8, batch_size=64, optimizer="adam", lr=3e-3, scheduler="onecycle"),
        0.990,
    ),
    "fashion-lenet5": (
        "fashion-mnist",
        "lenet5",
        dict(epochs=10, batch_size=64, optimizer="adam", lr=3e-3, scheduler="onecycle"),
        0.900,
    ),
}


def run(name: str, seed: int = 0) -> dict:
    dataset_name, model_name, recipe, target = RECIPES[name]
    dataset = data.load(dataset_name, seed=seed)
    model = models.get(model_name, input_shape=dataset.input_shape, seed=seed)
    started = time.perf_counter()
    history = train.fit(model, dataset, seed=seed, progress=False, **recipe)
    wall = time.perf_counter() - started
    accuracies = history["test_accuracy"]
    result = {
        "name": name,
        "dataset": dataset.name,
        "model": model_name,
        "seed": seed,
        "recipe": recipe,
        "target": target,
        "params": model.num_parameters(),
        "n_test": int(len(dataset.y_test)),
        "test_accuracy_per_epoch": accuracies,
        "final_test_accuracy": accuracies[-1],
        "train_seconds": sum(history["seconds"]),
        "wall_seconds": wall,
        "met_target": accuracies[-1] >= target,
    }
    print(
        f"{name:<22} final test {accuracies[-1] * 100:6.2f}%  target {target * 100:.1f}%  "
        f"train {result['train_seconds']:.1f} s"
    )
    return result


def main() -> None:
    args = C.parse_args(
        __doc__.splitlines()[0],
        lambda p: p.add_argument("--only", help="comma-separated recipe names (default: all)"),
    )
    C.pin_threads(args.threads)
    info = C.machine_info(args.threads)
    names = args.only.split(",") if args.only else list(RECIPES)
    unknown = set(names) - set(RECIPES)
    if unknown:
        raise SystemExit(f"unknown recipe(s) {sorted(unknown)}; choose from {list(RECIPES)}")
    results = [run(n) for n in names]
    rows = [
        [
            r["name"],
            r["dataset"],
            f"{r['params']:,}",
            _recipe_text(r["recipe"]),
            f"{r['final_test_accuracy'] * 100:.2f}%",
            f"{r['target'] * 100:.1f}%",
            "yes" if r["met_target"] else "**no**",
            f"{r['train_seconds']:.1f} s",
        ]
        for r in results
    ]
    md = C.header("glassnet test accuracy (glassnet alone, seed 0)", info, args.quick)
    md += "\n" + C.md_table(
        [
            "recipe",
            "dataset",
            "params",
            "optimizer / schedule",
            "final test acc",
            "target",
            "met",
            "training time",
        ],
        rows,
    )
    md += (
        "\n\nTraining time is the training loop only (no evaluation), "
        f"{args.threads} thread(s). glassnet {gn.__version__}.\n"
    )
    C.write_results(args, "accuracy", {"machine": info, "results": results}, md)


def _recipe_text(r: dict) -> str:
    return (
        f"{r['optimizer']} + {r.get('scheduler') or 'constant'} (lr {r['lr']:g}), "
        f"{r['epochs']} epochs, batch {r['batch_size']}"
    )


if __name__ == "__main__":
    main()
