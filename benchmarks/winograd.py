"""Winograd F(2x2, 3x3) against the form the plan picks otherwise, per 3x3 layer.

A development aid for the rule that decides where Winograd runs
(``glassnet.kernels.winograd.MIN_CHANNELS``): forward + backward of single 3x3
stride-1 convolutions, float32, the same weights and input, once as Winograd and once
as the current fast form (im2col), interleaved in one process (A B B A ...) with the
same thread setting, medians over the repetitions. The shapes: ResNet-20's three
widths at batch 128, the CIFAR-10 94% recipe's layers at batch 512 (``--batch`` sets
another recipe batch), and 256->256 on 15x15 at batch 128, the one place the rule lets
Winograd run when it is switched on. Reported: median seconds of each and the ratio Winograd /
current (< 1: Winograd is faster), also for the forward alone.

    python benchmarks/winograd.py [--quick] [--threads N] [--batch N]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (first: see its top)
import numpy as np  # noqa: E402

from glassnet import kernels, nn  # noqa: E402
from glassnet.kernels import conv as conv_module  # noqa: E402
from glassnet.kernels import winograd  # noqa: E402

RESNET_N, RECIPE_N = 128, 512


def cases(recipe_n: int) -> list[tuple[str, int, int, int, int]]:
    """(group, in, out, image size, batch) of every layer timed."""
    return [
        ("ResNet-20", 16, 16, 32, RESNET_N),
        ("ResNet-20", 32, 32, 16, RESNET_N),
        ("ResNet-20", 64, 64, 8, RESNET_N),
        ("CIFAR-10 recipe", 24, 64, 31, recipe_n),
        ("CIFAR-10 recipe", 64, 64, 15, recipe_n),
        ("CIFAR-10 recipe", 64, 256, 15, recipe_n),
        ("CIFAR-10 recipe", 256, 256, 7, recipe_n),
        ("CIFAR-10 recipe", 256, 256, 3, recipe_n),
        ("wide (the rule)", 256, 256, 15, RESNET_N),
    ]


def planned(layer: nn.Conv2d, x: np.ndarray, use_winograd: bool) -> str:
    """Fixes ``layer``'s plan for ``x`` to Winograd or not (plans are cached per layer
    and shape), then puts the settings back; the form's name."""
    saved = conv_module.WINOGRAD, winograd.MIN_CHANNELS, winograd.MAX_GEMM_SHARE
    conv_module.WINOGRAD, winograd.MIN_CHANNELS, winograd.MAX_GEMM_SHARE = use_winograd, 1, 9.0
    try:
        with kernels.use("fast"):
            return kernels.conv.plan(layer, x).form
    finally:
        conv_module.WINOGRAD, winograd.MIN_CHANNELS, winograd.MAX_GEMM_SHARE = saved


def bench_case(case, repeats: int, target_s: float) -> dict:
    group, cin, cout, size, n = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, size, size)).astype(np.float32)
    g = rng.standard_normal((n, cout, size, size)).astype(np.float32)
    layers, forms = {}, {}
    for name, on in [("winograd", True), ("current", False)]:
        layer = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        layer.weight.data[...] = np.random.default_rng(1).standard_normal(layer.weight.shape)
        layers[name], forms[name] = layer, planned(layer, x, on)

    def step(layer):
        def run():
            layer(x)
            layer.backward(g)

        return run

    def forward(layer):
        def run():
            with nn.no_grad():
                layer(x)

        return run

    both = C.interleaved({k: step(v) for k, v in layers.items()}, repeats, target_s=target_s)
    fwd = C.interleaved({k: forward(v) for k, v in layers.items()}, repeats, target_s=target_s)
    flops = 2.0 * n * cout * size * size * cin * 9
    w, c = both["winograd"]["median_s"], both["current"]["median_s"]
    return {
        "group": group,
        "layer": f"{cin}->{cout} on {size}x{size}",
        "batch": n,
        "forms": forms,
        "winograd_s": w,
        "current_s": c,
        "ratio": w / c,
        "fwd_winograd_s": fwd["winograd"]["median_s"],
        "fwd_current_s": fwd["current"]["median_s"],
        "fwd_ratio": fwd["winograd"]["median_s"] / fwd["current"]["median_s"],
        "current_gflops": 3 * flops / c / 1e9,
        "winograd_gflops_equivalent": 3 * flops / w / 1e9,
        "timings": {"fwd_bwd": both, "fwd": fwd},
    }


def main() -> None:
    def more(parser):
        parser.add_argument("--batch", type=int, default=RECIPE_N, help="the recipe's batch")

    args = C.parse_args(__doc__.splitlines()[0], more)
    C.pin_threads(args.threads)
    repeats, target_s = (3, 0.01) if args.quick else (7, 0.05)
    info = C.machine_info(args.threads)
    print(C.machine_line(info))
    results = []
    for case in cases(args.batch):
        r = C.measure_case(bench_case, args.wait_quiet, case, repeats, target_s)
        results.append(r)
        print(
            f"{r['group']:<16} {r['layer']:<18} N={r['batch']:<5} winograd "
            f"{C.fmt_time(r['winograd_s']):>10}  {r['forms']['current']} "
            f"{C.fmt_time(r['current_s']):>10}  ratio {r['ratio']:.2f} "
            f"(forward {r['fwd_ratio']:.2f})  [others {r['others_cpu']} cores]"
        )
    info["load_average_at_end"] = C.load_average()
    payload = {"benchmark": "winograd", "quick": args.quick, "machine": info, "results": results}
    C.write_results(args, "winograd", payload, markdown(info, results, args.quick))


def markdown(info: dict, results: list[dict], quick: bool) -> str:
    rows = [
        [
            r["group"],
            r["layer"],
            r["batch"],
            C.fmt_time(r["winograd_s"]),
            f"{C.fmt_time(r['current_s'])} ({r['forms']['current']})",
            f"**{r['ratio']:.2f}**",
            C.fmt(r["fwd_ratio"]),
            C.fmt(r["current_gflops"], 1),
            C.fmt(r["others_cpu"]),
        ]
        for r in results
    ]
    title = "Winograd F(2x2, 3x3) against the current form, 3x3 stride 1 pad 1"
    text = C.header(title, info, quick)
    text += (
        "\nMedian seconds per forward+backward, float32, interleaved in one process; ratio "
        "= Winograd / current (< 1: Winograd is faster); forward: the same for the forward "
        "alone (no_grad). GFLOP/s: the current form's, counting 3 GEMMs of the forward's "
        "size.\n\n"
    )
    text += C.md_table(
        [
            "model",
            "layer",
            "batch",
            "Winograd",
            "current",
            "ratio",
            "forward ratio",
            "GFLOP/s",
            "others' cores",
        ],
        rows,
    )
    return text + "\n"


if __name__ == "__main__":
    main()
