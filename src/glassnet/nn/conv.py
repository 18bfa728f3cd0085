"""2-D convolution as matrix multiplication (im2col + GEMM).

Forward. Pad x (N, C, H, W); for every output pixel (i, j) the receptive field is a
C x kh x kw block. Lay those blocks out as the columns of one matrix (``im2col``, in
:mod:`glassnet.nn.im2col`)::

    cols[(c, a, b), (n, i, j)] = xp[n, c, i*sh + a*dh, j*sw + b*dw]     (C*kh*kw, N*Ho*Wo)
    y[n, :, i, j] = W2 @ cols[:, (n, i, j)] + b                          W2 = W.reshape(O, -1)

so the whole layer is one GEMM, ``W2 @ cols``, which BLAS runs near the machine's peak.

Backward, given g = dL/dy seen as gT (O, N*Ho*Wo)::

    dL/db    = gT.sum over its columns
    dL/dW2   = gT @ cols.T                                              (O, C*kh*kw)
    dL/dcols = W2.T @ gT                                                (C*kh*kw, N*Ho*Wo)
    dL/dx    = col2im(dL/dcols): add every column entry back into the pixel it came
               from, then crop the padding.

For stride 1 the input gradient is itself a convolution: g padded by d*(k-1) - pad,
correlated with the kernel rotated by 180 degrees, in and out channels swapped::

    dL/dx[n, c, r, s] = sum_{o,a,b} g_pad[n, o, r + a*dh, s + b*dw] * W[o, c, kh-1-a, kw-1-b]

Done as im2col(g_pad) and one GEMM it *gathers* values, ~1.5x faster here than col2im's
scatter-add, so it is used when g has no more channels than x (else its columns
would be the larger ones). g_pad's columns then also give dL/dW, read the other way
round: column (n, r, s) holds every g value that x[n, :, r, s] was multiplied with, so

    dL/dW[o, c, a, b] = sum_{n,r,s} g_pad[n, o, r + (kh-1-a)*dh, s + (kw-1-b)*dw] * x[n, c, r, s]

is one GEMM of those columns against x itself, and x's columns need not be rebuilt.

Wide kernels at stride 1 (LeNet-5's 5x5) run **by kernel rows** instead: columns
over the kernel's rows only, the kernel's columns done by shifting whole rows. On
the padded input xp, Wp = Wo + (kw-1)*dw wide::

    R[(c, a), (n, i, s)] = xp[n, c, i + a*dh, s]           (C*kh, N*Ho*Wp), s < Wp
    Z = Wc @ R,  Wc[(o, b), (c, a)] = W[o, c, a, b]         (O*kw, N*Ho*Wp)
    y[n, o, i, j] = sum_b Z[(o, b), (n, i, j + b*dw)] + b[o]                (j < Wo)

R is kw times smaller than the columns, and the shifted sum is kw contiguous adds
over the whole grid (``im2col.add_shifted``). Backward shifts g the other way:
S[(o, b), (n, i, s)] = g[n, o, i, s - b*dw] (zero outside 0 <= s - b*dw < Wo), kw
contiguous copies of g laid out on the Wp-wide grid (``im2col.shifted_copies``: a row
shifted right reads the zeros that end the row before), and::

    dL/dWc  = S @ R.T                                   dL/dW[o, c, a, b] = dL/dWc[(o, b), (c, a)]
    Zx      = Wr @ S,  Wr[(c, a), (o, b)] = W[o, c, a, b]
    dL/dxp[n, c, i + a*dh, s] = sum_a Zx[(c, a), (n, i, s)]    (kh contiguous adds)

the scatter of col2im split in two: gathered along the kernel's columns by the
product, scattered along its rows by ``im2col.col2im_rows``.

Groups split channels into G independent convolutions: the same formulas with an extra
G axis (W: (O, C/G, kh, kw)).

Speed notes (measured on 2 cores; see benchmarks/layers.py):

* The columns are C*kh*kw times the input (75 MB for 128 CIFAR images at 16 channels),
  so the work is done in blocks of samples whose columns fit in the CPU cache: the
  GEMM then reads what im2col just wrote from cache instead of memory. A layer too
  small for glassnet's threads (below) runs its GEMMs on BLAS's threads, which do
  better with fewer, larger products: its blocks are BLOCK_BYTES = 8 MiB (one block
  for each of LeNet-5's convs at batch 64, 5.4 MB of columns each; paired steps
  LeNet-5 0.948-0.962 against 4 MiB, digits-cnn 0.996, ResNet-8 1.003).
* In the gather form dL/dW comes from g_pad's columns (W_FROM_GRAD_COLS), so backward
  copies one set of columns instead of two and forward keeps none: ResNet-20's step
  7-8% faster in paired timings.
* The other layers (first layers, strided ones, more output than input channels) need
  x's columns for dL/dW. Forward keeps the columns of its first blocks for backward,
  up to KEEP_BYTES per layer (32 MiB: all of LeNet-5's, all of a ResNet stem's and
  strided layers' at batch 128); backward rebuilds the others. Measured in paired
  step timings with freed memory kept for reuse (:mod:`glassnet.allocator`): keeping
  LeNet-5's columns makes its step 7% faster; 32 MiB instead of 8 makes ResNet-8's and
  ResNet-20's 3% faster for ~35 MB more. (Before the gather layers stopped keeping
  columns, 16 MiB cost ResNet-20 290 MB of peak memory for ~2%.)
* A large layer (THREADED_BYTES of columns or more: every ResNet layer at batch 128,
  not LeNet-5's) runs its blocks on glassnet's threads (:mod:`glassnet.threads`), each
  block's copies and product on one core, in blocks of THREADED_BLOCK_BYTES (two in
  the cache at a time). Measured in paired step timings, 2 threads against 1 (both
  with 2 BLAS threads): ResNet-20's step 20% shorter, ResNet-8's 22%; 2 MiB blocks
  instead of 4 another 3%; the same for LeNet-5 made its step 7% longer, so small
  layers stay in the caller's thread. dL/dW adds the blocks' parts in block order, so
  the numbers do not depend on the thread count.
* The blocks share the batch out evenly, an even number of them in a threaded layer
  (``_blocks``): the strided layers, cut into few blocks, had left one thread idle at
  the end. Layer forward+backward, 2 threads, two alternating runs: 16->32 stride 2
  5-7% faster, 32->64 stride 2 10-11%, 64->64 2-4%; paired steps ResNet-8 and
  ResNet-20 0.994.
* Each block of x is padded on its own, just before its im2col (``_columns``), and
  backward keeps x itself, not a padded copy of the whole batch: the padded block is
  still in the cache when im2col reads it. Likewise the scatter form adds each block's
  columns into a block-sized padded gradient and crops it into dL/dx. Paired steps:
  ResNet-20, ResNet-8 and LeNet-5 1.5-2% faster, and one padded copy of every conv
  input less in memory.
* Stride-1 convolutions use the "rows" column layout (see :mod:`glassnet.nn.im2col`):
  im2col becomes kh*kw long contiguous copies, for a few percent extra GEMM work. A
  row's left padding doubles as the right padding of the row above (``rows_pads``),
  which halves that extra work for symmetric padding: paired steps 3.6% faster for
  ResNet-20 (whose 8x8 layers computed 10 columns per row for 8, now 9), 1.5% for
  ResNet-8, 1.3% for LeNet-5.
* A strided layer's dL/dx (the scatter form) is added up by the stride's phases
  (:func:`glassnet.nn.im2col.col2im_phases`): contiguous runs instead of col2im's
  short strided adds, written straight into dL/dx, for 1/Wo more dL/dcols GEMM work.
  Layer forward+backward: ResNet's 16->32 stride-2 layer 11% faster (59 -> 67
  GFLOP/s, 2 threads, matmul 174), 32->64 7% (81 -> 87); paired steps ResNet-8 1.3%.
* By kernel rows (``_by_kernel_rows``: stride 1, kernels KERNEL_ROWS_MIN_KW = 4 or
  more wide, KERNEL_ROWS_MIN_K = 8 or more rows Cg*kh in the forward product). LeNet-5's
  conv2 input gradient: 0.94 -> 0.57 ms (batch 64, 2 BLAS threads); col2im's 25 adds
  had run as short runs of one image's rows (a 140-value inner loop, 3x slower per
  value than a long one), now 5, and the product writes 1.1 MB instead of 5.4. Paired
  steps: LeNet-5 7.4% faster (6.44 -> 6.04 ms, 500 steps each). Layer forward+backward,
  paired against im2col (batch 64, 2 threads): LeNet-5's conv2 0.77, 2->6 5x5 on 28x28
  0.66, 16->16 5x5 0.85, 3->16 7x7 0.72, 6->16 4x4 0.80; but 3x3 0.96-1.00 (8->16,
  16->16) and LeNet-5's conv1 (1 x 5 rows in its product) 1.28, so those keep im2col.
* A 1x1 kernel without padding (the ResNets' projection shortcuts) needs no columns:
  y[n] = W @ x[n, :, ::sh, ::sw] is one product per sample, written straight into y's
  layout (``_pointwise_forward``, POINTWISE_AS_MATMUL), in slices of the batch on the
  threads. Before, these small layers ran im2col and its transposes on one core.
  Paired steps: ResNet-8 5.3% faster, ResNet-20 2.4%; the shortcut's forward+backward
  went from 6.4 to 4.2 ms (16->32, stride 2, batch 128; PyTorch 5.2).

The naive loop version of this layer, which the tests hold equal to this one, is
``glassnet.nn.reference.conv2d_forward`` / ``conv2d_backward``.
"""

