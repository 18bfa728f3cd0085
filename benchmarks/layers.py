"""Layer benchmark: forward + backward of single layers, glassnet vs PyTorch (CPU).

For every layer at MNIST-like (N=64) and CIFAR/ResNet-like (N=128) shapes, the same
layer with the same weights runs in glassnet and in PyTorch (``to_torch``), interleaved
in one process with the same thread count. Reported per layer: median seconds of
forward and of forward+backward per engine, and the ratio glassnet / PyTorch
(> 1: glassnet is slower).

For convolutions it also reports achieved GFLOP/s: forward + backward does three
GEMMs of the forward's size (y, dL/dW, dL/dx), so

    GFLOP/s = 3 * 2 * N * C_out * Ho * Wo * (C_in / groups) * kh * kw / seconds / 1e9

next to plain NumPy float32 matmuls: a square 1024^3 one (about the machine's BLAS
peak), timed *with each conv*, interleaved with its engines like a third engine, so
that "% of matmul" compares figures from the same moment (the machine has slow spells
minutes long, and they slow memory-bound convs more than the matmul); once more at
the end of the run; and, per ResNet 3x3 layer, the single GEMM with the conv's own
shape, (C_out x C_in*kh*kw) @ (C_in*kh*kw x N*Ho*Wo).

The ResNet-20 row sums up the 3x3 convolutions of one ResNet-20 forward+backward,
each benchmarked layer counted as often as the model has it (traced from the zoo's
``resnet20``: the stem, 6 x 16->16, 16->32 stride 2, 5 x 32->32, 32->64 stride 2,
5 x 64->64): its FLOPs over its summed times, and as % of matmul the time those
FLOPs take at each row's same-moment matmul speed over the time they took.

    python benchmarks/layers.py [--quick] [--threads N]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (first: see its top)
import numpy as np  # noqa: E402

import glassnet  # noqa: E402
from glassnet import nn  # noqa: E402

MNIST_N, CIFAR_N = 64, 128


def cases() -> list[dict]:
    """Every benchmarked layer: group, name, glassnet layer, input shape, ResNet 3x3?"""
    m, c = MNIST_N, CIFAR_N

    def conv(cin, cout, k, **kw):
        return nn.Conv2d(cin, cout, k, **kw)

    def resnet_conv(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)

    table = [
        # MNIST-like: LeNet-5's layers and the MLP's first layer
        ("mnist", "Conv2d 1->6 5x5 p2 (LeNet conv1)", conv(1, 6, 5, padding=2), (m, 1, 28, 28)),
        ("mnist", "Conv2d 6->16 5x5 (LeNet conv2)", conv(6, 16, 5), (m, 6, 14, 14)),
        ("mnist", "MaxPool2d 2x2 on 6x28x28", nn.MaxPool2d(2), (m, 6, 28, 28)),
        ("mnist", "ReLU on 6x28x28", nn.ReLU(), (m, 6, 28, 28)),
        ("mnist", "Linear 784->128", nn.Linear(784, 128), (m, 784)),
        ("mnist", "Linear 400->120", nn.Linear(400, 120), (m, 400)),
        # CIFAR / ResNet-like
        ("cifar", "Conv2d 3->16 3x3 p1 (stem)", resnet_conv(3, 16), (c, 3, 32, 32)),
        ("resnet", "Conv2d 16->16 3x3 p1 on 32x32", resnet_conv(16, 16), (c, 16, 32, 32)),
        ("resnet", "Conv2d 16->32 3x3 s2 p1 on 32x32", resnet_conv(16, 32, 2), (c, 16, 32, 32)),
        ("resnet", "Conv2d 32->32 3x3 p1 on 16x16", resnet_conv(32, 32), (c, 32, 16, 16)),
        ("resnet", "Conv2d 32->64 3x3 s2 p1 on 16x16", resnet_conv(32, 64, 2), (c, 32, 16, 16)),
        ("resnet", "Conv2d 64->64 3x3 p1 on 8x8", resnet_conv(64, 64), (c, 64, 8, 8)),
        (
            "cifar",
            "Conv2d 16->32 1x1 s2 (shortcut)",
            conv(16, 32, 1, stride=2, bias=False),
            (c, 16, 32, 32),
        ),
        ("cifar", "BatchNorm2d 16 on 32x32", nn.BatchNorm2d(16), (c, 16, 32, 32)),
        ("cifar", "BatchNorm2d 64 on 8x8", nn.BatchNorm2d(64), (c, 64, 8, 8)),
        ("cifar", "MaxPool2d 2x2 on 16x32x32", nn.MaxPool2d(2), (c, 16, 32, 32)),
        ("cifar", "AvgPool2d 2x2 on 16x32x32", nn.AvgPool2d(2), (c, 16, 32, 32)),
        ("cifar", "ReLU on 16x32x32", nn.ReLU(), (c, 16, 32, 32)),
        ("cifar", "AdaptiveAvgPool2d 1 on 64x8x8", nn.AdaptiveAvgPool2d(1), (c, 64, 8, 8)),
        ("cifar", "Linear 64->10", nn.Linear(64, 10), (c, 64)),
    ]
    return [
        dict(
            group="cifar" if g == "resnet" else g,
            name=n,
            layer=lay,
            shape=shp,
            resnet=g == "resnet",
        )
        for g, n, lay, shp in table
    ]


MATMUL_N = 1024  # the yardstick: a square float32 matmul of this size


def conv_key(layer: nn.Conv2d, x_shape) -> tuple:
    """What identifies a conv layer's work (batch aside): channels, kernel, stride, H, W."""
    return (
        layer.in_channels,
        layer.out_channels,
        tuple(layer.kernel_size),
        tuple(layer.stride),
        tuple(x_shape[2:]),
    )


