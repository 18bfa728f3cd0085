"""Conv2d's tuned forms. The textbook (glassnet/nn/conv.py) is pad -> im2col -> one
GEMM -> bias, and backward the same GEMMs transposed with col2im; the forms here do
the same sums in other orders and layouts. Each is chosen once per layer and input
shape (:func:`plan`, the first entry of ``FORMS`` that applies) and named by the plan
that forward saves, so backward runs the same form.

* **empty batch**: N = 0, an empty output and no work.
* **pointwise**: a 1x1 kernel without padding needs no columns, y[n] = W @ x[n, :, ::sh,
  ::sw], one product per sample written straight into y's layout.
* **by kernel rows**: stride 1 and wide kernels (LeNet-5's conv2). On the padded input
  xp, Wp = Wo + (kw-1)*dw wide::

      R[(c, a), (n, i, s)] = xp[n, c, i + a*dh, s]           (C*kh, N*Ho*Wp), s < Wp
      Z = Wc @ R,  Wc[(o, b), (c, a)] = W[o, c, a, b]         (O*kw, N*Ho*Wp)
      y[n, o, i, j] = sum_b Z[(o, b), (n, i, j + b*dw)] + b[o]                (j < Wo)

  R is kw times smaller than the columns; the shifted sum is kw contiguous adds
  (``im2col.add_shifted``). Backward shifts g the other way, S[(o, b), (n, i, s)] =
  g[n, o, i, s - b*dw] (``im2col.shifted_copies``): dL/dWc = S @ R.T, and dL/dxp adds
  Wr @ S's kh rows (``im2col.col2im_rows``), Wr[(c, a), (o, b)] = W[o, c, a, b].
* **im2col**: columns in the rows layout at stride 1 (kh*kw long copies, see
  glassnet/kernels/im2col.py), the window layout when strided. dL/dx at stride 1 with
  no more output than input channels *gathers*: the transposed convolution, im2col
  of g padded by d*(k-1) - pad and one GEMM with the kernel rotated by 180 degrees::

      dL/dx[n, c, r, s] = sum_{o,a,b} g_pad[n, o, r + a*dh, s + b*dw] * W[o, c, kh-1-a, kw-1-b]

  and those columns give dL/dW too (``_weight_grad_from_grad_cols``), so x's columns
  are not rebuilt. Otherwise dL/dx scatters: col2im, by the stride's phases when
  strided (``im2col.col2im_phases``).

Every form works in blocks of samples sized for the cache (``_blocks``), a large
layer's blocks on glassnet's threads (glassnet/kernels/threads.py); the blocks' dL/dW
parts are added along fixed runs of blocks, each in block order (``_map_blocks_summed``),
so the numbers do not depend on the thread count.
Why each constant has its value, and what each form gained: docs/performance.md.

Adding a form: write its forward (``(layer, plan, x, grad) -> y``, saving ``(plan,
...)`` with ``layer._save_for_backward``) and backward (``(layer, plan, g, *saved) ->
dx or None``, adding into the parameters' ``.grad`` where they require it), and put a
``Form`` for it in ``FORMS`` before the forms it should win over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._arrays import channel_sum
from . import winograd
from .im2col import (
    add_shifted,
    col2im,
    col2im_phases,
    col2im_rows,
    im2col,
    phase_width,
    rows_pads,
    shifted_copies,
)
from .mode import active
from .plan import TEXTBOOK, Plan, cached_plan
from .threads import batch_slices, even_slices, parallel_map, sum_in_order
from .workspace import buffer, padded, scratch_role

__all__ = [
    "Form",
    "FORMS",
    "plan",
    "forward",
    "backward",
    "BLOCK_BYTES",
    "KEEP_BYTES",
    "SMALL_K",
    "LONG_SUM_CHUNK",
    "W_FROM_GRAD_COLS",
    "THREADED_BYTES",
    "THREADED_BLOCK_BYTES",
    "POINTWISE_AS_MATMUL",
    "BLOCK_COUNT_MULTIPLE",
    "KERNEL_ROWS_MIN_KW",
    "KERNEL_ROWS_MIN_K",
    "DW_RUNS",
    "WINOGRAD",
]

# Each value's measurement: docs/performance.md, "Convolution".
BLOCK_BYTES = 8 * 2**20  # columns per block of samples in a layer below THREADED_BYTES
SMALL_K = 48  # dL/dW sums over chunks when C*kh*kw is at most this (_weight_grad)
LONG_SUM_CHUNK = 1024
KEEP_BYTES = 32 * 2**20  # columns a layer keeps from forward for backward
W_FROM_GRAD_COLS = True  # gather form: dL/dW from g_pad's columns
THREADED_BYTES = 8 * 2**20  # layers with at least this many column bytes use threads
THREADED_BLOCK_BYTES = 2 * 2**20  # their blocks: one per core in the cache at a time
POINTWISE_AS_MATMUL = True  # 1x1 kernels without padding: per-sample matmuls
BLOCK_COUNT_MULTIPLE = 2  # a threaded layer's block count: a multiple of this (_blocks)
KERNEL_ROWS_MIN_KW = 4  # stride-1 kernels at least this wide, with at least
KERNEL_ROWS_MIN_K = 8  # this many Cg*kh input rows, run by kernel rows (_by_kernel_rows)
DW_RUNS = 16  # dL/dW is added up along at most this many runs of blocks (_map_blocks_summed)
WINOGRAD = False  # True: wide 3x3 stride-1 layers run as Winograd (winograd.applies); off,
# as it won on no layer measured (docs/performance.md, "Winograd")


@dataclass(frozen=True)
class Form:
    """A tuned form of Conv2d: ``applies(layer, in_shape)`` says where it may run."""

    name: str
    applies: Callable
    forward: Callable
    backward: Callable


def plan(layer, x: np.ndarray) -> Plan:
    """The form ``layer`` runs on ``x``: "textbook" when the kernels are off, else the
    first of ``FORMS`` that applies; cached on the layer per mode, shape and dtype."""
    mode = "fast" if active() else TEXTBOOK
    return cached_plan(layer, ("conv", mode, x.shape, x.dtype.str), lambda: _choose(layer, x))


def _choose(layer, x: np.ndarray) -> Plan:
    out_shape = (x.shape[0], layer.out_channels, *layer._out_hw(x.shape))
    if not active():
        return Plan(TEXTBOOK, x.shape, out_shape)
    form = next(f for f in FORMS if f.applies(layer, x.shape))
    return Plan(form.name, x.shape, out_shape)


def forward(layer, plan: Plan, x: np.ndarray, grad: bool) -> np.ndarray:
    """y by the plan's form (which saves what its backward needs)."""
    return _FORMS_BY_NAME[plan.form].forward(layer, plan, x, grad)