from __future__ import annotations

import numpy as np

from ..threads import batch_slices, even_slices, parallel_map, sum_in_order
from . import init
from ._checks import as_input, check_grad
from .functional import channel_sum, conv_output_size, pad2d, pair, same_padding
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
from .module import Module, is_grad_enabled
from .parameter import Parameter

__all__ = [
    "Conv2d",
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
]

BLOCK_BYTES = 8 * 2**20  # columns per block of samples in a layer below THREADED_BYTES
SMALL_K = 48  # dL/dW sums over chunks when C*kh*kw is at most this (_weight_grad)
LONG_SUM_CHUNK = 1024
KEEP_BYTES = 32 * 2**20  # columns a layer keeps from forward for backward (speed notes)
W_FROM_GRAD_COLS = True  # gather form: dL/dW from g_pad's columns (speed notes)
THREADED_BYTES = 8 * 2**20  # layers with at least this many column bytes use threads
THREADED_BLOCK_BYTES = 2 * 2**20  # their blocks: one per core in the cache at a time
POINTWISE_AS_MATMUL = True  # 1x1 kernels without padding: per-sample matmuls (speed notes)
BLOCK_COUNT_MULTIPLE = 2  # a threaded layer's block count: a multiple of this (_blocks)
KERNEL_ROWS_MIN_KW = 4  # stride-1 kernels at least this wide, with at least
KERNEL_ROWS_MIN_K = 8  # this many Cg*kh input rows, run by kernel rows (_by_kernel_rows)
_BY_KERNEL_ROWS = "by kernel rows"  # what _kernel_rows_forward saves in place of the pads
_EMPTY_BATCH = "empty batch"  # what forward saves in place of the pads for N = 0


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
    :mod:`glassnet.threads`) for a large layer, in the caller's thread for a small one,
    where handing blocks over costs more than it saves (LeNet-5's step: 7% slower)."""
    blocks = _blocks(n, bytes_per_sample)
    if not _threaded(n, bytes_per_sample):
        return [fn(block) for block in blocks]
    return parallel_map(fn, blocks)


def _on_grid(a: np.ndarray, grid_w: int, groups: int) -> np.ndarray:
    """(N, C, H, W) laid out channel-major on a grid ``grid_w`` wide, as the columns'
    GEMMs need it: (G, C/G, N*H*grid_w), zeros in each row's columns past W."""
    n, c, h, w = a.shape
    make = np.zeros if grid_w != w else np.empty
    out = make((c, n, h, grid_w), dtype=a.dtype)
    out[..., :w] = a.transpose(1, 0, 2, 3)
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


class Conv2d(Module):
    """Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode='zeros') with PyTorch's arguments and shapes.

    x: (N, C_in, H, W) -> y: (N, C_out, Ho, Wo),  Ho = (H + 2p - d*(k-1) - 1) // s + 1.
    weight: (C_out, C_in / groups, kh, kw); bias: (C_out,).
    ``padding`` is an int, a pair, ``'valid'`` (no padding) or ``'same'`` (stride 1
    only; an odd total goes to the bottom/right, as in PyTorch).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype=np.float32,
    ):
        super().__init__()
        if min(in_channels, out_channels) <= 0:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                f"be positive"
            )
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                f"be divisible by groups ({groups})"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"Conv2d: padding_mode={padding_mode!r} is not supported; glassnet pads with zeros"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        if min(self.kernel_size + self.stride + self.dilation) <= 0:
            raise ValueError("Conv2d: kernel_size, stride and dilation must be positive")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = pair(padding, "padding")
            if min(self.padding) < 0:
                raise ValueError(f"Conv2d: padding must be non-negative, got {padding!r}")
        self.padding_mode = padding_mode
        kh, kw = self.kernel_size
        self.weight = Parameter(
            np.empty((out_channels, in_channels // groups, kh, kw), dtype=dtype)
        )
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_init_(self.weight, self.bias)

    def _pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zero padding."""
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            top, bottom = same_padding(self.kernel_size[0], self.dilation[0])
            left, right = same_padding(self.kernel_size[1], self.dilation[1])
            return top, bottom, left, right
        ph, pw = self.padding
        return ph, ph, pw, pw

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, (4,), "(N, C_in, H, W)", 1, self.in_channels)
        n = x.shape[0]
        ho, wo = self._out_hw(x.shape)
        if ho <= 0 or wo <= 0:
            raise ValueError(
                f"{self!r}: input of shape {x.shape} is too small for the kernel "
                f"(output would be {ho}x{wo})"
            )
        if n == 0:  # an empty batch (torch allows it): an empty output, no gradient
            self._save_for_backward(x, _EMPTY_BATCH, None)
            return np.empty((0, self.out_channels, ho, wo), dtype=x.dtype)
        if self._pointwise():
            return self._pointwise_forward(x, ho, wo)
        if self._by_kernel_rows():
            return self._kernel_rows_forward(x, ho, wo)
        rows = self.stride == (1, 1)
        pads = self._block_pads(x.shape[3])
        grid_w = x.shape[3] + pads[2] + pads[3] if rows else wo  # computed width (im2col.py)
        g, og = self.groups, self.out_channels // self.groups
        w2 = self.weight.data.reshape(g, og, -1)  # (G, Og, Cg*kh*kw)
        y = np.empty((n, self.out_channels, ho, wo), dtype=x.dtype)
        per_sample = w2.shape[-1] * g * ho * grid_w * x.itemsize
        keep_bytes = KEEP_BYTES if self._keeps_columns() else 0
        bias = None if self.bias is None else self.bias.data[:, None, None]

        def forward_block(block: slice) -> tuple[tuple[int, int], np.ndarray | None]:
            """Writes y[block]; returns the block's bounds and, if backward keeps them,
            its columns."""
            b = block.stop - block.start
            cols = self._columns(x[block], pads, (ho, wo))
            out = np.matmul(w2, cols.reshape(g, -1, b * ho * grid_w))  # (G, Og, B*Ho*G)
            out = out.reshape(self.out_channels, b, ho, grid_w)[..., :wo]
            y[block] = out.transpose(1, 0, 2, 3)
            if bias is not None:  # while the block is in the cache
                y[block] += bias
            # the first blocks, up to KEEP_BYTES of columns, are kept for backward
            keep = block.stop * per_sample <= keep_bytes
            return (block.start, block.stop), cols if keep else None

        results = _map_blocks(forward_block, n, per_sample)
        kept = {bounds: cols for bounds, cols in results if cols is not None}
        self._save_for_backward(x, pads, kept)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x, pads, kept = self._saved()
        if pads is None:  # saved by _pointwise_forward: x's strided samples, x's shape
            return self._pointwise_backward(x, kept, grad_out)
        if pads == _BY_KERNEL_ROWS:  # saved by _kernel_rows_forward
            return self._kernel_rows_backward(x, kept, grad_out)
        if pads == _EMPTY_BATCH:
            check_grad(self, grad_out, (0, self.out_channels, *self._out_hw(x.shape)))
            return np.empty(x.shape, dtype=x.dtype) if self._input_grad else None
        x_shape, dtype = x.shape, x.dtype
        n, g = x_shape[0], self.groups
        og = self.out_channels // g
        ho, wo = self._out_hw(x_shape)
        g_out = check_grad(self, grad_out, (n, self.out_channels, ho, wo))
        g_out = g_out.astype(dtype, copy=False)
        rows = self.stride == (1, 1)
        grid_w = x_shape[3] + pads[2] + pads[3] if rows else wo
        w2 = self.weight.data.reshape(g, og, -1)  # (G, Og, Kg)
        need_w = self.weight.requires_grad
        need_b = self.bias is not None and self.bias.requires_grad
        need_x = self._input_grad
        gather_pads = self._gather_pads() if need_x else None  # None: scatter form
        if gather_pads is not None:  # laid out for the rows layout of g's columns
            gather_pads = rows_pads(gather_pads, wo, self.kernel_size, self.dilation)
        if need_b:
            self.bias.grad += channel_sum(g_out)
        per_sample = w2.shape[-1] * g * ho * grid_w
        if need_x:
            dx = np.empty(x_shape, dtype=dtype)
        if gather_pads is not None:
            w_rot = self._rotated_weight()
            g_grid_w = wo + gather_pads[2] + gather_pads[3]  # width of the padded gradient
            kernel_area = self.kernel_size[0] * self.kernel_size[1]
            per_sample = max(per_sample, self.out_channels * kernel_area * x_shape[2] * g_grid_w)
        scatter = need_x and gather_pads is None
        w_from_g = need_w and self._w_from_grad_cols()

        def backward_block(block: slice) -> np.ndarray | None:
            """Writes the block's dL/dx; returns its share of dL/dW (None if not needed)."""
            b = block.stop - block.start
            if w_from_g:
                gcols = self._grad_cols(g_out[block], gather_pads, x_shape)
                dx[block] = self._input_grad_from_cols(gcols, w_rot, b, x_shape)
                return self._weight_grad_from_grad_cols(gcols, x[block])
            if need_w or (scatter and rows):
                # the block's gradient as (G, Og, B*Ho*grid_w): the layout of W2 @ cols,
                # with zeros in the rows layout's garbage columns
                g_t = _on_grid(g_out[block], grid_w, g)
            cols = dw_block = None
            if need_w:
                cols = kept.pop((block.start, block.stop), None)  # None: not kept, rebuild
                if cols is None:
                    cols = self._columns(x[block], pads, (ho, wo))
                dw_block = _weight_grad(cols.reshape(g, -1, g_t.shape[-1]), g_t)
            if gather_pads is not None:
                dx[block] = self._input_grad_gather(g_out[block], w_rot, gather_pads, x_shape)
            elif scatter and not rows:  # strided: by the stride's phases (col2im_phases)
                g_q = self._phase_grid(g_out[block])
                dcols = np.matmul(w2.swapaxes(-1, -2), g_q)
                dcols = dcols.reshape(self.in_channels, *self.kernel_size, b, ho, -1)
                col2im_phases(dcols, dx[block], pads, self.stride, self.dilation)
            elif scatter:
                out = None if cols is None else cols.reshape(g, -1, g_t.shape[-1])
                dcols = np.matmul(w2.swapaxes(-1, -2), g_t, out=out)  # reuses the buffer
                dcols = dcols.reshape(self.in_channels, *self.kernel_size, b, ho, grid_w)
                # added into the block's padded input gradient, then cropped
                top, bottom, left, right = pads
                h, w = x_shape[2:]
                dxp = np.zeros((b, self.in_channels, h + top + bottom, w + left + right), dtype)
                col2im(dcols, dxp, self.dilation)
                dx[block] = dxp[:, :, top : top + h, left : left + w]
            return dw_block

        dw_blocks = _map_blocks(backward_block, n, per_sample * dtype.itemsize)
        if need_w:  # the blocks' shares added in block order: the same sum for any threads
            dw = sum_in_order(dw_blocks)
        if w_from_g:  # back to W's layout (G, Og, Cg, kh, kw)
            kh, kw = self.kernel_size
            dw = dw.reshape(g, og, kh, kw, -1)[:, :, ::-1, ::-1].transpose(0, 1, 4, 2, 3)
        if need_w:
            self.weight.grad += dw.reshape(self.weight.shape)
        return dx if need_x else None

    # ------------------------------------------------------------ 1x1 kernels
    def _pointwise(self) -> bool:
        """Whether this is a 1x1 convolution without padding (a ResNet shortcut), done
        as matrix products on x itself (``_pointwise_forward``) instead of im2col."""
        return POINTWISE_AS_MATMUL and self.kernel_size == (1, 1) and not any(self._pads())

    def _pointwise_forward(self, x: np.ndarray, ho: int, wo: int) -> np.ndarray:
        """A 1x1 kernel sees one pixel: with xs = x[:, :, ::sh, ::sw] (every pixel at
        stride 1, where xs is x itself) seen as (N, G, Cg, Ho*Wo),

            y[n, g] = W[g] @ xs[n, g]                        W: (G, Og, Cg)

        a product per sample that writes y straight in (N, C_out, Ho, Wo) layout: no
        columns and no transposed copy of the output. Slices of the batch run on
        glassnet's threads. Backward keeps xs (a quarter of x at stride 2)."""
        n, c = x.shape[:2]
        g, og, cg, p = self.groups, self.out_channels // self.groups, c // self.groups, ho * wo
        sh, sw = self.stride
        w = self.weight.data.reshape(g, og, cg)
        xs = x if (sh, sw) == (1, 1) else np.empty((n, c, ho, wo), dtype=x.dtype)
        y = np.empty((n, self.out_channels, ho, wo), dtype=x.dtype)
        bias = None if self.bias is None else self.bias.data[:, None, None]

        def part(s: slice) -> None:
            if xs is not x:
                xs[s] = x[s, :, ::sh, ::sw]
            b = s.stop - s.start
            np.matmul(w, xs[s].reshape(b, g, cg, p), out=y[s].reshape(b, g, og, p))
            if bias is not None:  # while the slice is in the cache
                y[s] += bias

        parallel_map(part, batch_slices(n, x.nbytes + y.nbytes))
        self._save_for_backward(xs, None, x.shape)
        return y

    def _pointwise_backward(self, xs: np.ndarray, x_shape, grad_out: np.ndarray):
        """Backward of ``_pointwise_forward``, per sample n and group g::

            dL/dW[g] = sum_n gy[n, g] @ xs[n, g].T       dL/dxs[n, g] = W[g].T @ gy[n, g]

        and dL/dx is dL/dxs at the strided pixels, zero elsewhere. The dL/dW parts of
        the slices are added in slice order (the same sum for any number of threads)."""
        n, c, ho, wo = xs.shape
        g, og, cg, p = self.groups, self.out_channels // self.groups, c // self.groups, ho * wo
        g_out = check_grad(self, grad_out, (n, self.out_channels, ho, wo))
        g_out = g_out.astype(xs.dtype, copy=False)
        sh, sw = self.stride
        need_w = self.weight.requires_grad
        need_x = self._input_grad
        w_t = self.weight.data.reshape(g, og, cg).swapaxes(-1, -2)  # (G, Cg, Og)
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
        if self.bias is not None and self.bias.requires_grad:
            self.bias.grad += channel_sum(g_out)
        if need_w:
            self.weight.grad += sum_in_order(parts).reshape(self.weight.shape)
        return dx

    # ------------------------------------------------------------ by kernel rows
    def _by_kernel_rows(self) -> bool:
        """Whether this layer runs by kernel rows (module docstring): stride 1, a kernel
        at least KERNEL_ROWS_MIN_KW wide (its columns are kw times smaller than im2col's)
        and at least KERNEL_ROWS_MIN_K rows Cg*kh in its product (speed notes)."""
        kh, kw = self.kernel_size
        return (
            self.stride == (1, 1)
            and kw >= KERNEL_ROWS_MIN_KW
            and self.in_channels // self.groups * kh >= KERNEL_ROWS_MIN_K
        )

    def _kernel_rows_forward(self, x: np.ndarray, ho: int, wo: int) -> np.ndarray:
        """Forward by kernel rows (module docstring): R = the rows layout of a kernel
        kh x 1 over the padded input (kh long copies), Z = Wc @ R, y = Z's kw rows of
        each output channel added shifted left by b*dw (``im2col.add_shifted``). j + b*dw
        < Wp for every valid j; what a row's last columns read from the next row is
        dropped with them. Backward (``_kernel_rows_backward``) needs only R."""
        n = x.shape[0]
        kw, dw = self.kernel_size[1], self.dilation[1]
        wp = wo + (kw - 1) * dw
        w_cols = self._kernel_cols_weight()  # Wc: (G, Og*kw, Cg*kh)
        y = np.empty((n, self.out_channels, ho, wo), dtype=x.dtype)
        per_sample = self._kernel_rows_bytes(ho, wp, x.itemsize)
        keep = is_grad_enabled() and self.weight.requires_grad
        keep_bytes = KEEP_BYTES if keep else 0
        bias = None if self.bias is None else self.bias.data[:, None, None]

        def forward_block(block: slice):
            """Writes y[block]; returns the block's bounds and, if kept, its R."""
            b = block.stop - block.start
            r = self._row_columns(x[block], ho)  # (G, Cg*kh, B*Ho*Wp)
            z = np.matmul(w_cols, r).reshape(self.out_channels, kw, -1)
            out = add_shifted(z, dw).reshape(self.out_channels, b, ho, wp)[..., :wo]
            y[block] = out.transpose(1, 0, 2, 3)
            if bias is not None:  # while the block is in the cache
                y[block] += bias
            return (block.start, block.stop), r if block.stop * per_sample <= keep_bytes else None

        results = _map_blocks(forward_block, n, per_sample)
        kept = {bounds: r for bounds, r in results if r is not None}
        self._save_for_backward(x, _BY_KERNEL_ROWS, kept)
        return y

    def _kernel_rows_bytes(self, ho: int, wp: int, itemsize: int) -> int:
        """Bytes per sample of the larger of R and Z: what sizes the blocks."""
        kh, kw = self.kernel_size
        rows = max(self.in_channels * kh, self.out_channels * kw)
        return rows * ho * wp * itemsize

    def _row_columns(self, x_block: np.ndarray, out_h: int) -> np.ndarray:
        """R of a block (``_kernel_rows_forward``): (G, Cg*kh, B*Ho*Wp)."""
        top, bottom, left, right = self._pads()
        xp = pad2d(x_block, top, bottom, left, right)
        kh, dh = self.kernel_size[0], self.dilation[0]
        r = im2col(xp, (kh, 1), (1, 1), (dh, 1), (out_h, xp.shape[3]), rows_layout=True)
        return r.reshape(self.groups, -1, x_block.shape[0] * out_h * xp.shape[3])

    def _kernel_rows_backward(self, x, kept: dict, grad_out: np.ndarray) -> np.ndarray | None:
        """Backward of ``_kernel_rows_forward``. With S[(o, b), (n, i, s)] = g[n, o, i,
        s - b*dw] (zero outside 0 <= s - b*dw < Wo), g shifted right by each kernel
        column's offset on the Wp-wide grid (``im2col.shifted_copies``)::

            dL/dWc = S @ R.T                      (O*kw, C*kh): dL/dW[o, c, a, b]
            dL/dx  = col2im_rows(Wr @ S)            (module docstring, ``_kernel_rows_input_grad``)

        dL/dW is the sum over n, i, j of g[n, o, i, j] * xp[n, c, i + a*dh, j + b*dw];
        with s = j + b*dw that is S's row (o, b) times R's row (c, a)."""
        n = x.shape[0]
        g, og = self.groups, self.out_channels // self.groups
        (kh, kw), dw = self.kernel_size, self.dilation[1]
        ho, wo = self._out_hw(x.shape)
        wp = wo + (kw - 1) * dw
        g_out = check_grad(self, grad_out, (n, self.out_channels, ho, wo))
        g_out = g_out.astype(x.dtype, copy=False)
        need_w = self.weight.requires_grad
        need_x = self._input_grad
        if self.bias is not None and self.bias.requires_grad:
            self.bias.grad += channel_sum(g_out)
        if not (need_w or need_x):
            return None
        # Wr[(c, a), (o, b)] = W[o, c, a, b]: Wc transposed, per group
        w_rows = (
            np.ascontiguousarray(self._kernel_cols_weight().swapaxes(-1, -2)) if need_x else None
        )
        dx = np.empty(x.shape, dtype=x.dtype) if need_x else None

        def backward_block(block: slice) -> np.ndarray | None:
            """Writes the block's dL/dx; returns its share of dL/dWc (None if not needed)."""
            g_grid = _on_grid(g_out[block], wp, g)  # (G, Og, B*Ho*Wp)
            shifted = shifted_copies(g_grid, kw, dw).reshape(g, og * kw, -1)  # S
            if need_x:
                self._kernel_rows_input_grad(shifted, w_rows, dx[block], ho, wp)
            if not need_w:
                return None
            r = kept.pop((block.start, block.stop), None)
            if r is None:  # not kept: rebuilt
                r = self._row_columns(x[block], ho)
            return np.matmul(shifted, r.swapaxes(-1, -2))  # (G, Og*kw, Cg*kh)

        per_sample = self._kernel_rows_bytes(ho, wp, x.itemsize)
        parts = _map_blocks(backward_block, n, per_sample)
        if need_w:  # the blocks' shares in block order; (G, Og, kw, Cg, kh) -> W's layout
            dw_cols = sum_in_order(parts).reshape(g, og, kw, -1, kh)
            self.weight.grad += dw_cols.transpose(0, 1, 3, 4, 2).reshape(self.weight.shape)
        return dx

    def _kernel_cols_weight(self) -> np.ndarray:
        """Wc[(o, b), (c, a)] = W[o, c, a, b] for the kernel-rows form: (G, Og*kw, Cg*kh)."""
        g, (kh, kw) = self.groups, self.kernel_size
        og = self.out_channels // g
        w = self.weight.data.reshape(g, og, -1, kh, kw).transpose(0, 1, 4, 2, 3)
        return np.ascontiguousarray(w).reshape(g, og * kw, -1)

    def _kernel_rows_input_grad(self, shifted, w_rows, dx_block, out_h: int, wp: int) -> None:
        """dL/dx of a block by kernel rows (module docstring), written into
        ``dx_block``. ``shifted``: S, the block's dL/dy on a grid ``wp`` = Wo + (kw-1)*dw
        wide (the padded input's width), shifted by each kernel column (G, Og*kw, B*Ho*Wp)."""
        kh, dh = self.kernel_size[0], self.dilation[0]
        b, c, h, w = dx_block.shape
        part = np.matmul(w_rows, shifted).reshape(c, kh, b, out_h * wp)  # Z = Wr @ S
        hp = out_h + (kh - 1) * dh  # the padded input's height
        if (hp, wp) == (h, w):  # no padding: added straight into dL/dx
            col2im_rows(part, dx_block, dh)
            return
        dxp = np.empty((b, c, hp, wp), dtype=dx_block.dtype)
        col2im_rows(part, dxp, dh)
        top, _, left, _ = self._pads()
        dx_block[...] = dxp[:, :, top : top + h, left : left + w]

    def _phase_grid(self, g_block: np.ndarray) -> np.ndarray:
        """A strided layer's output gradient laid out for ``col2im_phases``: (G, Og,
        B*Ho*Wq), each output row followed by Wq - Wo zeros."""
        wo = g_block.shape[3]
        grid_w = phase_width(wo, self.kernel_size[1], self.dilation[1], self.stride[1])
        return _on_grid(g_block, grid_w, self.groups)

    def _w_from_grad_cols(self) -> bool:
        """Whether backward takes dL/dW from the gradient's columns: wherever dL/dx is
        done in the gather form, which builds those columns anyway, so x's columns need
        not be rebuilt (see _weight_grad_from_grad_cols)."""
        return W_FROM_GRAD_COLS and self._input_grad and self._gather_pads() is not None

    def _keeps_columns(self) -> bool:
        """Whether forward should keep x's columns for backward's dL/dW."""
        if not (is_grad_enabled() and self.weight.requires_grad):
            return False
        return not self._w_from_grad_cols()

    def _gather_pads(self) -> tuple[int, int, int, int] | None:
        """Padding of g for the gather form of dL/dx (module docstring), or None where
        that form does not apply (stride > 1, more output than input channels, or more
        padding than the kernel spans)."""
        if self.stride != (1, 1) or self.out_channels > self.in_channels:
            return None
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation
        top, bottom, left, right = self._pads()
        pads = (
            dh * (kh - 1) - top,
            dh * (kh - 1) - bottom,
            dw * (kw - 1) - left,
            dw * (kw - 1) - right,
        )
        return pads if min(pads) >= 0 else None

    def _rotated_weight(self) -> np.ndarray:
        """W flipped in space with in/out channels swapped: (G, Cg, Og*kh*kw)."""
        g = self.groups
        w = self.weight.data.reshape(g, self.out_channels // g, *self.weight.shape[1:])
        w = w[..., ::-1, ::-1].transpose(0, 2, 1, 3, 4)  # (G, Cg, Og, kh, kw)
        return np.ascontiguousarray(w).reshape(g, self.in_channels // g, -1)

    def _grad_cols(self, g_block, pads, x_shape) -> np.ndarray:
        """Rows-layout columns of the padded gradient: (G, Og*kh*kw, B*H*grid_w)."""
        b, (h, w) = g_block.shape[0], x_shape[2:]
        g_pad = pad2d(g_block, *pads)  # pads: from rows_pads
        cols = im2col(g_pad, self.kernel_size, (1, 1), self.dilation, (h, w), rows_layout=True)
        return cols.reshape(self.groups, -1, b * h * g_pad.shape[3])

    def _input_grad_from_cols(self, gcols, w_rot, b, x_shape) -> np.ndarray:
        h, w = x_shape[2:]
        dx_t = np.matmul(w_rot, gcols)  # (G, Cg, B*H*grid_w)
        return dx_t.reshape(self.in_channels, b, h, -1)[..., :w].transpose(1, 0, 2, 3)

    def _input_grad_gather(self, g_block, w_rot, pads, x_shape) -> np.ndarray:
        gcols = self._grad_cols(g_block, pads, x_shape)
        return self._input_grad_from_cols(gcols, w_rot, g_block.shape[0], x_shape)

    def _block_pads(self, width: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zeros around each block of x for its columns: the
        layer's padding, laid out for the rows layout at stride 1 (``rows_pads``)."""
        if self.stride != (1, 1):
            return self._pads()
        return rows_pads(self._pads(), width, self.kernel_size, self.dilation)

    def _columns(self, x_block: np.ndarray, pads, out_hw) -> np.ndarray:
        """im2col of one block of x, padded on its own: the padded copy is a block's
        worth, still in the cache when im2col reads it, rather than a padded copy of the
        whole batch in memory (saved for backward until then)."""
        xp = pad2d(x_block, *pads)
        rows = self.stride == (1, 1)
        return im2col(xp, self.kernel_size, self.stride, self.dilation, out_hw, rows)

    def _weight_grad_from_grad_cols(self, gcols, x_block) -> np.ndarray:
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
        xg = _on_grid(x_block, gcols.shape[-1] // (b * h), self.groups)  # (G, Cg, B*H*grid)
        return np.matmul(gcols, xg.swapaxes(-1, -2))

    def _out_hw(self, x_shape) -> tuple[int, int]:
        top, bottom, left, right = self._pads()
        return (
            conv_output_size(
                x_shape[2], self.kernel_size[0], self.stride[0], top + bottom, self.dilation[0]
            ),
            conv_output_size(
                x_shape[3], self.kernel_size[1], self.stride[1], left + right, self.dilation[1]
            ),
        )

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += (
                f", padding={self.padding!r}"
                if isinstance(self.padding, str)
                else (f", padding={self.padding}")
            )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