def resnet20_convs() -> dict[tuple, int]:
    """How many times ResNet-20 (the zoo's, on 32x32 CIFAR images) runs each 3x3 conv
    (``conv_key``) in one forward pass, traced through the model itself."""
    from glassnet.models import get as get_model

    model = get_model("resnet20")
    counts: dict[tuple, int] = {}

    def count(conv, inputs, output):
        key = conv_key(conv, inputs[0].shape)
        counts[key] = counts.get(key, 0) + 1

    for m in model.modules():
        if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (3, 3):
            m.register_forward_hook(count)
    model.eval()
    with nn.no_grad():
        model(np.zeros((1, 3, 32, 32), dtype=np.float32))
    return counts


def resnet20_total(results: list[dict]) -> dict:
    """ResNet-20's 3x3 convolutions as one: GFLOP/s of their summed forward+backward and
    % of matmul = (their FLOPs' time at each row's same-moment matmul speed) / (their
    time), per engine. Every ResNet-20 conv must have a row (else a ValueError)."""
    rows = {r["conv_key"]: r for r in results if "conv_key" in r}
    counts = resnet20_convs()
    missing = [k for k in counts if k not in rows]
    if missing:
        raise ValueError(f"layers.py: ResNet-20 convs without a benchmark row: {missing}")
    flops = sum(n * rows[k]["flops_fwd_bwd"] for k, n in counts.items())
    at_matmul = sum(
        n * rows[k]["flops_fwd_bwd"] / (rows[k]["matmul_gflops"] * 1e9) for k, n in counts.items()
    )
    total = {"convs": sum(counts.values()), "flops_fwd_bwd": flops}
    for engine in ("glassnet", "torch"):
        seconds = sum(n * rows[k][f"{engine}_s"] for k, n in counts.items())
        total[f"{engine}_s"] = seconds
        total[f"{engine}_gflops"] = flops / seconds / 1e9
        total[f"{engine}_pct_of_matmul"] = 100 * at_matmul / seconds
    total["ratio"] = total["glassnet_s"] / total["torch_s"]
    return total


