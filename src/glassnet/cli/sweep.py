"""``glassnet sweep``: a grid or random search on a validation split, or a named study."""

from __future__ import annotations

from pathlib import Path

from .common import (
    UserError,
    add_command,
    add_recipe_flags,
    csv_list,
    merge_config,
    positive_int,
    read_config,
    require_module,
)

__all__ = ["add_sweep"]


def add_sweep(sub) -> None:
    from ..study.sweep import MAX_TRIALS, STUDIES, SweepConfig

    studies = "\n".join(f"  {name:<14}{s['about']}" for name, s in STUDIES.items())
    p = add_command(
        sub,
        "sweep",
        "Search hyperparameters (grid or random) and choose on a validation split; or run a "
        "named study. One report.",
        '  glassnet sweep --grid "lr=1e-3,1e-2 hidden=30,128" --models baseline --seeds 2\n'
        '  glassnet sweep --random "lr=1e-4..1e-1 hidden=16..256" --samples 20 --jobs 2\n'
        "  glassnet sweep --study train-size --dataset mnist --models mnist-mlp\n"
        "  glassnet sweep --study hidden-size --jobs 2\n"
        "  glassnet sweep --config sweep.toml --ray-address 10.0.0.5:6379\n"
        "  glassnet sweep --resume runs/<sweep>               # continue after Ctrl-C\n"
        "  glassnet train --config runs/<sweep>/best_config.json   # repeat the choice\n"
        "\nstudies:\n" + studies + "\n"
        "\nSettings: the recipe's (lr, batch_size, epochs, optimizer, momentum, nesterov,\n"
        "weight_decay, scheduler, label_smoothing), the data's (train_size, normalization,\n"
        "augment) and the models' knobs (hidden, activation, filters, ...: glassnet summary\n"
        'MODEL --set). In a TOML --config: grid = "lr=1e-3,1e-2", or [grid] / [[grid]]\n'
        "tables of lists, or [random] with samples = N.\n",
    )
    p.add_argument("--models", type=csv_list, help="comma-separated zoo models (default: baseline)")
    p.add_argument("--engines", type=csv_list, help="glassnet and/or torch (default: glassnet)")
    s = p.add_argument_group("search")
    s.add_argument(
        "--grid",
        action="append",
        metavar="SPACE",
        help='every combination, e.g. "lr=1e-3,3e-3 hidden=30,64" (repeat the flag for a '
        "union of grids)",
    )
    s.add_argument(
        "--random",
        metavar="SPACE",
        help='ranges and lists to sample, e.g. "lr=1e-4..1e-1 activation=relu,tanh" '
        "(log-uniform for positive ranges of 10x or more; add :log or :linear to choose)",
    )
    s.add_argument("--samples", type=positive_int, help="settings drawn for --random")
    s.add_argument(
        "--seeds",
        type=positive_int,
        help="train every setting with this many seeds (seed, seed+1, ...); mean and spread",
    )
    s.add_argument("--study", choices=list(STUDIES), help="a named study (see below)")
    s.add_argument(
        "--yes",
        action="store_true",
        default=False,
        help=f"start a sweep of more than {MAX_TRIALS} trials",
    )
    w = p.add_argument_group("where it runs")
    w.add_argument(
        "--jobs",
        type=positive_int,
        help="worker processes, one BLAS thread each (default: the cores)",
    )
    w.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="run the trials as Ray tasks on an existing cluster (or 'auto'); needs "
        "'glassnet[ray]'",
    )
    p.add_argument(
        "--resume", metavar="RUN_DIR", help="continue an interrupted sweep: finished trials kept"
    )
    add_recipe_flags(p, "runs/<timestamp>-<dataset>-sweep", SweepConfig().to_dict())
    p.set_defaults(handler=cmd_sweep)


def cmd_sweep(args) -> int:
    from ..study.backends import RayUnavailableError
    from ..study.sweep import SweepConfig, results_table, run_sweep
    from .runs import _progress, _refuse_ignored_flags

    _progress(args)  # (one line per trial: no bars)
    resume = getattr(args, "resume", None)
    out = getattr(args, "out", None)
    if resume:
        out = Path(resume)
        if not (out / "config.json").is_file():
            raise UserError(f"{out} is not a sweep folder (no config.json)")
        given = [k for k in sorted(SweepConfig.keys()) if getattr(args, k, None) is not None]
        given += [k for k in ("config", "out") if getattr(args, k, None)]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UserError(f"--resume continues the sweep's own settings; leave out {flags}")
        settings = read_config(out / "config.json")
    else:
        settings = merge_config(args, SweepConfig.keys())
    config = SweepConfig.from_dict(settings).validate()
    if not resume:
        _refuse_ignored_flags(args, config)
    if "torch" in config.engines:
        require_module("torch", "the torch engine needs PyTorch: pip install 'glassnet[torch]'")
    try:
        out, results = run_sweep(
            config,
            out=out,
            jobs=getattr(args, "jobs", None),
            ray_address=getattr(args, "ray_address", None),
            resume=bool(resume),
            yes=args.yes,
            validated=True,
        )
    except RayUnavailableError as exc:
        raise UserError(str(exc)) from None
    print()
    print(results_table(results))
    counts = results["counts"]
    if counts["diverged"] or counts["failed"]:
        print(
            f"\n{counts['diverged']} trial(s) diverged and {counts['failed']} failed "
            "(their reasons are in results.csv)"
        )
    best = results.get("best")
    if best is None:
        print("\nno setting finished on every seed: nothing chosen")
    else:
        n = len(best["test_accuracy_by_seed"])
        spread = f" ± {best['test_accuracy_std'] * 100:.2f}" if n > 1 else ""
        print(
            f"\nchosen on validation: {results['settings'][0]['model']} "
            + " ".join(f"{k}={v}" for k, v in _fmt(best["settings"]).items())
            + f" (val {best['val_accuracy_mean'] * 100:.2f}%)"
        )
        print(
            f"its test accuracy, reported once: {best['test_accuracy_mean'] * 100:.2f}%{spread}"
            f" over {n} seed(s)"
        )
        print(f"repeat it: glassnet train --config {out / 'best_config.json'}")
    print(f"\nrun folder: {out}")
    if (out / "report.html").exists():
        print(f"report:     {out / 'report.html'}")
    return 0


def _fmt(settings: dict) -> dict:
    from ..study.sweep_space import format_value

    return {k: format_value(v, k) for k, v in settings.items()}
