"""The ``glassnet`` command line (also ``python -m glassnet``).

    glassnet compare                      the classic study on the bundled digits
    glassnet train --model lenet5 --dataset mnist --epochs 8 --scheduler onecycle --lr 3e-3
    glassnet evaluate runs/<run>/model.safetensors --dataset mnist
    glassnet gradcheck lenet5             gradient check of a zoo model (or a layer)
    glassnet summary resnet20             the layer table of a zoo model
    glassnet datasets                     what is available and where
    glassnet report runs/<run>            rebuild report.html from a run folder
    glassnet paths rosenbrock             optimizer paths on a loss contour (also a model's)
    glassnet sweep --study hidden-size    hyperparameters chosen on a validation split
    glassnet transfer runs/<run>/model.safetensors --dataset fashion-mnist
                                          a pretrained model on a new dataset, three ways
    glassnet export runs/<run>/model.safetensors --onnx model.onnx

User errors (an unknown model, a bad value, missing data, an unwritable folder) print
one line and exit with status 2; training that diverges (a NaN loss) or runs out of
memory prints one line and exits with 1; Ctrl-C exits with 130. Set GLASSNET_DEBUG=1 to
see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from .. import __version__, kernels
from . import paths, runs, sweep, tools, transfer
from .common import UserError

__all__ = ["main", "build_parser", "UserError"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassnet",
        description="Neural networks from scratch in NumPy, compared with PyTorch and "
        "scikit-learn.",
        epilog="Run 'glassnet <command> --help' for a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    runs.add_compare(sub)
    runs.add_train(sub)
    runs.add_evaluate(sub)
    tools.add_gradcheck(sub)
    tools.add_summary(sub)
    tools.add_datasets(sub)
    tools.add_report(sub)
    paths.add_paths(sub)
    sweep.add_sweep(sub)
    transfer.add_transfer(sub)
    transfer.add_export(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # said by the subcommand's parser: its usage, not the top level's
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(extras)}")
    if args.command is None:
        parser.print_help()
        return 0
    with warnings.catch_warnings():  # as it was, once the command returns
        warnings.showwarning = _Warnings(args.command)
        return _run(args)


class _Warnings:
    """Each warning once, as one line naming the command ('glassnet train: warning:
    ...'), instead of Python's source path and line, repeated per model and engine."""

    def __init__(self, command: str):
        self.command, self.said = command, set()

    def __call__(self, message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text not in self.said:
            self.said.add(text)
            print(f"glassnet {self.command}: warning: {text}", file=sys.stderr)


def _run(args) -> int:
    if os.environ.get("GLASSNET_DEBUG"):
        return int(args.handler(args) or 0)
    try:
        kernels.get_mode()  # a bad GLASSNET_KERNELS: one message before any work
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("\nglassnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except FloatingPointError as exc:  # TrainingDivergedError: the loss became NaN or inf
        print(f"glassnet {args.command}: training diverged: {exc}", file=sys.stderr)
        return 1
    except MemoryError as exc:
        print(f"glassnet {args.command}: out of memory: {exc}", file=sys.stderr)
        return 1
    except (UserError, ValueError, OSError, ImportError) as exc:
        # OSError: a missing file, an --out that is a file or not writable, a full disk
        print(f"glassnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
