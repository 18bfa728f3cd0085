"""glassnet beside other NumPy deep-learning libraries: one training step, each library
in its own fresh process.

The same two networks written in each library with its own layers: the MLP 784-128-10
(``mnist-mlp``) and LeNet-5 (conv 1->6 5x5 padding 2, ReLU, max-pool 2, conv 6->16
5x5, ReLU, max-pool 2, 400-120-84-10 with ReLUs), float32, batch 128 of random images
and labels, softmax cross-entropy, SGD with momentum 0.9. A step is forward, loss,
backward and the update, as each library's documentation writes its training loop:

* ``glassnet``: the README's five lines, after ``model.set_input_grad(False)``;
* ``mygrad`` (MyGrad 2): autodiff only, so the layers are ``mygrad.nnet``'s functions
  (``conv_nd``, ``max_pool``, ``relu``, ``softmax_crossentropy``) on Tensors of weights,
  and the momentum update is written out in NumPy, as PyTorch's SGD does it;
* ``dezero`` (DeZero, from the book "Deep Learning from Scratch 3"): its ``Conv2d``,
  ``Linear``, ``F.pooling``, ``F.softmax_cross_entropy`` and ``MomentumSGD`` (its
  0.0.13 still names ``np.int``, which NumPy 1.24 removed: the child puts the alias
  back before importing it);
* ``tinygrad``: its ``nn`` layers and ``SGD`` on the CPU device (kernels compiled with
  clang), the whole step under ``TinyJit``, the batches already on the device.

Each measurement is a new process of one library (one at a time, alternating order
from round to round), which warms up, then reports the median of its timed steps; the
figure is the median over rounds. Every process gets the same thread count through
``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` (default 1: a NumPy library computes its
non-BLAS work on one core anyway). Weights come from each library's own initialiser:
a step's time does not depend on their values.

The other libraries are not glassnet's dependencies; install them in an environment of
their own and name its interpreter (a library that does not import there is skipped,
and the table says so)::

    python -m venv .venv-peers
    .venv-peers/bin/pip install numpy mygrad dezero matplotlib tinygrad  # DeZero needs matplotlib
    python benchmarks/peers.py --peers-python .venv-peers/bin/python [--threads 1] [--rounds 3]

tinygrad's CPU device needs ``clang`` on the PATH (``apt install clang``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from separate import _ms, _peak_mib, _ratio, summary  # this folder is on sys.path

HERE = Path(__file__).resolve()
LIBRARIES = ["glassnet", "mygrad", "dezero", "tinygrad"]
MODELS = ["mnist-mlp", "lenet5"]
LR, MOMENTUM, CLASSES = 0.01, 0.9, 10


# ----------------------------------------------------------------------------- children
def _data(batch: int, count: int = 4):
    """``count`` batches of random 28x28 images (float32) and labels (int64)."""
    import numpy as np

    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((batch, 1, 28, 28)).astype(np.float32) for _ in range(count)]
    ys = [rng.integers(0, CLASSES, batch).astype(np.int64) for _ in range(count)]
    return xs, ys


def _glassnet_step(model_name: str, batch: int):
    from glassnet import models, nn, optim

    model = models.get(model_name, seed=0)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    model.set_input_grad(False)
    xs, ys = _data(batch)

    def step(i):
        logits = model(xs[i % len(xs)])
        loss = loss_fn(logits, ys[i % len(ys)])
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
        return loss

    return step


def _mygrad_step(model_name: str, batch: int):
    import mygrad as mg
    import numpy as np
    from mygrad.nnet.activations import relu
    from mygrad.nnet.layers import conv_nd, max_pool
    from mygrad.nnet.losses import softmax_crossentropy

    rng = np.random.default_rng(0)

    def param(*shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return mg.tensor(rng.uniform(-bound, bound, shape).astype(np.float32))

    if model_name == "lenet5":
        w1, b1 = param(6, 1, 5, 5, fan_in=25), param(6, 1, 1, fan_in=25)
        w2, b2 = param(16, 6, 5, 5, fan_in=150), param(16, 1, 1, fan_in=150)
        dense = [(400, 120), (120, 84), (84, CLASSES)]
        convs = [w1, b1, w2, b2]
    else:
        dense = [(784, 128), (128, CLASSES)]
        convs = []
    layers = [(param(i, o, fan_in=i), param(o, fan_in=i)) for i, o in dense]
    params = convs + [p for pair in layers for p in pair]
    velocity = [np.zeros_like(p.data) for p in params]

    def forward(x):
        h = x
        if model_name == "lenet5":
            h = max_pool(relu(conv_nd(h, w1, stride=1, padding=2) + b1), (2, 2), 2)
            h = max_pool(relu(conv_nd(h, w2, stride=1) + b2), (2, 2), 2)
        h = h.reshape(len(x), -1)
        for k, (w, b) in enumerate(layers):
            h = h @ w + b
            if k < len(layers) - 1:
                h = relu(h)
        return h

    xs, ys = _data(batch)

    def step(i):
        loss = softmax_crossentropy(forward(xs[i % len(xs)]), ys[i % len(ys)])
        loss.backward()
        for p, v in zip(params, velocity):  # torch.optim.SGD's momentum, by hand
            v *= MOMENTUM
            v += p.grad
            p.data -= LR * v
        return loss

    return step


def _dezero_step(model_name: str, batch: int):
    import numpy as np

    if not hasattr(np, "int"):  # DeZero 0.0.13 still names np.int (gone since NumPy 1.24)
        np.int = int  # noqa: NPY001  (the alias DeZero looks up)
    import dezero
    import dezero.functions as F
    import dezero.layers as L

    class Net(dezero.Model):
        def __init__(self):
            super().__init__()
            if model_name == "lenet5":
                self.c1 = L.Conv2d(6, 5, pad=2, in_channels=1)
                self.c2 = L.Conv2d(16, 5, in_channels=6)
                sizes = [(400, 120), (120, 84), (84, CLASSES)]
            else:
                sizes = [(784, 128), (128, CLASSES)]
            self.fcs = [L.Linear(o, in_size=i) for i, o in sizes]
            for k, fc in enumerate(self.fcs):
                setattr(self, f"fc{k}", fc)

        def forward(self, x):
            n = x.shape[0]
            if model_name == "lenet5":
                x = F.pooling(F.relu(self.c1(x)), 2, 2)
                x = F.pooling(F.relu(self.c2(x)), 2, 2)
            x = F.reshape(x, (n, -1))
            for k, fc in enumerate(self.fcs):
                x = fc(x)
                if k < len(self.fcs) - 1:
                    x = F.relu(x)
            return x

    model = Net()
    opt = dezero.optimizers.MomentumSGD(LR, MOMENTUM).setup(model)
    xs, ys = _data(batch)

    def step(i):
        loss = F.softmax_cross_entropy(model(xs[i % len(xs)]), ys[i % len(ys)])
        model.cleargrads()
        loss.backward()
        opt.update()
        return loss

    return step


def _tinygrad_step(model_name: str, batch: int):
    from tinygrad import Context, Device, Tensor, TinyJit, nn

    class Net:
        def __init__(self):
            if model_name == "lenet5":
                self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
                sizes = [(400, 120), (120, 84), (84, CLASSES)]
            else:
                sizes = [(784, 128), (128, CLASSES)]
            self.fcs = [nn.Linear(i, o) for i, o in sizes]

        def __call__(self, x):
            if model_name == "lenet5":
                x = self.c1(x).relu().max_pool2d(2)
                x = self.c2(x).relu().max_pool2d(2)
            x = x.flatten(1)
            for k, fc in enumerate(self.fcs):
                x = fc(x)
                if k < len(self.fcs) - 1:
                    x = x.relu()
            return x

    model = Net()
    opt = nn.optim.SGD(nn.state.get_parameters(model), lr=LR, momentum=MOMENTUM)
    data = _data(batch)
    xs = [Tensor(x).realize() for x in data[0]]
    ys = [Tensor(y.astype("int32")).realize() for y in data[1]]

    @TinyJit
    def jit_step(x, y):
        with Context(TRAINING=1):  # what its optimizer asks for (no dropout here anyway)
            opt.zero_grad()
            loss = model(x).sparse_categorical_crossentropy(y).backward()
            opt.step()
            return loss.realize()

    device = Device[Device.DEFAULT]

    def step(i):
        loss = jit_step(xs[i % len(xs)], ys[i % len(ys)])
        device.synchronize()
        return loss

    return step


STEPS = {
    "glassnet": _glassnet_step,
    "mygrad": _mygrad_step,
    "dezero": _dezero_step,
    "tinygrad": _tinygrad_step,
}


def _value(loss) -> float:
    """A step's loss as a number, from any of the libraries' loss objects."""
    if hasattr(loss, "item"):  # MyGrad's and tinygrad's Tensors, NumPy scalars
        return float(loss.item())
    return float(getattr(loss, "data", loss))  # DeZero's Variable; glassnet's float


def child_main(argv: list[str]) -> None:
    library, model_name, batch, warmup, steps = argv
    try:  # a library that is not installed, or cannot run here (tinygrad without clang)
        step = STEPS[library](model_name, int(batch))
        step(0)
    except (ImportError, OSError, RuntimeError) as e:
        print(json.dumps({"missing": f"{type(e).__name__}: {str(e)[:300]}"}))
        return
    if warmup == "check":  # the loss of one batch, trained on for `steps` steps
        losses = [_value(step(0)) for _ in range(int(steps))]
        print(json.dumps({"first_loss": losses[0], "last_loss": losses[-1]}))
        return
    for i in range(int(warmup)):
        step(i)
    times = []
    for i in range(int(steps)):
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median_s": statistics.median(times), "peak_mib": _peak_mib()}))


# ----------------------------------------------------------------------------- parent
def steps_for(model_name: str, quick: bool) -> tuple[int, int]:
    """(warm-up, timed) steps per process: a few seconds of the slowest library's work."""
    timed = 60 if model_name == "lenet5" else 300
    if quick:
        timed = max(3, timed // 20)
    return max(3, timed // 6), timed


def run_child(
    library: str,
    peers_python: str,
    model_name: str,
    batch: int,
    threads: int,
    quick: bool,
    check=False,
):
    """One child process's report: glassnet in this interpreter, the others in
    ``peers_python``."""
    python = sys.executable if library == "glassnet" else peers_python
    warmup, steps = ("check", 30) if check else steps_for(model_name, quick)
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), DEV="CPU")
    if library == "glassnet":  # its own threads follow BLAS's count; say it anyway
        env["GLASSNET_NUM_THREADS"] = str(threads)
    cmd = [python, str(HERE), "--child", library, model_name, str(batch), str(warmup), str(steps)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{library} {model_name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _versions(python: str) -> dict:
    """The libraries' versions in ``python`` (None: not importable there)."""
    code = (
        "import json, importlib.metadata as m\n"
        "v = {}\n"
        "for name in ('mygrad', 'dezero', 'tinygrad', 'numpy'):\n"
        "    try: v[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: v[name] = None\n"
        "print(json.dumps(v))\n"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    import _common as C

    import glassnet

    def add(p):
        p.add_argument(
            "--peers-python",
            default=sys.executable,
            help="the interpreter of the environment the other libraries are installed in",
        )
        p.add_argument("--libraries", nargs="+", default=LIBRARIES, choices=LIBRARIES)
        p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
        p.add_argument("--batch", type=int, default=128)
        p.add_argument("--rounds", type=int, default=None, help="processes per library and model")
        p.add_argument(
            "--check-learning",
            action="store_true",
            help="time nothing: train each library's network on one batch for 30 steps "
            "and print its first and last loss (each step must really train)",
        )
        p.set_defaults(threads=1)  # here one thread unless asked (the module docstring)

    args = C.parse_args(__doc__.splitlines()[0], add)
    if args.check_learning:
        for model_name in args.models:
            for lib in args.libraries:
                out = run_child(
                    lib, args.peers_python, model_name, args.batch, args.threads, True, True
                )
                print(f"{model_name:>10} {lib:>9}: {out}")
        return
    rounds = args.rounds or (1 if args.quick else 3)
    glassnet.set_num_threads(args.threads)  # as its children run (for the header's line)
    info = C.machine_info(args.threads)
    info["method"] = "separate processes, alternating, median of per-process medians"
    info["peers"] = {"python": args.peers_python, **_versions(args.peers_python)}
    results, missing = [], {}
    for model_name in args.models:
        C.wait_for_quiet(args.wait_quiet)
        runs: dict[str, list[dict]] = {lib: [] for lib in args.libraries if lib not in missing}
        for r in range(rounds):
            order = list(runs) if r % 2 == 0 else list(runs)[::-1]
            for lib in order:
                if lib in missing:
                    continue
                out = run_child(
                    lib, args.peers_python, model_name, args.batch, args.threads, args.quick
                )
                if "missing" in out:
                    missing[lib] = out["missing"]
                    continue
                runs[lib].append(out)
        row = {"model": model_name, "batch": args.batch}
        for lib, rs in runs.items():
            if rs:
                row[lib] = summary(rs)
        results.append(row)
        print(_line(row), flush=True)
    for lib, why in missing.items():
        print(f"{lib}: not measured ({why})")
    payload = {"machine": info, "rounds": rounds, "results": results, "missing": missing}
    C.write_results(args, "peers", payload, markdown(info, results, rounds, missing, args.quick))


def _line(row: dict) -> str:
    parts = [f"{row['model']:>10} b{row['batch']}"]
    g = row.get("glassnet")
    for lib in LIBRARIES:
        if lib in row:
            ms = row[lib]["median_s"] * 1e3
            rel = ""
            if g and lib != "glassnet":
                rel = f" ({row[lib]['median_s'] / g['median_s']:.2f}x)"
            parts.append(f"{lib} {ms:.2f} ms{rel}")
    return "  ".join(parts)


def markdown(info: dict, results: list[dict], rounds: int, missing: dict, quick: bool) -> str:
    import _common as C

    libs = [lib for lib in LIBRARIES if any(lib in r for r in results)]
    headers = ["model", "batch"] + [f"{lib} ms" for lib in libs]
    headers += [f"{lib} / glassnet" for lib in libs if lib != "glassnet"]
    rows = []
    for r in results:
        g = r.get("glassnet")
        row = [r["model"], r["batch"]]
        row += [_ms(r.get(lib)) for lib in libs]
        row += [_ratio(r.get(lib), g) for lib in libs if lib != "glassnet"]
        rows.append(row)
    versions = ", ".join(
        f"{k} {v}" for k, v in info["peers"].items() if k != "python" and v is not None
    )
    text = C.header("A training step in glassnet and other NumPy libraries", info, quick)
    text += (
        f"\nOther libraries: {versions or 'none found'} (interpreter {info['peers']['python']}). "
        f"Each figure: median over {rounds} processes (min-max in brackets) of each "
        "process's median step (forward, loss, backward, SGD with momentum 0.9), after "
        "a warm-up; one library per fresh process, one at a time, alternating order. "
        "Ratios above 1: that library takes longer than glassnet.\n\n"
    )
    text += C.md_table(headers, rows)
    for lib, why in missing.items():
        text += f"\n\n{lib}: not measured ({why})."
    return text + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