def backward(layer, plan: Plan, g: np.ndarray, *saved) -> np.ndarray | None:
    """dL/dx (None when the layer skips it) by the form forward ran; adds dL/dW, dL/db."""
    g = g.astype(layer.weight.data.dtype, copy=False)
    return _FORMS_BY_NAME[plan.form].backward(layer, plan, g, *saved)


# ------------------------------------------------------------ empty batch
def _empty_forward(layer, plan: Plan, x: np.ndarray, grad: bool) -> np.ndarray:
    layer._save_for_backward(plan)
    return np.empty(plan.out_shape, dtype=x.dtype)


def _empty_backward(layer, plan: Plan, g: np.ndarray) -> np.ndarray | None:
    return np.empty(plan.in_shape, dtype=g.dtype) if layer._input_grad else None


# ------------------------------------------------------------ blocks of samples
def _threaded(n: int, bytes_per_sample: int) -> bool:
    """Whether a layer is large enough to run its blocks on glassnet's threads."""
    return n * bytes_per_sample >= THREADED_BYTES


def _blocks(n: int, bytes_per_sample: int) -> list[slice]:
    """Slices of samples whose columns fit in the cache (at least one sample each):
    BLOCK_BYTES, or THREADED_BLOCK_BYTES in a large layer.

    The samples are shared out evenly (sizes differ by one at most) rather than in
    full blocks and a short last one, and a large layer's block count is rounded up
    to a multiple of BLOCK_COUNT_MULTIPLE, so that on two threads neither waits for
    the other at the end (5 blocks of 28, 28, 28, 28, 16 gave one thread 72 samples,
    the other 56). The cut depends on the layer's size only, not on the number of
    threads, so results do not either."""
    threaded = _threaded(n, bytes_per_sample)
    limit = THREADED_BLOCK_BYTES if threaded else BLOCK_BYTES
    size = max(1, min(n, limit // max(1, bytes_per_sample)))
    count = -(-n // size)
    if threaded:
        count = min(n, -(-count // BLOCK_COUNT_MULTIPLE) * BLOCK_COUNT_MULTIPLE)
    return even_slices(n, count)


def _map_blocks(fn, n: int, bytes_per_sample: int) -> list:
    """``[fn(block) for block in _blocks(...)]``, on glassnet's threads (see
    :mod:`.threads`) for a large layer, in the caller's thread for a small one,
    where handing blocks over costs more than it saves (LeNet-5's step: 7% slower)."""
    return _in_threads_if(_threaded(n, bytes_per_sample), fn, _blocks(n, bytes_per_sample))


def _in_threads_if(threaded: bool, fn, items) -> list:
    """``[fn(item) for item in items]``, on glassnet's threads when ``threaded``."""
    return parallel_map(fn, items) if threaded else [fn(item) for item in items]


def _map_blocks_summed(fn, n: int, bytes_per_sample: int):
    """The sum of ``fn(block)`` over the blocks of ``_map_blocks`` (``fn`` returns a
    fresh array, a block's share of dL/dW, or None when there is none: then None).

    The blocks are cut into DW_RUNS fixed runs of consecutive blocks; each run adds its
    blocks' shares in block order as they come, and the runs' totals are added in run
    order: the same numbers for any number of threads, with one partial sum per run
    alive instead of one per block. (A 256 -> 256 layer on 7x7 images at batch 1,024
    has ~340 blocks, each with a 2.4 MB share of dL/dW: 800 MB held until the end and
    read once more to add up, more memory traffic than the block's own columns.)"""
    blocks = _blocks(n, bytes_per_sample)
    runs = even_slices(len(blocks), min(DW_RUNS, len(blocks)))

    def run(r: slice):
        total = None
        for block in blocks[r]:
            part = fn(block)
            if part is None:
                continue
            if total is None:
                total = part
            else:
                total += part
        return total

    totals = _in_threads_if(_threaded(n, bytes_per_sample), run, runs)
    totals = [t for t in totals if t is not None]
    return sum_in_order(totals) if totals else None


def _on_grid(layer, name: str, a: np.ndarray, grid_w: int, groups: int) -> np.ndarray:
    """(N, C, H, W) laid out channel-major on a grid ``grid_w`` wide, as the columns'
    GEMMs need it: (G, C/G, N*H*grid_w), zeros in each row's columns past W; in the
    layer's scratch buffer ``name`` for the calling thread."""
    n, c, h, w = a.shape
    out = buffer(layer, scratch_role(name), (c, n, h, grid_w), a.dtype)
    out[..., :w] = a.transpose(1, 0, 2, 3)
    out[..., w:] = 0
    return out.reshape(groups, c // groups, -1)


def _weight_grad(cols: np.ndarray, g_t: np.ndarray) -> np.ndarray:
    """dL/dW2 = g_t @ cols.T for cols (G, K, P) and g_t (G, Og, P): (G, Og, K).

    Computed as (cols @ g_t.T).T: the same numbers, but BLAS runs this orientation about
    2x faster for a short, wide g_t (benchmarks/layers.py). When K = C*kh*kw is small
    (a first layer: 25 for LeNet-5's conv1, 27 for a 3x3 RGB stem) the product is a
    tiny K x Og result summed over a very long P, which OpenBLAS runs at 15-20 GFLOP/s.
    Cut P into chunks of LONG_SUM_CHUNK, multiply the chunks as one batch and add the
    partial results: measured 3.5x (LeNet conv1) and 1.8x (stem) faster, 1 or 2 threads.
    """
    k, p = cols.shape[-2], cols.shape[-1]
    chunks = p // LONG_SUM_CHUNK
    if k > SMALL_K or chunks < 2:
        return np.matmul(cols, g_t.swapaxes(-1, -2)).swapaxes(-1, -2)
    n = chunks * LONG_SUM_CHUNK
    g, og = g_t.shape[:2]
    c4 = cols[..., :n].reshape(g, k, chunks, LONG_SUM_CHUNK).transpose(0, 2, 1, 3)
    g4 = g_t[..., :n].reshape(g, og, chunks, LONG_SUM_CHUNK).transpose(0, 2, 3, 1)
    dw = np.matmul(c4, g4).sum(axis=1)  # (G, K, Og)
    if n < p:
        dw += np.matmul(cols[..., n:], g_t[..., n:].swapaxes(-1, -2))
    return dw.swapaxes(-1, -2)


def _im2col_forward(layer, plan: Plan, x: np.ndarray, grad: bool) -> np.ndarray:
    """im2col and one GEMM per block of samples: the rows layout at stride 1, the
    window layout otherwise (glassnet/kernels/im2col.py); padded a block at a time; the
    first blocks' columns kept for backward's dL/dW (up to KEEP_BYTES)."""
    n = x.shape[0]
    ho, wo = plan.out_shape[2:]
    rows = layer.stride == (1, 1)
    pads = _block_pads(layer, x.shape[3])
    grid_w = x.shape[3] + pads[2] + pads[3] if rows else wo  # computed width (im2col.py)
    g, og = layer.groups, layer.out_channels // layer.groups
    w2 = layer.weight.data.reshape(g, og, -1)  # (G, Og, Cg*kh*kw)
    y = np.empty((n, layer.out_channels, ho, wo), dtype=x.dtype)
    per_sample = w2.shape[-1] * g * ho * grid_w * x.itemsize
    keep_bytes = KEEP_BYTES if _keeps_columns(layer, grad) else 0
    bias = None if layer.bias is None else layer.bias.data[:, None, None]

    index = _block_index(n, per_sample)

    def forward_block(block: slice) -> tuple[tuple[int, int], np.ndarray | None]:
        """Writes y[block]; returns the block's bounds and, if backward keeps them,
        its columns."""
        b = block.stop - block.start
        # the first blocks, up to KEEP_BYTES of columns, are kept for backward
        keep = block.stop * per_sample <= keep_bytes
        role = ("cols", index[block.start]) if keep else scratch_role("cols")
        cols = _columns(layer, x[block], pads, (ho, wo), role)
        out = np.matmul(w2, cols.reshape(g, -1, b * ho * grid_w))  # (G, Og, B*Ho*G)
        out = out.reshape(layer.out_channels, b, ho, grid_w)[..., :wo]
        y[block] = out.transpose(1, 0, 2, 3)
        if bias is not None:  # while the block is in the cache
            y[block] += bias
        return (block.start, block.stop), cols if keep else None

    results = _map_blocks(forward_block, n, per_sample)
    kept = {bounds: cols for bounds, cols in results if cols is not None}
    layer._save_for_backward(plan, x, pads, kept)
    return y


def _im2col_backward(layer, plan: Plan, g_out: np.ndarray, x, pads, kept: dict):
    """Backward of ``_im2col_forward``: dL/dx by gathering (the transposed convolution
    as im2col of the padded gradient and one GEMM; dL/dW then from the same columns)
    where the layer has stride 1 and no more output than input channels, else by
    scattering (col2im; by the stride's phases when strided)."""
    x_shape, dtype = x.shape, x.dtype
    n, g = x_shape[0], layer.groups
    og = layer.out_channels // g
    ho, wo = layer._out_hw(x_shape)
    rows = layer.stride == (1, 1)
    grid_w = x_shape[3] + pads[2] + pads[3] if rows else wo
    w2 = layer.weight.data.reshape(g, og, -1)  # (G, Og, Kg)
    need_w = layer.weight.requires_grad
    need_b = layer.bias is not None and layer.bias.requires_grad
    need_x = layer._input_grad
    gather_pads = _gather_pads(layer) if need_x else None  # None: scatter form
    if gather_pads is not None:  # laid out for the rows layout of g's columns
        gather_pads = rows_pads(gather_pads, wo, layer.kernel_size, layer.dilation)
    if need_b:
        layer.bias.grad += channel_sum(g_out)
    per_sample = w2.shape[-1] * g * ho * grid_w
    if need_x:
        dx = np.empty(x_shape, dtype=dtype)
    if gather_pads is not None:
        w_rot = _rotated_weight(layer)
        g_grid_w = wo + gather_pads[2] + gather_pads[3]  # width of the padded gradient
        kernel_area = layer.kernel_size[0] * layer.kernel_size[1]
        per_sample = max(per_sample, layer.out_channels * kernel_area * x_shape[2] * g_grid_w)
    scatter = need_x and gather_pads is None
    w_from_g = need_w and _w_from_grad_cols(layer)

    def backward_block(block: slice) -> np.ndarray | None:
        """Writes the block's dL/dx; returns its share of dL/dW (None if not needed)."""
        b = block.stop - block.start
        if w_from_g:
            gcols = _grad_cols(layer, g_out[block], gather_pads, x_shape)
            dx[block] = _input_grad_from_cols(layer, gcols, w_rot, b, x_shape)
            return _weight_grad_from_grad_cols(layer, gcols, x[block])
        if need_w or (scatter and rows):
            # the block's gradient as (G, Og, B*Ho*grid_w): the layout of W2 @ cols,
            # with zeros in the rows layout's garbage columns
            g_t = _on_grid(layer, "g_grid", g_out[block], grid_w, g)
        cols = dw_block = None
        if need_w:
            cols = kept.pop((block.start, block.stop), None)  # None: not kept, rebuild
            if cols is None:
                cols = _columns(layer, x[block], pads, (ho, wo), scratch_role("cols"))
            dw_block = _weight_grad(cols.reshape(g, -1, g_t.shape[-1]), g_t)
        if gather_pads is not None:
            dx[block] = _input_grad_gather(layer, g_out[block], w_rot, gather_pads, x_shape)
        elif scatter and not rows:  # strided: by the stride's phases (col2im_phases)
            g_q = _phase_grid(layer, g_out[block])
            dcols = np.matmul(w2.swapaxes(-1, -2), g_q)
            dcols = dcols.reshape(layer.in_channels, *layer.kernel_size, b, ho, -1)
            col2im_phases(dcols, dx[block], pads, layer.stride, layer.dilation)
        elif scatter:
            out = None if cols is None else cols.reshape(g, -1, g_t.shape[-1])
            dcols = np.matmul(w2.swapaxes(-1, -2), g_t, out=out)  # reuses the buffer
            dcols = dcols.reshape(layer.in_channels, *layer.kernel_size, b, ho, grid_w)
            # added into the block's padded input gradient, then cropped
            top, bottom, left, right = pads
            h, w = x_shape[2:]
            dxp = np.zeros((b, layer.in_channels, h + top + bottom, w + left + right), dtype)
            col2im(dcols, dxp, layer.dilation)
            dx[block] = dxp[:, :, top : top + h, left : left + w]
        return dw_block

    dw = _map_blocks_summed(backward_block, n, per_sample * dtype.itemsize)
    if w_from_g:  # back to W's layout (G, Og, Cg, kh, kw)
        kh, kw = layer.kernel_size
        dw = dw.reshape(g, og, kh, kw, -1)[:, :, ::-1, ::-1].transpose(0, 1, 4, 2, 3)
    if need_w:
        layer.weight.grad += dw.reshape(layer.weight.shape)
    return dx if need_x else None


# ------------------------------------------------------------ 1x1 kernels
def _pointwise(layer) -> bool:
    """Whether this is a 1x1 convolution without padding (a ResNet shortcut), done
    as matrix products on x itself (``_pointwise_forward``) instead of im2col."""
    return POINTWISE_AS_MATMUL and layer.kernel_size == (1, 1) and not any(layer._pads())


def _pointwise_forward(layer, plan: Plan, x: np.ndarray, grad: bool) -> np.ndarray:
    """A 1x1 kernel sees one pixel: with xs = x[:, :, ::sh, ::sw] (every pixel at
    stride 1, where xs is x itself) seen as (N, G, Cg, Ho*Wo),

        y[n, g] = W[g] @ xs[n, g]                        W: (G, Og, Cg)

    a product per sample that writes y straight in (N, C_out, Ho, Wo) layout: no
    columns and no transposed copy of the output. Slices of the batch run on
    glassnet's threads. Backward keeps xs (a quarter of x at stride 2)."""
    n, c = x.shape[:2]
    ho, wo = plan.out_shape[2:]
    g, og, cg, p = layer.groups, layer.out_channels // layer.groups, c // layer.groups, ho * wo
    sh, sw = layer.stride
    w = layer.weight.data.reshape(g, og, cg)
    xs = x if (sh, sw) == (1, 1) else np.empty((n, c, ho, wo), dtype=x.dtype)
    y = np.empty((n, layer.out_channels, ho, wo), dtype=x.dtype)
    bias = None if layer.bias is None else layer.bias.data[:, None, None]

    def part(s: slice) -> None:
        if xs is not x:
            xs[s] = x[s, :, ::sh, ::sw]
        b = s.stop - s.start
        np.matmul(w, xs[s].reshape(b, g, cg, p), out=y[s].reshape(b, g, og, p))
        if bias is not None:  # while the slice is in the cache
            y[s] += bias

    parallel_map(part, batch_slices(n, x.nbytes + y.nbytes))
    layer._save_for_backward(plan, xs, x.shape)
    return y


def _pointwise_backward(layer, plan: Plan, g_out: np.ndarray, xs: np.ndarray, x_shape):
    """Backward of ``_pointwise_forward``, per sample n and group g::

        dL/dW[g] = sum_n gy[n, g] @ xs[n, g].T       dL/dxs[n, g] = W[g].T @ gy[n, g]

    and dL/dx is dL/dxs at the strided pixels, zero elsewhere. The dL/dW parts of
    the slices are added in slice order (the same sum for any number of threads)."""
    n, c, ho, wo = xs.shape
    g, og, cg, p = layer.groups, layer.out_channels // layer.groups, c // layer.groups, ho * wo
    sh, sw = layer.stride
    need_w = layer.weight.requires_grad
    need_x = layer._input_grad
    w_t = layer.weight.data.reshape(g, og, cg).swapaxes(-1, -2)  # (G, Cg, Og)
    dx = np.empty(x_shape, dtype=xs.dtype) if need_x else None
    strided = (sh, sw) != (1, 1)

    def part(s: slice) -> np.ndarray | None:
        b = s.stop - s.start
        gy = g_out[s].reshape(b, g, og, p)
        if need_x:
            if strided:
                dx[s] = 0
                dx[s, :, ::sh, ::sw] = np.matmul(w_t, gy).reshape(b, c, ho, wo)
            else:
                np.matmul(w_t, gy, out=dx[s].reshape(b, g, cg, p))
        if need_w:
            return np.matmul(gy, xs[s].reshape(b, g, cg, p).swapaxes(-1, -2)).sum(axis=0)
        return None

    parts = parallel_map(part, batch_slices(n, 2 * xs.nbytes + g_out.nbytes))
    if layer.bias is not None and layer.bias.requires_grad:
        layer.bias.grad += channel_sum(g_out)
    if need_w:
        layer.weight.grad += sum_in_order(parts).reshape(layer.weight.shape)
    return dx


# ------------------------------------------------------------ by kernel rows
def _by_kernel_rows(layer) -> bool:
    """Whether this layer runs by kernel rows (module docstring): stride 1, a kernel
    at least KERNEL_ROWS_MIN_KW wide (its columns are kw times smaller than im2col's)
    and at least KERNEL_ROWS_MIN_K rows Cg*kh in its product (speed notes)."""
    kh, kw = layer.kernel_size
    return (
        layer.stride == (1, 1)
        and kw >= KERNEL_ROWS_MIN_KW
        and layer.in_channels // layer.groups * kh >= KERNEL_ROWS_MIN_K
    )


def _kernel_rows_forward(layer, plan: Plan, x: np.ndarray, grad: bool) -> np.ndarray:
    """Forward by kernel rows (module docstring): R = the rows layout of a kernel
    kh x 1 over the padded input (kh long copies), Z = Wc @ R, y = Z's kw rows of
    each output channel added shifted left by b*dw (``im2col.add_shifted``). j + b*dw
    < Wp for every valid j; what a row's last columns read from the next row is
    dropped with them. Backward (``_kernel_rows_backward``) needs only R."""
    n = x.shape[0]
    ho, wo = plan.out_shape[2:]
    kw, dw = layer.kernel_size[1], layer.dilation[1]
    wp = wo + (kw - 1) * dw
    w_cols = _kernel_cols_weight(layer)  # Wc: (G, Og*kw, Cg*kh)
    y = np.empty((n, layer.out_channels, ho, wo), dtype=x.dtype)
    per_sample = _kernel_rows_bytes(layer, ho, wp, x.itemsize)
    keep = grad and layer.weight.requires_grad
    keep_bytes = KEEP_BYTES if keep else 0
    bias = None if layer.bias is None else layer.bias.data[:, None, None]

    index = _block_index(n, per_sample)

    def forward_block(block: slice):
        """Writes y[block]; returns the block's bounds and, if kept, its R."""
        b = block.stop - block.start
        kept = block.stop * per_sample <= keep_bytes
        role = ("cols", index[block.start]) if kept else scratch_role("cols")
        r = _row_columns(layer, x[block], ho, role)  # (G, Cg*kh, B*Ho*Wp)
        z = np.matmul(w_cols, r).reshape(layer.out_channels, kw, -1)
        out = add_shifted(z, dw).reshape(layer.out_channels, b, ho, wp)[..., :wo]
        y[block] = out.transpose(1, 0, 2, 3)
        if bias is not None:  # while the block is in the cache
            y[block] += bias
        return (block.start, block.stop), r if kept else None

    results = _map_blocks(forward_block, n, per_sample)
    kept = {bounds: r for bounds, r in results if r is not None}
    layer._save_for_backward(plan, x, kept)
    return y


def _kernel_rows_bytes(layer, ho: int, wp: int, itemsize: int) -> int:
    """Bytes per sample of the larger of R and Z: what sizes the blocks."""
    kh, kw = layer.kernel_size
    rows = max(layer.in_channels * kh, layer.out_channels * kw)
    return rows * ho * wp * itemsize


def _row_columns(layer, x_block: np.ndarray, out_h: int, role) -> np.ndarray:
    """R of a block (``_kernel_rows_forward``): (G, Cg*kh, B*Ho*Wp), in the layer's
    workspace buffer for ``role`` (glassnet/kernels/workspace.py)."""
    xp = _padded_block(layer, x_block, layer._pads())
    kh, dh = layer.kernel_size[0], layer.dilation[0]
    empty = _in_workspace(layer, role)
    r = im2col(xp, (kh, 1), (1, 1), (dh, 1), (out_h, xp.shape[3]), True, empty)
    return r.reshape(layer.groups, -1, x_block.shape[0] * out_h * xp.shape[3])


def _kernel_rows_backward(layer, plan: Plan, g_out: np.ndarray, x, kept: dict):
    """Backward of ``_kernel_rows_forward``. With S[(o, b), (n, i, s)] = g[n, o, i,
    s - b*dw] (zero outside 0 <= s - b*dw < Wo), g shifted right by each kernel
    column's offset on the Wp-wide grid (``im2col.shifted_copies``)::

        dL/dWc = S @ R.T                      (O*kw, C*kh): dL/dW[o, c, a, b]
        dL/dx  = col2im_rows(Wr @ S)            (module docstring, ``_kernel_rows_input_grad``)

    dL/dW is the sum over n, i, j of g[n, o, i, j] * xp[n, c, i + a*dh, j + b*dw];
    with s = j + b*dw that is S's row (o, b) times R's row (c, a)."""
    n = x.shape[0]
    g, og = layer.groups, layer.out_channels // layer.groups
    (kh, kw), dw = layer.kernel_size, layer.dilation[1]
    ho, wo = layer._out_hw(x.shape)
    wp = wo + (kw - 1) * dw
    need_w = layer.weight.requires_grad
    need_x = layer._input_grad
    if layer.bias is not None and layer.bias.requires_grad:
        layer.bias.grad += channel_sum(g_out)
    if not (need_w or need_x):
        return None
    # Wr[(c, a), (o, b)] = W[o, c, a, b]: Wc transposed, per group
    w_rows = np.ascontiguousarray(_kernel_cols_weight(layer).swapaxes(-1, -2)) if need_x else None
    dx = np.empty(x.shape, dtype=x.dtype) if need_x else None

    def backward_block(block: slice) -> np.ndarray | None:
        """Writes the block's dL/dx; returns its share of dL/dWc (None if not needed)."""
        g_grid = _on_grid(layer, "g_grid", g_out[block], wp, g)  # (G, Og, B*Ho*Wp)
        shifted = shifted_copies(g_grid, kw, dw).reshape(g, og * kw, -1)  # S
        if need_x:
            _kernel_rows_input_grad(layer, shifted, w_rows, dx[block], ho, wp)
        if not need_w:
            return None
        r = kept.pop((block.start, block.stop), None)
        if r is None:  # not kept: rebuilt
            r = _row_columns(layer, x[block], ho, scratch_role("cols"))
        return np.matmul(shifted, r.swapaxes(-1, -2))  # (G, Og*kw, Cg*kh)

    per_sample = _kernel_rows_bytes(layer, ho, wp, x.itemsize)
    dw_cols = _map_blocks_summed(backward_block, n, per_sample)
    if need_w:  # (G, Og, kw, Cg, kh) -> W's layout
        dw_cols = dw_cols.reshape(g, og, kw, -1, kh)
        layer.weight.grad += dw_cols.transpose(0, 1, 3, 4, 2).reshape(layer.weight.shape)
    return dx


def _kernel_cols_weight(layer) -> np.ndarray:
    """Wc[(o, b), (c, a)] = W[o, c, a, b] for the kernel-rows form: (G, Og*kw, Cg*kh)."""
    g, (kh, kw) = layer.groups, layer.kernel_size
    og = layer.out_channels // g
    w = layer.weight.data.reshape(g, og, -1, kh, kw).transpose(0, 1, 4, 2, 3)
    return np.ascontiguousarray(w).reshape(g, og * kw, -1)


def _kernel_rows_input_grad(layer, shifted, w_rows, dx_block, out_h: int, wp: int) -> None:
    """dL/dx of a block by kernel rows (module docstring), written into
    ``dx_block``. ``shifted``: S, the block's dL/dy on a grid ``wp`` = Wo + (kw-1)*dw
    wide (the padded input's width), shifted by each kernel column (G, Og*kw, B*Ho*Wp)."""
    kh, dh = layer.kernel_size[0], layer.dilation[0]
    b, c, h, w = dx_block.shape
    part = np.matmul(w_rows, shifted).reshape(c, kh, b, out_h * wp)  # Z = Wr @ S
    hp = out_h + (kh - 1) * dh  # the padded input's height
    if (hp, wp) == (h, w):  # no padding: added straight into dL/dx
        col2im_rows(part, dx_block, dh)
        return
    dxp = np.empty((b, c, hp, wp), dtype=dx_block.dtype)
    col2im_rows(part, dxp, dh)
    top, _, left, _ = layer._pads()
    dx_block[...] = dxp[:, :, top : top + h, left : left + w]


def _phase_grid(layer, g_block: np.ndarray) -> np.ndarray:
    """A strided layer's output gradient laid out for ``col2im_phases``: (G, Og,
    B*Ho*Wq), each output row followed by Wq - Wo zeros."""
    wo = g_block.shape[3]
    grid_w = phase_width(wo, layer.kernel_size[1], layer.dilation[1], layer.stride[1])
    return _on_grid(layer, "g_phases", g_block, grid_w, layer.groups)


def _w_from_grad_cols(layer) -> bool:
    """Whether backward takes dL/dW from the gradient's columns: wherever dL/dx is
    done in the gather form, which builds those columns anyway, so x's columns need
    not be rebuilt (see _weight_grad_from_grad_cols)."""
    return W_FROM_GRAD_COLS and layer._input_grad and _gather_pads(layer) is not None


def _keeps_columns(layer, grad: bool) -> bool:
    """Whether forward should keep x's columns for backward's dL/dW."""
    if not (grad and layer.weight.requires_grad):
        return False
    return not _w_from_grad_cols(layer)


def _gather_pads(layer) -> tuple[int, int, int, int] | None:
    """Padding of g for the gather form of dL/dx (module docstring), or None where
    that form does not apply (stride > 1, more output than input channels, or more
    padding than the kernel spans)."""
    if layer.stride != (1, 1) or layer.out_channels > layer.in_channels:
        return None
    (kh, kw), (dh, dw) = layer.kernel_size, layer.dilation
    top, bottom, left, right = layer._pads()
    pads = (
        dh * (kh - 1) - top,
        dh * (kh - 1) - bottom,
        dw * (kw - 1) - left,
        dw * (kw - 1) - right,
    )
    return pads if min(pads) >= 0 else None


def _rotated_weight(layer) -> np.ndarray:
    """W flipped in space with in/out channels swapped: (G, Cg, Og*kh*kw)."""
    g = layer.groups
    w = layer.weight.data.reshape(g, layer.out_channels // g, *layer.weight.shape[1:])
    w = w[..., ::-1, ::-1].transpose(0, 2, 1, 3, 4)  # (G, Cg, Og, kh, kw)
    return np.ascontiguousarray(w).reshape(g, layer.in_channels // g, -1)


def _grad_cols(layer, g_block, pads, x_shape) -> np.ndarray:
    """Rows-layout columns of the padded gradient: (G, Og*kh*kw, B*H*grid_w)."""
    b, (h, w) = g_block.shape[0], x_shape[2:]
    g_pad = _padded_block(layer, g_block, pads, "g_pad")  # pads: from rows_pads
    empty = _in_workspace(layer, scratch_role("g_cols"))
    cols = im2col(g_pad, layer.kernel_size, (1, 1), layer.dilation, (h, w), True, empty)
    return cols.reshape(layer.groups, -1, b * h * g_pad.shape[3])


def _input_grad_from_cols(layer, gcols, w_rot, b, x_shape) -> np.ndarray:
    h, w = x_shape[2:]
    dx_t = np.matmul(w_rot, gcols)  # (G, Cg, B*H*grid_w)
    return dx_t.reshape(layer.in_channels, b, h, -1)[..., :w].transpose(1, 0, 2, 3)


def _input_grad_gather(layer, g_block, w_rot, pads, x_shape) -> np.ndarray:
    gcols = _grad_cols(layer, g_block, pads, x_shape)
    return _input_grad_from_cols(layer, gcols, w_rot, g_block.shape[0], x_shape)


def _block_pads(layer, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zeros around each block of x for its columns: the
    layer's padding, laid out for the rows layout at stride 1 (``rows_pads``)."""
    if layer.stride != (1, 1):
        return layer._pads()
    return rows_pads(layer._pads(), width, layer.kernel_size, layer.dilation)


def _columns(layer, x_block: np.ndarray, pads, out_hw, role) -> np.ndarray:
    """im2col of one block of x, padded on its own: the padded copy is a block's
    worth, still in the cache when im2col reads it, rather than a padded copy of the
    whole batch in memory (saved for backward until then). Both are written into the
    layer's workspace (the columns into its buffer for ``role``)."""
    xp = _padded_block(layer, x_block, pads)
    rows = layer.stride == (1, 1)
    empty = _in_workspace(layer, role)
    return im2col(xp, layer.kernel_size, layer.stride, layer.dilation, out_hw, rows, empty)


def _padded_block(layer, block: np.ndarray, pads, name: str = "x_pad") -> np.ndarray:
    """A block zero-padded in the calling thread's buffer (``workspace.padded``)."""
    if not any(pads):
        return block
    return padded(layer, scratch_role(name), block, *pads)


def _in_workspace(layer, role):
    """``empty(shape, dtype)`` that lays an array out in the layer's buffer for ``role``."""
    return lambda shape, dtype: buffer(layer, role, shape, dtype)


def _block_index(n: int, bytes_per_sample: int) -> dict[int, int]:
    """Each block's position by its first sample (the kept columns' buffer roles)."""
    return {block.start: i for i, block in enumerate(_blocks(n, bytes_per_sample))}


def _weight_grad_from_grad_cols(layer, gcols, x_block) -> np.ndarray:
    """dL/dW with the kernel rotated, (G, Og*kh*kw, Cg), from the gradient's columns.

    The gradient's column for x pixel (n, r, s) holds g_pad[n, o, r + a'*dh, s + b'*dw],
    which is g[n, o, i, j] at the output pixel that reads x[n, c, r, s] through kernel
    offset (kh-1-a', kw-1-b'). So the sum that gives dL/dW,

        dL/dW[o, c, a, b] = sum_{n,i,j} g[n, o, i, j] * xp[n, c, i + a*dh, j + b*dw],

    is also gcols[(o, kh-1-a, kw-1-b), :] @ x[c, :] over x's pixels laid out on the
    same grid as the columns (zeros in the grid's extra columns): one GEMM against x
    itself instead of against x's kh*kw-times-larger columns, which backward would
    otherwise have to copy out again.
    """
    b, _, h, _ = x_block.shape
    xg = _on_grid(
        layer, "x_grid", x_block, gcols.shape[-1] // (b * h), layer.groups
    )  # (G, Cg, B*H*grid)
    return np.matmul(gcols, xg.swapaxes(-1, -2))


FORMS: list[Form] = [
    Form("empty batch", lambda layer, shape: shape[0] == 0, _empty_forward, _empty_backward),
    Form(
        "pointwise",
        lambda layer, shape: _pointwise(layer),
        _pointwise_forward,
        _pointwise_backward,
    ),
    Form(
        "by kernel rows",
        lambda layer, shape: _by_kernel_rows(layer),
        _kernel_rows_forward,
        _kernel_rows_backward,
    ),
    Form(
        "winograd",
        lambda layer, shape: WINOGRAD and winograd.applies(layer, shape),
        winograd.forward,
        winograd.backward,
    ),
    Form("im2col", lambda layer, shape: True, _im2col_forward, _im2col_backward),
]


class _ByName(dict):
    """FORMS by name, looked up afresh so that a form added to FORMS is found."""

    def __missing__(self, name: str) -> Form:
        for f in FORMS:
            if f.name == name:
                return f
        raise KeyError(f"no convolution form named {name!r}")


_FORMS_BY_NAME = _ByName()
