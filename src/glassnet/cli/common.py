"""Helpers shared by the commands: errors, shapes, config files, the training flags."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

__all__ = [
    "UserError",
    "parse_shape",
    "read_config",
    "merge_config",
    "add_recipe_flags",
    "add_command",
    "csv_list",
    "require_module",
]


class UserError(Exception):
    """An error the user can fix; the CLI prints it as one line and exits with 2."""


def csv_list(text: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [p.strip() for p in text.split(",") if p.strip()]


def require_module(module: str, message: str) -> None:
    """UserError(message) unless ``module`` (an optional extra) imports."""
    try:
        __import__(module)
    except ImportError:
        raise UserError(message) from None


def add_command(sub, name: str, help_text: str, examples: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,  # flags not given stay absent (config can fill)
        allow_abbrev=False,  # compare --model would silently mean --models
    )
    p.set_defaults(command_parser=p)  # for errors in the subcommand's own words
    return p


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,28,28' or '1x28x28' -> (1, 28, 28)."""
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (use e.g. 1,28,28)") from None
    if not shape or min(shape) <= 0:
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (use e.g. 1,28,28)")
    return shape


def count_or_fraction(text: str):
    """A count ('2000') or a fraction ('0.1')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a fraction, got {text!r}") from None
    return int(value) if value >= 1 and value == int(value) else value


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, else an error saying ``what``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "an integer >= 0")


def epoch_count(text: str):
    """--epochs: a whole number of epochs (an int), or a fraction of them such as 3.5
    (a float), which only ``--recipe`` runs take (:func:`whole_epochs` refuses it)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of epochs, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number of epochs, got {text!r}")
    return int(value) if value == int(value) else value


def whole_epochs(args) -> None:
    """A fraction of an epoch is refused outside ``--recipe``: a trainer's schedule,
    checkpoints and best epoch count whole epochs."""
    epochs = getattr(args, "epochs", None)
    if isinstance(epochs, float):
        raise UserError(
            f"--epochs {epochs:g}: this command trains whole epochs; "
            "a fraction of an epoch is taken only with --recipe"
        )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def duration(text: str) -> float:
    """Seconds from '600', '90s', '10m' or '1.5h'."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1].lower()) if text[-1:].lower() in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 600, 90s, 10m or 1.5h, got {text!r}"
        )
    return value


def knob_table(text: str) -> dict:
    """'hidden=64,activation=relu' -> {'hidden': 64, 'activation': 'relu'} (argparse type)."""
    from ..study.sweep_space import parse_knobs

    try:
        return parse_knobs(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def read_config(path) -> dict:
    """A run's config.json, or a TOML/JSON file of the same keys (dashes or underscores)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"config file not found: {path}")
    if path.is_dir():
        raise UserError(f"config file {path} is a folder; a run's recipe is {path / 'config.json'}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"config file {path} is not text (a JSON or TOML recipe, such as a run's "
            f"config.json): {exc.reason} at byte {exc.start}"
        ) from exc
    try:
        if path.suffix.lower() == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise UserError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a table of settings")
    return {k.replace("-", "_"): v for k, v in data.items()}


def merge_config(args: argparse.Namespace, allowed: set[str]) -> dict:
    """Settings from --config (if any), overridden by the flags given on the command line."""
    whole_epochs(args)
    settings = read_config(args.config) if getattr(args, "config", None) else {}
    unknown = set(settings) - allowed
    if unknown:
        hint = ""  # a train run's recipe names one model, a compare run's several
        if "model" in unknown:
            hint = " (it looks like a recipe for 'glassnet train')"
        elif unknown & {"models", "engines"}:
            hint = " (it looks like a recipe for 'glassnet compare')"
        raise UserError(f"unknown setting(s) in {args.config}: {', '.join(sorted(unknown))}{hint}")
    for key, value in vars(args).items():
        if key in allowed:
            settings[key] = value
    return settings


def add_recipe_flags(p: argparse.ArgumentParser, default_out: str, defaults: dict) -> None:
    """The training recipe flags shared by compare and train; ``defaults``: the
    command's config defaults, shown in the help."""

    def default(key: str) -> str:
        value = defaults[key]
        return f"default: {'none' if value is None else value}"

    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset",
        help=f"digits | mnist | fashion-mnist | cifar10 ({default('dataset')}); some classes: "
        "'mnist?classes=0-4'; your images: 'folder:PATH[?size=64]'",
    )
    g.add_argument(
        "--data-dir",
        help="folder with the dataset files (default: $GLASSNET_DATA, else ~/.cache/glassnet)",
    )
    g.add_argument(
        "--train-size",
        type=count_or_fraction,
        help="use only this many (or this fraction of) training images, stratified (default: all)",
    )
    g.add_argument(
        "--val-size",
        type=count_or_fraction,
        help="hold out this many (or this fraction of) training images, stratified, for "
        "validation: the best epoch is chosen on it, never on the test set; 0 for none (no "
        f"best epoch is then shown) ({default('val_size')})",
    )
    g.add_argument("--augment", action="store_true", help="random crop + flip (CIFAR-10)")
    g.add_argument(
        "--normalization",
        choices=["none", "unit", "standard"],
        help="input pixels: raw values, [0, 1], or standardised per channel with the "
        f"training images' mean and std ({default('normalization')})",
    )
    r = p.add_argument_group("recipe")
    r.add_argument("--epochs", type=epoch_count, help=default("epochs"))
    r.add_argument("--batch-size", type=positive_int, help=default("batch_size"))
    r.add_argument(
        "--optimizer", choices=["sgd", "adam", "adamw", "rmsprop"], help=default("optimizer")
    )
    r.add_argument(
        "--lr",
        type=_positive_float,
        help=f"learning rate, the peak for onecycle ({default('lr')})",
    )
    r.add_argument("--momentum", type=float, help=f"SGD/RMSprop momentum ({default('momentum')})")
    r.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    r.add_argument("--weight-decay", type=float, help=default("weight_decay"))
    r.add_argument(
        "--scheduler",
        choices=["none", "onecycle", "cosine", "step", "exponential", "plateau"],
        help=default("scheduler"),
    )
    r.add_argument("--label-smoothing", type=float, help=default("label_smoothing"))
    r.add_argument("--seed", type=int, help=default("seed"))
    p.add_argument(
        "--model-args",
        type=knob_table,
        metavar="KNOBS",
        help="the zoo model's knobs, e.g. hidden=64,activation=relu or widths=8/16/32 "
        "(glassnet summary MODEL --set ... shows the effect)",
    )
    p.add_argument(
        "--config",
        help="a TOML/JSON file of these settings (e.g. a run's "
        "config.json); flags given override it",
    )
    p.add_argument(
        "--out",
        help=f"run folder (default: {default_out}); one that already holds a run is refused",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def interrupted_message(out: Path, engine: str) -> str:
    """What Ctrl-C during a train run leaves: a checkpoint to resume from, or not."""
    if (out / "last.safetensors").exists():
        return f"the checkpoint is saved; continue with 'glassnet train --resume {out}'"
    if engine == "torch":
        return "the torch engine keeps no checkpoint; this run cannot be resumed"
    return "stopped before the first checkpoint; nothing to resume"
