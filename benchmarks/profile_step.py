"""Where a glassnet training step spends its time: cProfile over a few steps.

Same step as ``training.py`` (forward, cross-entropy, backward, SGD momentum 0.9) on
random data. Prints and records the top functions by own time (tottime: the NumPy
calls and Python lines inside that function) and by cumulative time (the layer
methods, children included), each as a share of the profiled total.

    python benchmarks/profile_step.py [--models lenet5 resnet20] [--steps N] [--top K]
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from training import STEP_SHAPES, glassnet_stepper, random_batches  # noqa: E402

import glassnet  # noqa: E402
from glassnet.models import get as get_model  # noqa: E402


def _name(func: tuple) -> str:
    path, line, name = func
    if path == "~":  # built-in (C) function: numpy and friends
        return name
    short = "/".join(Path(path).parts[-2:])
    return f"{short}:{line}({name})"


def profile(name: str, steps: int, top: int) -> dict:
    shape, batch = STEP_SHAPES[name]
    model = get_model(name, seed=0)
    xs, ys = random_batches(shape, batch, 4)
    step = glassnet_stepper(model, xs, ys)
    step(2)  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    step(steps)
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    rows = []
    for func, (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        rows.append(
            {
                "function": _name(func),
                "calls_per_step": ncalls / steps,
                "tottime_s_per_step": tottime / steps,
                "cumtime_s_per_step": cumtime / steps,
                "tottime_share": tottime / total,
                "cumtime_share": cumtime / total,
            }
        )
    by_tot = sorted(rows, key=lambda r: -r["tottime_share"])[:top]
    by_cum = sorted(rows, key=lambda r: -r["cumtime_share"])[:top]
    return {
        "model": name,
        "batch": batch,
        "steps": steps,
        "profiled_s_per_step": total / steps,
        "by_tottime": by_tot,
        "by_cumtime": by_cum,
    }


def table(rows: list[dict], key: str) -> str:
    return C.md_table(
        ["function", "calls/step", "own s/step", "cum s/step", "share"],
        [
            [
                f"`{r['function']}`",
                f"{r['calls_per_step']:.0f}",
                f"{r['tottime_s_per_step']:.4f}",
                f"{r['cumtime_s_per_step']:.4f}",
                f"{100 * r[key]:.1f}%",
            ]
            for r in rows
        ],
    )


def main() -> None:
    def extra(p):
        p.add_argument("--models", nargs="*", default=["lenet5", "resnet20"])
        p.add_argument("--steps", type=int, default=None, help="profiled steps per model")
        p.add_argument("--top", type=int, default=20)

    args = C.parse_args(__doc__.splitlines()[0], extra)
    C.pin_threads(args.threads)
    info = C.machine_info(args.threads)
    print(C.machine_line(info))
    glassnet.manual_seed(0)
    text = C.header("Profile of a glassnet training step (cProfile)", info, args.quick)
    text += "\nShares are of the profiled time (cProfile adds some overhead per call).\n"
    results = []
    for name in args.models:
        steps = args.steps or (2 if args.quick else (20 if name in ("lenet5", "mnist-mlp") else 4))
        r = C.measure_case(profile, args.wait_quiet, name, steps, args.top)
        results.append(r)
        text += f"\n## {name} (batch {r['batch']}, {steps} steps, "
        text += f"{r['profiled_s_per_step']:.3f} s/step profiled; "
        text += f"others' cores {r['others_cpu']})\n\n"
        text += "### By own time (tottime)\n\n" + table(r["by_tottime"], "tottime_share")
        text += "\n\n### By cumulative time\n\n" + table(r["by_cumtime"], "cumtime_share") + "\n"
    print(text)
    payload = {"benchmark": "profile", "quick": args.quick, "machine": info, "results": results}
    C.write_results(args, "profile", payload, text)


if __name__ == "__main__":
    main()