def conv_flops(layer: nn.Conv2d, x_shape, y_shape) -> float:
    """Forward + backward FLOPs of a conv: 3 GEMMs of 2*N*Cout*Ho*Wo*(Cin/g)*kh*kw each."""
    n, _, ho, wo = y_shape
    kh, kw = layer.kernel_size
    per_pass = (
        2.0 * n * layer.out_channels * ho * wo * (layer.in_channels // layer.groups) * kh * kw
    )
    return 3 * per_pass


def bench_case(case: dict, repeats: int, target_s: float) -> dict:
    import torch

    from glassnet.interop.torch import to_torch

    g_layer = case["layer"]
    t_layer = to_torch(g_layer)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["shape"]).astype(np.float32)
    y = g_layer(x)
    grad = rng.standard_normal(y.shape).astype(np.float32)
    g_layer.backward(grad)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    gt = torch.from_numpy(grad.copy())

    def g_fwd():
        g_layer(x)

    def g_fwdbwd():
        g_layer(x)
        g_layer.backward(grad)

    def t_fwd():
        t_layer(xt)

    def t_fwdbwd():
        xt.grad = None
        t_layer(xt).backward(gt)

    engines = {"glassnet_fwd": g_fwd, "torch_fwd": t_fwd, "glassnet": g_fwdbwd, "torch": t_fwdbwd}
    is_conv = isinstance(g_layer, nn.Conv2d)
    if is_conv:  # the yardstick, timed at the same moment as the conv
        engines["matmul"] = C.matmul_call(MATMUL_N, MATMUL_N, MATMUL_N)
    res = C.interleaved(
        engines,
        repeats,
        warmup=3,
        number="each",
        target_s=target_s,
    )
    out = {
        "group": case["group"],
        "layer": case["name"],
        "input_shape": list(case["shape"]),
        "output_shape": list(y.shape),
        "resnet_3x3": bool(case.get("resnet")),
        "timings": res,
        "glassnet_s": res["glassnet"]["median_s"],
        "torch_s": res["torch"]["median_s"],
        "ratio": C.ratio(res["glassnet"]["median_s"], res["torch"]["median_s"]),
        "fwd_ratio": C.ratio(res["glassnet_fwd"]["median_s"], res["torch_fwd"]["median_s"]),
    }
    g_bwd = res["glassnet"]["median_s"] - res["glassnet_fwd"]["median_s"]
    t_bwd = res["torch"]["median_s"] - res["torch_fwd"]["median_s"]
    out["bwd_ratio"] = C.ratio(g_bwd, t_bwd) if g_bwd > 0 and t_bwd > 0 else None
    if is_conv:
        flops = conv_flops(g_layer, x.shape, y.shape)
        out["conv_key"] = conv_key(g_layer, x.shape)
        out["flops_fwd_bwd"] = flops
        out["glassnet_gflops"] = flops / out["glassnet_s"] / 1e9
        out["torch_gflops"] = flops / out["torch_s"] / 1e9
        out["matmul_gflops"] = 2.0 * MATMUL_N**3 / res["matmul"]["median_s"] / 1e9
        out["glassnet_pct_of_matmul"] = 100 * out["glassnet_gflops"] / out["matmul_gflops"]
        out["torch_pct_of_matmul"] = 100 * out["torch_gflops"] / out["matmul_gflops"]
        if case.get("resnet"):
            n, _, ho, wo = y.shape
            k = g_layer.in_channels * g_layer.kernel_size[0] * g_layer.kernel_size[1]
            out["gemm_shape"] = (g_layer.out_channels, k, n * ho * wo)
    return out


def main() -> None:
    args = C.parse_args(__doc__.splitlines()[0])
    C.pin_threads(args.threads)
    repeats, target_s = (3, 0.01) if args.quick else (11, 0.1)
    info = C.machine_info(args.threads)
    print(C.machine_line(info))
    glassnet.manual_seed(0)

    results = []
    for case in cases():
        r = C.measure_case(bench_case, args.wait_quiet, case, repeats, target_s)
        results.append(r)
        print(
            f"{r['layer']:<36} glassnet {C.fmt_time(r['glassnet_s']):>10}  "
            f"torch {C.fmt_time(r['torch_s']):>10}  ratio {r['ratio']:5.2f}"
            + (
                f"  {r['glassnet_gflops']:6.1f} GFLOP/s = {r['glassnet_pct_of_matmul']:3.0f}%"
                f" of matmul ({r['matmul_gflops']:.0f})"
                if "glassnet_gflops" in r
                else ""
            )
            + f"  [others {r['others_cpu']} cores]"
        )

    # plain NumPy matmuls in the same run: the machine's limit the convs are held to
    mm_repeats = 3 if args.quick else 9
    C.wait_for_quiet(args.wait_quiet)
    matmuls = {"1024^3": C.matmul_gflops(MATMUL_N, MATMUL_N, MATMUL_N, mm_repeats)}
    for r in results:
        if "gemm_shape" in r:
            cout, k, cols = r["gemm_shape"]
            mm = C.matmul_gflops(cout, k, cols, mm_repeats)
            matmuls[r["layer"]] = mm
            r["gemm_gflops"] = mm["gflops"]
    peak = matmuls["1024^3"]["gflops"]
    total = resnet20_total(results)
    print(f"\nNumPy float32 matmul 1024^3 at the end: {peak:.1f} GFLOP/s")
    print(
        f"ResNet-20's {total['convs']} 3x3 convs: glassnet {total['glassnet_pct_of_matmul']:.0f}%"
        f" of matmul, PyTorch {total['torch_pct_of_matmul']:.0f}%, ratio {total['ratio']:.2f}"
    )

    info["load_average_at_end"] = C.load_average()
    payload = {"benchmark": "layers", "quick": args.quick, "machine": info}
    payload.update(results=results, matmul=matmuls, resnet20_3x3=total)
    text = markdown(info, results, matmuls, total, args.quick)
    C.write_results(args, "layers", payload, text)


