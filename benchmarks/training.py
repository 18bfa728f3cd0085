"""Training-step benchmark: glassnet vs PyTorch (vs scikit-learn for the MLPs), CPU.

One training step = forward, cross-entropy loss, backward, SGD (lr 0.01, momentum 0.9)
update, on random data of the model's input shape (data loading is not timed). The
PyTorch model is the same architecture with the same initial weights
(``glassnet.interop.torch.to_torch``). scikit-learn's ``MLPClassifier`` (same hidden
size and activation, solver 'sgd', momentum 0.9, no L2) runs the MLPs: one
``partial_fit`` call over k batches is k steps.

Engines are interleaved in one process with the same thread count; figures are the
median seconds per step over the repetitions, and the epoch-equivalent is that times
ceil(train set / batch) (MNIST 60,000, digits 1,437, CIFAR-10 50,000 images).

Peak memory: each engine trains lenet5 and resnet20 in a fresh subprocess (the
glassnet one never imports torch); the child reports its peak RSS (``ru_maxrss``) and
its RSS after setup (imports, model, data), both from /proc/self/status (VmHWM,
VmRSS), so the training working set is the difference.

    python benchmarks/training.py [--quick] [--threads N] [--only NAME ...] [--no-rss]
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (first: see its top)
import numpy as np  # noqa: E402

import glassnet  # noqa: E402
from glassnet import nn, optim  # noqa: E402
from glassnet.models import get as get_model  # noqa: E402

LR, MOMENTUM = 0.01, 0.9
TRAIN_SIZE = {"mnist": 60_000, "digits": 1_437, "cifar10": 50_000}

# (model, batch, dataset, input shape, scikit-learn equivalent (hidden, activation) or None)
CONFIGS = [
    ("mnist-mlp", 64, "mnist", (1, 28, 28), (128, "relu")),
    ("lenet5", 64, "mnist", (1, 28, 28), None),
    ("digits-baseline", 32, "digits", (1, 8, 8), (30, "logistic")),
    ("digits-cnn", 32, "digits", (1, 8, 8), None),
    ("digits-cnn-pool", 32, "digits", (1, 8, 8), None),
    ("digits-cnn-pool-skip", 32, "digits", (1, 8, 8), None),
    ("digits-baseline", 1, "digits", (1, 8, 8), (30, "logistic")),
    ("digits-cnn", 1, "digits", (1, 8, 8), None),
    ("digits-cnn-pool", 1, "digits", (1, 8, 8), None),
    ("digits-cnn-pool-skip", 1, "digits", (1, 8, 8), None),
    ("resnet8", 128, "cifar10", (3, 32, 32), None),
    ("resnet20", 128, "cifar10", (3, 32, 32), None),
]
# model -> (input shape, batch) of its first config above: what one "step" of it means
STEP_SHAPES = {name: (shape, batch) for name, batch, _, shape, _ in reversed(CONFIGS)}
RSS_CONFIGS = [("lenet5", 64, (1, 28, 28), 30), ("resnet20", 128, (3, 32, 32), 3)]
TARGETS = {"mnist-mlp": 1.0, "lenet5": 1.5, "resnet20": 2.0, "digits": 1.0}


def random_batches(shape, batch: int, count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((batch, *shape)).astype(np.float32) for _ in range(count)]
    ys = [rng.integers(0, 10, batch).astype(np.int64) for _ in range(count)]
    return xs, ys


def glassnet_stepper(model, xs, ys):
    """k training steps of a glassnet model, cycling through the given batches."""
    if hasattr(model, "set_input_grad"):  # as fit() does, and as torch skips dL/dx of
        model.set_input_grad(False)  # an input that does not require grad
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    state = {"i": 0}

    def steps(k: int) -> None:
        for _ in range(k):
            i = state["i"] = (state["i"] + 1) % len(xs)
            logits = model(xs[i])
            loss_fn(logits, ys[i])
            opt.zero_grad()
            model.backward(loss_fn.backward())
            opt.step()

    return steps


def torch_stepper(model, xs, ys):
    """k training steps of the same model in PyTorch (the idiomatic loop)."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xts = [torch.from_numpy(x) for x in xs]
    yts = [torch.from_numpy(y) for y in ys]
    state = {"i": 0}

    def steps(k: int) -> None:
        for _ in range(k):
            i = state["i"] = (state["i"] + 1) % len(xts)
            opt.zero_grad()
            loss = F.cross_entropy(model(xts[i]), yts[i])
            loss.backward()
            opt.step()

    return steps


