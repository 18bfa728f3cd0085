"""``glassnet train --recipe cifar10-94``: the fast CIFAR-10 recipe as one command
(:mod:`glassnet.study.recipe94`); its settings are the recipe's, so only the flags
below combine with it."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import UserError, interrupted_message, read_config

__all__ = ["RECIPE_FLAGS", "is_recipe_run", "cmd_recipe"]

# the train flags a recipe run takes; any other is refused (the recipe sets it)
RECIPE_FLAGS = ("engine", "epochs", "batch_size", "val_size", "train_size", "seed", "data_dir")


def is_recipe_run(folder) -> bool:
    config = Path(folder) / "config.json"
    return config.is_file() and "recipe" in read_config(config)


def _given(args) -> list[str]:
    """The train flags given that a recipe run does not take."""
    skip = set(RECIPE_FLAGS) | {
        "recipe",
        "out",
        "resume",
        "progress",
        "command",
        "handler",
        "command_parser",
        "log_interval",
        "model_args",  # activation=... only (_recipe_settings)
    }
    given = []
    for key, value in vars(args).items():
        if key in skip or value is None or value is False:
            continue
        given.append("--" + key.replace("_", "-"))
    return sorted(given)


def _model_settings(knobs) -> dict:
    """``--model-args activation=gelu``: the one knob of the recipe's net it lets you change."""
    knobs = dict(knobs or {})
    other = sorted(set(knobs) - {"activation"})
    if other:
        raise UserError(
            f"with --recipe, --model-args takes activation only (e.g. activation=gelu), got {other}"
        )
    if "activation" not in knobs:
        return {}
    from ..models.zoo import activation_name

    try:
        return {"activation": activation_name(knobs["activation"])}
    except ValueError as exc:
        raise UserError(str(exc)) from None


def cmd_recipe(args, progress: bool) -> int:
    from ..io import run_folder_lock
    from ..study.compare import default_out
    from ..study.recipe94 import RECIPES, Recipe94, run_recipe

    resume = getattr(args, "resume", None)
    extra = _given(args)
    if extra:
        raise UserError(
            f"the recipe sets its own {', '.join(extra)}; with --recipe only "
            + ", ".join("--" + f.replace("_", "-") for f in RECIPE_FLAGS)
            + ", --out, --resume and --no-progress are taken"
        )
    if resume:
        out = Path(resume)
        if any(getattr(args, f, None) is not None for f in (*RECIPE_FLAGS, "model_args")):
            raise UserError("--resume continues the run's own recipe; leave out the other flags")
        recipe = Recipe94.from_dict(read_config(out / "config.json"))
    else:
        if args.recipe not in RECIPES:
            raise UserError(f"unknown recipe {args.recipe!r}; known: {', '.join(RECIPES)}")
        settings = {f: getattr(args, f) for f in RECIPE_FLAGS if getattr(args, f, None) is not None}
        recipe = Recipe94(**settings, **_model_settings(getattr(args, "model_args", None)))
        out = (
            Path(args.out)
            if getattr(args, "out", None)
            else default_out("cifar10", "94" + ("-torch" if recipe.engine == "torch" else ""))
        )
    if recipe.engine == "torch":
        from .common import require_module

        require_module("torch", "the torch engine needs PyTorch: pip install 'glassnet[torch]'")
    recipe.validate()
    try:
        with run_folder_lock(out):
            metrics = run_recipe(recipe, out, resume=bool(resume), progress=progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {interrupted_message(out, recipe.engine)}", file=sys.stderr)
        return 130
    for split in ("val", "test"):
        if f"{split}_accuracy" in metrics:
            print(
                f"{split} accuracy {metrics[f'{split}_accuracy'] * 100:.2f}% with TTA "
                f"({metrics[f'{split}_accuracy_no_tta'] * 100:.2f}% without), "
                f"{metrics[f'{split}_images']:,} images, "
                f"+-{metrics[f'{split}_noise'] * 100:.2f} points (one standard error)"
            )
    print(
        f"{metrics['train_seconds']:.0f} s training ({metrics['train_seconds'] / 60:.1f} min, "
        f"{metrics['epochs']:g} epochs; evaluation excluded, wall-clock)"
    )
    print(f"run folder: {out}")
    return 0
