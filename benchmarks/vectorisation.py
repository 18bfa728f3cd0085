"""The lesson of vectorisation: textbook loops vs the vectorised layers, forward + backward.

``glassnet.nn.reference`` holds the naive versions a student writes first (Python
loops over samples, channels, pixels and kernel taps); ``glassnet.nn`` holds the
vectorised layers (im2col + one GEMM for convolution, loops over the kh*kw kernel
offsets only for pooling, one matmul for Linear). On small problems both run
forward + backward on the same float32 data; we check that they agree and report

    speed-up = reference seconds / vectorised seconds

The speed-up grows with the problem: the loops pay Python's ~50-100 ns per scalar
operation, the vectorised code pays it once per whole-array operation.

    python benchmarks/vectorisation.py [--quick] [--threads N]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (first: see its top)
import numpy as np  # noqa: E402

import glassnet  # noqa: E402
from glassnet import nn  # noqa: E402
from glassnet.nn import reference as ref  # noqa: E402


def problems() -> list[dict]:
    """Layer, input shape, and the reference forward/backward as closures."""

    def conv(layer):
        s, p = layer.stride, layer.padding

        def fwd(x):
            b = None if layer.bias is None else layer.bias.data
            return ref.conv2d_forward(x, layer.weight.data, b, s, p)

        def bwd(x, g):
            return ref.conv2d_backward(x, layer.weight.data, g, s, p)

        return fwd, bwd

    def pool(kind, layer):
        k, s, p = layer.kernel_size, layer.stride, layer.padding
        f, b = (
            (ref.maxpool2d_forward, ref.maxpool2d_backward)
            if kind == "max"
            else (ref.avgpool2d_forward, ref.avgpool2d_backward)
        )
        return (lambda x: f(x, k, s, p)), (lambda x, g: (b(x, g, k, s, p),))

    def linear(layer):
        return (
            lambda x: ref.linear_forward(x, layer.weight.data, layer.bias.data),
            lambda x, g: ref.linear_backward(x, layer.weight.data, g),
        )

    out = []
    for name, layer, shape, kind in [
        ("Conv2d 1->4 3x3 p1, N=4, 8x8", nn.Conv2d(1, 4, 3, padding=1), (4, 1, 8, 8), "conv"),
        ("Conv2d 6->16 5x5, N=2, 14x14 (LeNet conv2)", nn.Conv2d(6, 16, 5), (2, 6, 14, 14), "conv"),
        ("MaxPool2d 2x2, N=4, 4x8x8", nn.MaxPool2d(2), (4, 4, 8, 8), "max"),
        ("MaxPool2d 3x3 s2 p1, N=4, 4x8x8", nn.MaxPool2d(3, 2, 1), (4, 4, 8, 8), "max"),
        ("MaxPool2d 2x2, N=8, 6x28x28 (LeNet pool1)", nn.MaxPool2d(2), (8, 6, 28, 28), "max"),
        ("AvgPool2d 2x2, N=4, 4x8x8", nn.AvgPool2d(2), (4, 4, 8, 8), "avg"),
        ("Linear 64->10, N=4", nn.Linear(64, 10), (4, 64), "linear"),
        ("Linear 784->128, N=4", nn.Linear(784, 128), (4, 784), "linear"),
    ]:
        if kind == "conv":
            fwd, bwd = conv(layer)
        elif kind == "linear":
            fwd, bwd = linear(layer)
        else:
            fwd, bwd = pool(kind, layer)
        out.append(dict(name=name, layer=layer, shape=shape, ref_fwd=fwd, ref_bwd=bwd))
    return out


def agreement(p: dict, x: np.ndarray, g: np.ndarray) -> dict:
    """Max abs difference of output, input grad and parameter grads; pass/fail."""
    layer = p["layer"]
    layer.zero_grad()
    y = layer(x)
    dx = layer.backward(g)
    y_ref = p["ref_fwd"](x)
    grads_ref = p["ref_bwd"](x, g)
    pairs = [("y", y, y_ref), ("dx", dx, grads_ref[0])]
    params = [q for q in (getattr(layer, "weight", None), getattr(layer, "bias", None)) if q]
    for name, param, r in zip(("dW", "db"), params, grads_ref[1:]):
        pairs.append((name, param.grad, r))
    errors = {name: float(np.max(np.abs(a - b))) for name, a, b in pairs}
    ok = all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for _, a, b in pairs)
    return {"max_abs_error": errors, "agree": bool(ok)}


def bench(p: dict, repeats: int, target_s: float) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(p["shape"]).astype(np.float32)
    layer = p["layer"]
    y = layer(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    layer.backward(g)
    check = agreement(p, x, g)

    def vectorised():
        layer(x)
        layer.backward(g)

    def reference():
        p["ref_fwd"](x)
        p["ref_bwd"](x, g)

    res = C.interleaved(
        {"reference": reference, "vectorised": vectorised},
        repeats,
        warmup=1,
        number="each",
        target_s=target_s,
    )
    t_ref, t_vec = res["reference"]["median_s"], res["vectorised"]["median_s"]
    return {
        "problem": p["name"],
        "input_shape": list(p["shape"]),
        "timings": res,
        "reference_s": t_ref,
        "vectorised_s": t_vec,
        "speedup": t_ref / t_vec,
        **check,
    }


def main() -> None:
    args = C.parse_args(__doc__.splitlines()[0])
    C.pin_threads(args.threads)
    repeats, target_s = (2, 0.01) if args.quick else (7, 0.2)
    info = C.machine_info(args.threads)
    print(C.machine_line(info))
    glassnet.manual_seed(0)
    results = []
    for p in problems():
        r = C.measure_case(bench, args.wait_quiet, p, repeats, target_s)
        results.append(r)
        print(
            f"{r['problem']:<44} reference {C.fmt_time(r['reference_s']):>10}  "
            f"vectorised {C.fmt_time(r['vectorised_s']):>10}  speed-up {r['speedup']:8.0f}x  "
            f"{'agree' if r['agree'] else 'DISAGREE'}  [others {r['others_cpu']} cores]"
        )
    info["load_average_at_end"] = C.load_average()
    payload = {"benchmark": "vectorisation", "quick": args.quick, "machine": info}
    payload["results"] = results
    C.write_results(args, "vectorisation", payload, markdown(info, results, args.quick))
    if not all(r["agree"] for r in results):
        sys.exit("reference and vectorised layers disagree")


def markdown(info: dict, results: list[dict], quick: bool) -> str:
    text = C.header("Vectorisation: naive loops vs vectorised layers", info, quick)
    text += (
        "\nForward + backward, float32, median seconds. Reference = `glassnet.nn.reference` "
        "(Python loops); vectorised = `glassnet.nn` layers. Max abs error over output, "
        "input grad and parameter grads.\n\n"
    )
    rows = [
        [
            r["problem"],
            C.fmt_time(r["reference_s"]),
            C.fmt_time(r["vectorised_s"]),
            f"**{r['speedup']:,.0f}x**",
            f"{max(r['max_abs_error'].values()):.1e}",
            "yes" if r["agree"] else "**NO**",
            C.fmt(r["others_cpu"]),
        ]
        for r in results
    ]
    headers = ["problem", "reference", "vectorised", "speed-up", "max abs error", "agree"]
    headers.append("others' cores")
    return text + C.md_table(headers, rows)


if __name__ == "__main__":
    main()
