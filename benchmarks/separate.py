"""Training and inference steps as users run them: each engine in its own fresh process.

The other benchmarks interleave glassnet and PyTorch in one process, with glibc's
freed-memory setting applied to both (``_common.pin_threads``). That is a good
development aid, but nobody trains that way. Here every measurement is a new Python
process that imports one engine only, builds one model, and runs one kind of loop:

* ``loop``: the five lines of a training step that the README shows (forward, loss,
  zero_grad, backward, SGD step with momentum 0.9), written out by hand, with nothing
  set up beforehand but the thread count and the README's ``set_input_grad(False)``
  (no dL/d(batch), as PyTorch computes none for an input that does not require it);
* ``fit``: glassnet's ``train.fit`` over the same number of batches (glassnet only);
* ``infer``: eval mode, no gradients, forward only.

The processes run one at a time, never two at once, in alternating order (round r runs
the engines in the reverse order of round r - 1); each process reports the median of
its timed steps after a warm-up, and the figure is the median over rounds. Every
process gets the same thread count, through the environment that users set
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``) and ``torch.set_num_threads``.

    python benchmarks/separate.py [--quick] [--threads N] [--models NAME ...]
        [--batches 32 128 512] [--modes loop fit infer] [--rounds R]
        [--before SRC_DIR]   # also time glassnet from another checkout's src/ (A/B)

``--before`` adds a third engine, ``glassnet@before``: the same child code run with
``PYTHONPATH=SRC_DIR``, so two versions of the library are compared in the same rounds.
``--engines`` also takes glassnet with one setting changed in its environment:
``glassnet:textbook`` (``GLASSNET_KERNELS=textbook``), ``glassnet:no-workspace``
(``GLASSNET_WORKSPACE=0``) and ``glassnet:no-keep`` (``GLASSNET_KEEP_FREED_MEMORY=0``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()

# model -> (input shape, number of classes)
SHAPES = {
    "mnist-mlp": ((1, 28, 28), 10),
    "lenet5": ((1, 28, 28), 10),
    "digits-baseline": ((1, 8, 8), 10),
    "digits-cnn": ((1, 8, 8), 10),
    "digits-cnn-pool": ((1, 8, 8), 10),
    "digits-cnn-pool-skip": ((1, 8, 8), 10),
    "resnet8": ((3, 32, 32), 10),
    "resnet20": ((3, 32, 32), 10),
    "airbench": ((3, 32, 32), 10),  # the cifar10-94 recipe's network
}
ZOO_NAME = {"digits-baseline": "baseline"}  # benchmark label -> zoo name where they differ
# glassnet with one setting changed, as users change it: in the environment
VARIANTS = {
    "textbook": {"GLASSNET_KERNELS": "textbook"},
    "no-workspace": {"GLASSNET_WORKSPACE": "0"},
    "no-keep": {"GLASSNET_KEEP_FREED_MEMORY": "0"},
}
LR, MOMENTUM = 0.01, 0.9


# ----------------------------------------------------------------------------- child
def _batches(shape, batch: int, count: int = 4):
    import numpy as np

    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((batch, *shape)).astype(np.float32) for _ in range(count)]
    ys = [rng.integers(0, 10, batch).astype(np.int64) for _ in range(count)]
    return xs, ys


def _timed(step, warmup: int, steps: int) -> list[float]:
    for i in range(warmup):
        step(i)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
    return times


def _glassnet_child(model_name: str, batch: int, mode: str, warmup: int, steps: int):
    import glassnet as gn
    from glassnet import models, nn, optim, train

    shape, classes = SHAPES[model_name]
    model = models.get(ZOO_NAME.get(model_name, model_name), input_shape=shape, seed=0)
    xs, ys = _batches(shape, batch)
    if mode == "infer":
        model.eval()

        def step(i):
            with gn.no_grad():
                model(xs[i % len(xs)])

        return _timed(step, warmup, steps)
    if mode == "loop":  # the README's five lines, nothing else
        loss_fn = nn.CrossEntropyLoss()
        opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        model.set_input_grad(False)  # the README's line before them, as fit does

        def step(i):
            logits = model(xs[i % len(xs)])
            loss_fn(logits, ys[i % len(ys)])
            opt.zero_grad()
            model.backward(loss_fn.backward())
            opt.step()

        return _timed(step, warmup, steps)
    # fit: one epoch over warm-up batches, then one over the timed ones; per-step mean
    import numpy as np

    def data(n):
        reps = -(-n // len(xs))
        x = np.concatenate(xs * reps)[: n * batch]
        y = np.concatenate(ys * reps)[: n * batch]
        return x, y

    kwargs = dict(
        batch_size=batch,
        optimizer="sgd",
        lr=LR,
        momentum=MOMENTUM,
        progress=False,
        eval_test=False,
        epochs=1,
    )
    train.fit(model, data(warmup), **kwargs)
    t0 = time.perf_counter()
    train.fit(model, data(steps), **kwargs)
    return [(time.perf_counter() - t0) / steps]


def _torch_child(model_name: str, batch: int, mode: str, warmup: int, steps: int):
    import torch

    from glassnet import models
    from glassnet.interop.torch import to_torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    shape, classes = SHAPES[model_name]
    ours = models.get(ZOO_NAME.get(model_name, model_name), input_shape=shape, seed=0)
    model = to_torch(ours)
    frozen = {n for n, p in ours.named_parameters() if not p.requires_grad}
    for n, p in model.named_parameters():  # airbench's frozen scales: no work for either
        p.requires_grad_(n not in frozen)
    xs, ys = _batches(shape, batch)
    xs = [torch.from_numpy(x) for x in xs]
    ys = [torch.from_numpy(y) for y in ys]
    if mode == "infer":
        model.eval()

        def step(i):
            with torch.no_grad():
                model(xs[i % len(xs)])

        return _timed(step, warmup, steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(i):
        logits = model(xs[i % len(xs)])
        loss = loss_fn(logits, ys[i % len(ys)])
        opt.zero_grad()
        loss.backward()
        opt.step()

    return _timed(step, warmup, steps)


def child_main(argv: list[str]) -> None:
    engine, model_name, batch, mode, warmup, steps = argv
    fn = _torch_child if engine == "torch" else _glassnet_child
    times = fn(model_name, int(batch), mode, int(warmup), int(steps))
    print(json.dumps({"median_s": statistics.median(times), "peak_mib": _peak_mib()}))


def _peak_mib() -> float:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec;
    getrusage's ru_maxrss does not (it keeps the forking parent's), so it is the
    fallback only where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- parent
def steps_for(model_name: str, batch: int, quick: bool) -> tuple[int, int]:
    """(warm-up, timed) steps: about a second or two of work per process."""
    heavy = model_name.startswith("resnet")
    per_image = 1.0 if heavy else 0.05 if model_name == "lenet5" else 0.01  # ms, rough
    per_image = 5.0 if model_name == "airbench" else per_image
    timed = int(max(5, min(200, 1500 / max(per_image * batch, 0.05))))
    if quick:
        timed = max(3, timed // 10)
    return max(2, timed // 5), timed


def run_child(
    engine: str,
    model_name: str,
    batch: int,
    mode: str,
    threads: int,
    quick: bool,
    before: Path | None,
) -> dict:
    warmup, steps = steps_for(model_name, batch, quick)
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
    )
    if engine == "glassnet@before":
        env["PYTHONPATH"] = str(before)
    if engine.startswith("glassnet:"):
        env.update(VARIANTS[engine.partition(":")[2]])
    cmd = [
        sys.executable,
        str(HERE),
        "--child",
        engine,
        model_name,
        str(batch),
        mode,
        str(warmup),
        str(steps),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    import _common as C

    def add(p):
        p.add_argument(
            "--models",
            nargs="+",
            default=["mnist-mlp", "digits-cnn-pool-skip", "lenet5", "resnet8", "resnet20"],
        )
        p.add_argument("--batches", nargs="+", type=int, default=[128])
        p.add_argument(
            "--modes", nargs="+", default=["loop", "fit", "infer"], choices=["loop", "fit", "infer"]
        )
        p.add_argument("--rounds", type=int, default=None, help="processes per case and engine")
        p.add_argument(
            "--before",
            type=Path,
            default=None,
            help="another checkout's src/ folder, timed as glassnet@before",
        )
        p.add_argument("--engines", nargs="+", default=["glassnet", "torch"])

    args = C.parse_args(__doc__.splitlines()[0], add)
    for engine in args.engines:
        base, _, variant = engine.partition(":")
        if base not in ("glassnet", "torch") or (variant and variant not in VARIANTS):
            raise SystemExit(
                f"unknown engine {engine!r}: glassnet, torch or glassnet:VARIANT with VARIANT "
                f"one of {', '.join(VARIANTS)}"
            )
    rounds = args.rounds or (2 if args.quick else 5)
    engines = list(args.engines)
    if args.before is not None:
        engines.insert(1, "glassnet@before")
    info = C.machine_info(args.threads)
    info["method"] = "separate processes, alternating, median of per-process medians"
    results = []
    for model_name in args.models:
        for batch in args.batches:
            for mode in args.modes:
                case_engines = [e for e in engines if mode != "fit" or e.startswith("glassnet")]
                C.wait_for_quiet(args.wait_quiet)
                runs: dict[str, list[dict]] = {e: [] for e in case_engines}
                for r in range(rounds):
                    order = case_engines if r % 2 == 0 else case_engines[::-1]
                    for engine in order:
                        runs[engine].append(
                            run_child(
                                engine,
                                model_name,
                                batch,
                                mode,
                                args.threads,
                                args.quick,
                                args.before,
                            )
                        )
                row = {"model": model_name, "batch": batch, "mode": mode}
                for engine, rs in runs.items():
                    row[engine] = summary(rs)
                results.append(row)
                print(_line(row), flush=True)
    payload = {"machine": info, "rounds": rounds, "results": results}
    C.write_results(args, "separate", payload, markdown(info, results, rounds, args.quick))


def summary(runs: list[dict]) -> dict:
    """One case's figure from its processes' reports: the median of their median steps,
    with the smallest and largest, and the median peak memory."""
    steps = [r["median_s"] for r in runs]
    return {
        "median_s": statistics.median(steps),
        "min_s": min(steps),
        "max_s": max(steps),
        "peak_mib": statistics.median(r["peak_mib"] for r in runs),
    }


def _ms(entry: dict | None) -> str:
    if not entry:
        return "-"
    return f"{entry['median_s'] * 1e3:.2f} ({entry['min_s'] * 1e3:.2f}-{entry['max_s'] * 1e3:.2f})"


def _ratio(a: dict | None, b: dict | None) -> str:
    if not a or not b:
        return "-"
    return f"{a['median_s'] / b['median_s']:.2f}"


def _engines(row: dict) -> list[str]:
    return [k for k in row if k not in ("model", "batch", "mode")]


def _others(engines) -> list[str]:
    """The glassnet engines compared with plain glassnet (before, variants)."""
    return [e for e in engines if e.startswith("glassnet") and e != "glassnet"]


def _line(row: dict) -> str:
    parts = [f"{row['model']:>22} b{row['batch']:<4} {row['mode']:<5}"]
    for key in _engines(row):
        parts.append(f"{key} {row[key]['median_s'] * 1e3:8.2f} ms")
    if "glassnet" in row and "torch" in row:
        parts.append(f"ratio {_ratio(row['glassnet'], row['torch'])}")
    for key in _others(_engines(row)):
        if "glassnet" in row:
            parts.append(f"glassnet/{key} {_ratio(row['glassnet'], row[key])}")
    return "  ".join(parts)


def markdown(info: dict, results: list[dict], rounds: int, quick: bool) -> str:
    import _common as C

    others = list(dict.fromkeys(e for r in results for e in _others(_engines(r))))
    headers = ["model", "batch", "mode", "glassnet ms"]
    for e in others:
        headers += [f"{e} ms", f"glassnet / {e}"]
    headers += ["PyTorch ms", "glassnet / PyTorch", "peak MiB glassnet / PyTorch"]
    rows = []
    for r in results:
        g, t = r.get("glassnet"), r.get("torch")
        row = [r["model"], r["batch"], r["mode"], _ms(g)]
        for e in others:
            row += [_ms(r.get(e)), _ratio(g, r.get(e))]
        peak = f"{g['peak_mib']:.0f} / {t['peak_mib']:.0f}" if g and t else "-"
        row += [_ms(t), _ratio(g, t), peak]
        rows.append(row)
    text = C.header("Steps as users run them: one engine per fresh process", info, quick)
    text += (
        f"\nEach figure: median over {rounds} processes (min-max in brackets) of each "
        "process's median step, after a warm-up; processes one at a time, alternating "
        "order. `loop` is the README's hand-written five-line step (SGD, momentum 0.9), "
        "`fit` glassnet's `train.fit` over the same batches (mean step, its own "
        "bookkeeping included), `infer` an eval-mode forward without gradients.\n\n"
    )
    return text + C.md_table(headers, rows)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
