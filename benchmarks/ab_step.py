"""Paired A/B timing of one glassnet setting: which value makes a training step faster?

On a shared VM the same step can take 30-60% longer from one minute to the next, so
two separate runs (before / after a change) often can't tell a 5% change from noise.
This script alternates the values of one module-level setting *step by step* in one
process, so every value sees the same spells of a slow machine, and reports each
value's median step and the median of the *paired* ratios (step i with value v over
the neighbouring step with the first value).

    python benchmarks/ab_step.py lenet5 glassnet.kernels.conv.KEEP_BYTES 0 16777216
    python benchmarks/ab_step.py resnet8 glassnet.kernels.conv.SMALL_K 0 48 --steps 60

The step is ``training.py``'s (forward, cross-entropy, backward, SGD momentum 0.9 on
random data, ``set_input_grad(False)``). Results are printed, not saved: this is a tool
for deciding a change, whose commit message then quotes the figures.
"""

from __future__ import annotations

import ast
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (first: see its top)
import numpy as np  # noqa: E402
from training import STEP_SHAPES, glassnet_stepper, random_batches  # noqa: E402

from glassnet.kernels import forget_plans  # noqa: E402
from glassnet.models import get as get_model  # noqa: E402


def _setting(path: str):
    """('glassnet.kernels.conv', 'KEEP_BYTES') for 'glassnet.kernels.conv.KEEP_BYTES', checked."""
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise SystemExit(f"ab_step: no module {module_name!r} (from {path!r})") from None
    if not hasattr(module, attr):
        raise SystemExit(f"ab_step: {module_name} has no setting {attr!r}")
    return module, attr


def main() -> None:
    def flags(p):
        p.add_argument("model", choices=sorted(STEP_SHAPES))
        p.add_argument("setting", help="module.attribute, e.g. glassnet.kernels.conv.KEEP_BYTES")
        p.add_argument("values", nargs="+", help="Python literals; the first is the baseline")
        p.add_argument("--steps", type=int, default=0, help="steps per value (default: ~20 s)")

    args = C.parse_args(__doc__.splitlines()[0], flags)
    if len(args.values) < 2:
        raise SystemExit("ab_step: give at least two values to compare")
    values = [ast.literal_eval(v) for v in args.values]
    module, attr = _setting(args.setting)
    original = getattr(module, attr)
    C.pin_threads(args.threads)
    shape, batch = STEP_SHAPES[args.model]
    model = get_model(args.model, seed=0)
    xs, ys = random_batches(shape, batch, 4)
    step = glassnet_stepper(model, xs, ys)
    step(2)  # warm-up
    t = time.perf_counter()
    step(2)
    per_step = (time.perf_counter() - t) / 2
    steps = args.steps or max(10, int(20 / (per_step * len(values))))
    if args.quick:
        steps = 3
    times = {i: [] for i in range(len(values))}
    try:
        for k in range(steps * len(values)):
            i = k % len(values)
            setattr(module, attr, values[i])
            forget_plans(model)  # a layer's form is chosen once per shape: choose again
            t = time.perf_counter()
            step(1)
            times[i].append(time.perf_counter() - t)
    finally:
        setattr(module, attr, original)
    print(C.machine_line(C.machine_info(args.threads)))
    base = np.array(times[0])
    for i, value in enumerate(values):
        own = np.array(times[i])
        n = min(len(own), len(base))
        paired = np.median(own[:n] / base[:n])
        print(
            f"{args.model} {attr}={value!r:>12}: median step {np.median(own) * 1e3:8.2f} ms, "
            f"paired ratio to {values[0]!r}: {paired:.3f}  ({len(own)} steps)"
        )


if __name__ == "__main__":
    main()