def markdown(info: dict, results: list[dict], matmuls: dict, total: dict, quick: bool) -> str:
    rows = []
    for r in results:
        rows.append(
            [
                r["layer"],
                "x".join(map(str, r["input_shape"])),
                C.fmt_time(r["glassnet_s"]),
                C.fmt_time(r["torch_s"]),
                f"**{r['ratio']:.2f}**",
                C.fmt(r["fwd_ratio"]),
                C.fmt(r["bwd_ratio"]),
                C.fmt(r["others_cpu"]),
            ]
        )
    text = C.header("Layers: forward + backward, glassnet vs PyTorch", info, quick)
    text += "\nMedian seconds per forward+backward; ratio = glassnet / PyTorch (lower is better;"
    text += " fwd/bwd: the same ratio for forward alone and for backward = total - forward;"
    text += " others' cores: CPU that other processes used meanwhile, 0 = quiet).\n\n"
    headers = ["layer", "input", "glassnet", "PyTorch", "ratio", "fwd ratio", "bwd ratio"]
    headers.append("others' cores")
    text += C.md_table(headers, rows)

    peak = matmuls["1024^3"]["gflops"]
    text += "\n\n## Convolutions: achieved GFLOP/s (forward + backward = 3 GEMMs)\n\n"
    text += "'matmul': NumPy float32 1024x1024 @ 1024x1024 timed with each conv, interleaved "
    text += "with its engines; % of matmul is against that same-moment figure. "
    text += f"The same matmul at the end of the run: **{peak:.1f} GFLOP/s**. "
    text += "'same-shape GEMM': one NumPy matmul (C_out x C_in*k*k) @ (C_in*k*k x N*Ho*Wo), "
    text += "at the end. 'ResNet-20, all 3x3': its "
    text += f"{total['convs']} 3x3 convs as one (each row counted as often as the model has "
    text += "it; % of matmul: their time at each row's matmul speed over their time).\n\n"
    rows = []
    for r in results:
        if "glassnet_gflops" not in r:
            continue
        rows.append(
            [
                r["layer"],
                f"{r['glassnet_gflops']:.1f}",
                f"{r['torch_gflops']:.1f}",
                f"{r['matmul_gflops']:.1f}",
                f"**{r['glassnet_pct_of_matmul']:.0f}%**",
                f"{r['torch_pct_of_matmul']:.0f}%",
                C.fmt(r.get("gemm_gflops"), 1),
            ]
        )
    rows.append(
        [
            f"ResNet-20, all {total['convs']} 3x3 convs",
            f"{total['glassnet_gflops']:.1f}",
            f"{total['torch_gflops']:.1f}",
            "-",
            f"**{total['glassnet_pct_of_matmul']:.0f}%**",
            f"{total['torch_pct_of_matmul']:.0f}%",
            "-",
        ]
    )
    headers = [
        "conv",
        "glassnet GFLOP/s",
        "PyTorch GFLOP/s",
        "matmul GFLOP/s",
        "glassnet % of matmul",
        "PyTorch % of matmul",
        "same-shape GEMM GFLOP/s",
    ]
    text += C.md_table(headers, rows)
    return text


if __name__ == "__main__":
    main()