def sklearn_stepper(hidden: int, activation: str, batch: int, xs, ys):
    """k steps of MLPClassifier: one partial_fit over k batches (no shuffling)."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        activation=activation,
        solver="sgd",
        learning_rate_init=LR,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=batch,
        shuffle=False,
        random_state=0,
    )
    x_all = np.concatenate([x.reshape(len(x), -1) for x in xs])
    y_all = np.concatenate(ys)
    clf.partial_fit(x_all[:batch], y_all[:batch], classes=np.arange(10))
    per_pool = len(xs)

    def steps(k: int) -> None:
        reps = math.ceil(k / per_pool)
        x = np.concatenate([x_all] * reps)[: k * batch] if reps > 1 else x_all[: k * batch]
        y = np.concatenate([y_all] * reps)[: k * batch] if reps > 1 else y_all[: k * batch]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(x, y)

    return steps


def bench_config(name, batch, dataset, shape, sk, repeats, target_s) -> dict:
    from glassnet.interop.torch import to_torch

    model = get_model(name, seed=0)
    tmodel = to_torch(model)
    model.train()
    tmodel.train()
    xs, ys = random_batches(shape, batch, 16 if batch > 1 else 64)
    engines = {"glassnet": glassnet_stepper(model, xs, ys), "torch": torch_stepper(tmodel, xs, ys)}
    if sk is not None:
        engines["sklearn"] = sklearn_stepper(sk[0], sk[1], batch, xs, ys)
    # steps per repetition: about target_s for each engine (1 for the ResNets)
    ks = {}
    for e, fn in engines.items():
        fn(2)
        ks[e] = int(max(1, min(5000, target_s / C.per_call(lambda f=fn: f(1)))))
    fns = {e: (lambda f=fn, k=ks[e]: f(k)) for e, fn in engines.items()}
    wake = {e: (lambda f=fn: f(1)) for e, fn in engines.items()}  # single steps, WAKE_S
    res = C.interleaved(fns, repeats, warmup=1, number=1, wake=wake)
    per_step = {e: r["median_s"] / ks[e] for e, r in res.items()}
    steps_per_epoch = math.ceil(TRAIN_SIZE[dataset] / batch)
    out = {
        "model": name,
        "batch": batch,
        "dataset_shape": dataset,
        "steps_per_repeat": ks,
        "steps_per_epoch": steps_per_epoch,
        "timings": res,
        "step_s": per_step,
        "epoch_s": {e: t * steps_per_epoch for e, t in per_step.items()},
        "ratio": C.ratio(per_step["glassnet"], per_step["torch"]),
    }
    if "sklearn" in per_step:
        out["ratio_vs_sklearn"] = C.ratio(per_step["glassnet"], per_step["sklearn"])
    return out


# ----------------------------------------------------------------------------- peak RSS
def _status_mib(key: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process in MiB, from /proc/self/status.

    VmHWM, not ``ru_maxrss``: Linux carries the parent's peak over fork + exec into
    the child's ``ru_maxrss``, so a child of a big parent would report the parent's.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_child(engine: str, name: str, batch: int, steps: int, threads: int) -> None:
    """Runs in a fresh process: train ``steps`` steps, print peak / setup RSS as JSON."""
    C.pin_threads(threads) if engine == "torch" else _pin_numpy_only(threads)
    shape = {"lenet5": (1, 28, 28)}.get(name, (3, 32, 32))
    xs, ys = random_batches(shape, batch, 4)
    model = get_model(name, seed=0)
    if engine == "torch":
        from glassnet.interop.torch import to_torch

        model = to_torch(model)
        step = torch_stepper(model, xs, ys)
    else:
        step = glassnet_stepper(model, xs, ys)
    setup = _status_mib("VmRSS")
    step(steps)
    peak = _status_mib("VmHWM")
    assert engine == "torch" or "torch" not in sys.modules, "glassnet child imported torch"
    print(json.dumps({"setup_mib": setup, "peak_mib": peak, "steps": steps}))


def _pin_numpy_only(threads: int) -> None:
    from threadpoolctl import threadpool_limits

    C._LIMITS.append(threadpool_limits(limits=threads))
    C.keep_freed_memory()


def measure_rss(threads: int, quick: bool) -> list[dict]:
    rows = []
    for name, batch, _, steps in RSS_CONFIGS:
        steps = 2 if quick else steps
        row = {"model": name, "batch": batch, "steps": steps}
        for engine in ("glassnet", "torch"):
            cmd = [sys.executable, __file__, "--rss-child", engine, name, str(batch), str(steps)]
            cmd += ["--threads", str(threads)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ)
            row[engine] = json.loads(done.stdout.strip().splitlines()[-1])
        g, t = row["glassnet"], row["torch"]
        row["peak_ratio"] = C.ratio(g["peak_mib"], t["peak_mib"])
        row["working_set_ratio"] = C.ratio(
            g["peak_mib"] - g["setup_mib"], t["peak_mib"] - t["setup_mib"]
        )
        rows.append(row)
        print(
            f"RSS {name:<10} glassnet peak {g['peak_mib']:.0f} MiB (setup {g['setup_mib']:.0f})"
            f"  torch peak {t['peak_mib']:.0f} MiB (setup {t['setup_mib']:.0f})"
            f"  peak ratio {row['peak_ratio']:.2f}"
            f"  working-set ratio {row['working_set_ratio']:.2f}"
        )
    return rows


# ----------------------------------------------------------------------------- report
def target_for(name: str) -> float | None:
    return TARGETS.get("digits" if name.startswith("digits") else name)


def markdown(info, results, rss, quick) -> str:
    text = C.header("Training steps: glassnet vs PyTorch vs scikit-learn", info, quick)
    text += (
        "\nMedian seconds per SGD (momentum 0.9) step on random data; epoch = step x "
        "ceil(train size / batch). ratio = glassnet / PyTorch (lower is better). "
        "others' cores: CPU used by other processes meanwhile (0 = quiet machine).\n\n"
    )
    rows = []
    for r in results:
        s, e, tgt = r["step_s"], r["epoch_s"], target_for(r["model"])
        verdict = "-" if tgt is None else ("met" if r["ratio"] <= tgt else "missed")
        rows.append(
            [
                r["model"],
                r["batch"],
                C.fmt_time(s["glassnet"]),
                C.fmt_time(s["torch"]),
                C.fmt_time(s.get("sklearn")),
                f"**{r['ratio']:.2f}**",
                "-" if tgt is None else f"<= {tgt} ({verdict})",
                C.fmt_time(e["glassnet"]),
                C.fmt_time(e["torch"]),
                C.fmt_time(e.get("sklearn")),
                C.fmt(r["others_cpu"]),
            ]
        )
    headers = ["model", "batch", "glassnet step", "PyTorch step", "sklearn step", "ratio"]
    headers += ["target", "glassnet epoch", "PyTorch epoch", "sklearn epoch", "others' cores"]
    text += C.md_table(headers, rows)
    if rss:
        text += "\n\n## Peak memory (RSS) of a training run, fresh process per engine\n\n"
        text += (
            "setup = RSS after imports, model and data; working set = peak - setup. "
            "The PyTorch process also carries torch's own libraries (~setup).\n\n"
        )
        rows = []
        for r in rss:
            g, t = r["glassnet"], r["torch"]
            rows.append(
                [
                    f"{r['model']} (batch {r['batch']}, {r['steps']} steps)",
                    f"{g['peak_mib']:.0f} / {g['setup_mib']:.0f}",
                    f"{t['peak_mib']:.0f} / {t['setup_mib']:.0f}",
                    f"**{r['peak_ratio']:.2f}**",
                    f"**{r['working_set_ratio']:.2f}**",
                ]
            )
        headers = ["run", "glassnet peak / setup MiB", "PyTorch peak / setup MiB"]
        headers += ["peak ratio", "working-set ratio"]
        text += C.md_table(headers, rows)
    return text


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        engine, name, batch, steps = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        threads = int(sys.argv[sys.argv.index("--threads") + 1])
        rss_child(engine, name, batch, steps, threads)
        return

    def extra(p):
        p.add_argument("--only", nargs="*", help="model names to run (default: all)")
        p.add_argument("--no-rss", action="store_true", help="skip the peak-memory runs")

    args = C.parse_args(__doc__.splitlines()[0], extra)
    C.pin_threads(args.threads)
    info = C.machine_info(args.threads)
    print(C.machine_line(info))
    glassnet.manual_seed(0)
    results = []
    for name, batch, dataset, shape, sk in CONFIGS:
        if args.only and name not in args.only:
            continue
        big = dataset == "cifar10"
        if args.quick:
            repeats, target_s = 2, (0 if big else 0.02)
        else:
            repeats, target_s = (10, 0) if big else (11, 0.3)
        r = C.measure_case(
            bench_config, args.wait_quiet, name, batch, dataset, shape, sk, repeats, target_s
        )
        results.append(r)
        s = r["step_s"]
        print(
            f"{name:<22} batch {batch:>3}  glassnet {C.fmt_time(s['glassnet']):>10}  "
            f"torch {C.fmt_time(s['torch']):>10}  ratio {r['ratio']:5.2f}"
            + (f"  sklearn {C.fmt_time(s['sklearn'])}" if "sklearn" in s else "")
            + f"  [others {r['others_cpu']} cores]"
        )
    rss = [] if args.no_rss else measure_rss(args.threads, args.quick)
    info["load_average_at_end"] = C.load_average()
    payload = {"benchmark": "training", "quick": args.quick, "machine": info}
    payload.update(lr=LR, momentum=MOMENTUM, results=results, rss=rss)
    C.write_results(args, "training", payload, markdown(info, results, rss, args.quick))


if __name__ == "__main__":
    main()
