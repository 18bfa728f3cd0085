"""Winograd F(2x2, 3x3): a tuned form of Conv2d for 3x3 kernels at stride 1.

Where it runs: nowhere by default. ``glassnet.kernels.conv.WINOGRAD = True`` lets the
plan (glassnet/kernels/conv.py, once per layer and input shape; backward follows the
plan forward saved) pick it for a 3x3 kernel, stride 1, dilation 1, one group, any
zero padding, where the channels are wide and the image large enough for the saved
multiplications to pay for the transforms (:func:`applies`). It is off because in
NumPy, on the machine measured, the transforms cost more than the multiplications
saved on every layer of ResNet-20 and of the CIFAR-10 recipe (docs/performance.md,
"Winograd").

The idea. A 3x3 convolution producing a 2x2 patch of output reads a 4x4 patch of the
(padded) input and, done directly, costs 2*2*9 = 36 multiplications per input and
output channel. Winograd's minimal filtering algorithm F(2, 3) gets two outputs of a
3-tap filter from four inputs with four multiplications instead of six, by moving the
work into additions on transformed data; nested in both directions, F(2x2, 3x3) needs 16
multiplications per 2x2 patch instead of 36, 2.25 times fewer. The multiplications
are the only part that grows with in_channels x out_channels, so for wide layers they
become 16 batched GEMMs that are 2.25x smaller than im2col's one GEMM.

The three fixed matrices (rows written out; the transforms below are sums of slices,
with entries 0, +-1 and 1/2, so float32 stays float32)::

    B^T = [[1, 0,-1, 0],     G = [[ 1,   0,   0 ],     A^T = [[1, 1, 1, 0],
           [0, 1, 1, 0],          [1/2, 1/2, 1/2],            [0, 1,-1,-1]]
           [0,-1, 1, 0],          [1/2,-1/2, 1/2],
           [0, 1, 0,-1]]          [ 0,   0,   1 ]]

Forward. Let xp be x zero-padded by the layer's padding and, where Ho or Wo is odd, by
one more row (column) at the bottom (right), so that the output is Th x Tw whole tiles
of 2x2 (Th = ceil(Ho/2), Tw = ceil(Wo/2)); tile (ty, tx) reads the 4x4 input tile
d = xp[n, c, 2ty : 2ty+4, 2tx : 2tx+4] (neighbouring tiles overlap by two rows or
columns). With k = (i, j) running over the 16 positions of a 4x4 tile and the tiles
numbered t = (n, ty, tx)::

    U[k, o, c] = (G W[o, c] G^T)[i, j]            (16, O, C)   once per step
    V[k, c, t] = (B^T d[c, t] B)[i, j]            (16, C, T)   per block of samples
    M[k]       = U[k] @ V[k]                      (16, O, T)   16 batched GEMMs
    y tile     = A^T M[:, o, t] A + b[o]          (2x2), the odd row/column cropped

That these equal the convolution is the F(2, 3) identity applied to rows and then to
columns: for a 1-D tile d of 4 and filter g of 3, A^T ((G g) * (B^T d)) = (d0 g0 + d1 g1
+ d2 g2, d1 g0 + d2 g1 + d3 g2), and the 2-D form is that with each product a product of
1-D transforms, summed over c by the GEMM.

Backward. Every step above is linear, so the gradients are their adjoints (transposes),
applied in reverse order, and equal the convolution's own gradients exactly (up to
rounding). With dY the output gradient laid out in tiles (zeros where the crop cut an
odd row or column)::

    dM[:, o, t] = A dY[o, t] A^T                  (16, O, T)
    dU[k]       = dM[k] @ V[k]^T                   summed over the blocks in order
    dW[o, c]    = G^T dU[:, o, c] G               (3x3)
    dV[k]       = U[k]^T @ dM[k]                   (16, C, T)
    dd[c, t]    = B dV[:, c, t] B^T               the 4x4 input tile's gradient

and dL/dxp is every tile's dd added at the place its tile was read from (tiles overlap,
so the additions accumulate), cropped to x by removing the padding. dL/db is dY
summed, as in every form.

Layout. NumPy runs an elementwise operation on whole contiguous rows fast, and on
short strided runs (a tile row is 2 to 16 values) about 7 times slower, which at these
sizes costs as much as the GEMMs. So the transforms run on whole planes: the padded
block is split once into its four phases P[p, q][c, n, Y, X] = xp[n, c, 2Y+p, 2X+q]
(Y <= Th, X <= Tw), each laid out flat over a grid of Th+1 rows of Tw+1 per sample.
Tile (ty, tx)'s input d[a, b] is then phase (a%2, b%2) at the tile's own grid
position plus (a//2)*(Tw+1) + b//2: each of the 16 is the whole plane shifted, and
B^T d B is 24 subtractions and additions of shifted planes. The grid's extra row and
column per sample are tiles that nobody reads (M there is dropped, dM there is zero);
they make the GEMMs (Th+1)(Tw+1)/(Th Tw) longer: 1.13x at 32x32, 1.27x at 16x16, 1.56x
at 8x8, which is part of why Winograd only pays on larger images (the rule). Backward
adds each tile's B dV B^T back into the shifted phase planes the same way, and dL/dx
reads x's pixels out of them; the output's four tile positions (p, q) are four planes
written to y with a stride of 2.

Memory: V is 16*(Th+1)*(Tw+1) ~ 4.5 times the input's size (im2col's columns are 9
times). As the other forms keep their columns, forward keeps the first blocks' V for
backward (up to conv.KEEP_BYTES) and backward rebuilds the others from x. The blocks of
samples, their threads, and the order the dL/dW parts are added in are conv.py's
(``_blocks``, ``_map_blocks``, ``sum_in_order``): the numbers do not depend on the
thread count. Every temporary is a workspace buffer of the layer
(glassnet/kernels/workspace.py).

Measured against the other forms: docs/performance.md, "Winograd".
"""

from __future__ import annotations

import numpy as np

from .._arrays import channel_sum
from .plan import Plan
from .threads import even_slices, parallel_map, sum_in_order
from .workspace import buffer, scratch_role

__all__ = [
    "Grid",
    "to_phases",
    "applies",
    "forward",
    "backward",
    "weight_transform",
    "input_transform",
    "output_transform",
    "gemm_share",
    "BLOCK_BYTES",
    "MIN_CHANNELS",
    "MAX_GEMM_SHARE",
]

BLOCK_BYTES = 8 * 2**20  # V or M per block: longer GEMMs, fewer dU parts than 2 MiB
# Where Winograd may run once conv.WINOGRAD is on (it is off: it won on none of the
# shapes measured, benchmarks/results/2026-12-07-winograd*.md): both channel counts at
# least MIN_CHANNELS (256->256 on 15x15 came closest: 0.92-1.11 at batch 32, 1.26 at
# 128; narrower layers lost 1.2-2.1x), and its GEMMs at most MAX_GEMM_SHARE as long as
# im2col's (``gemm_share``: 0.50 at 32x32, 0.64 at 15x15, 0.91 at 7x7, 1.78 at 3x3,
# where it lost most, 1.5-2.2x).
MIN_CHANNELS = 256
MAX_GEMM_SHARE = 0.7


def gemm_share(ho: int, wo: int) -> float:
    """Winograd's multiplications per output over im2col's, 16 per tile position of
    the grid, (Th+1)(Tw+1) of them, against 9 per output pixel."""
    th, tw = -(-ho // 2), -(-wo // 2)
    return 16 * (th + 1) * (tw + 1) / (9 * ho * wo)


def applies(layer, in_shape) -> bool:
    """Whether ``layer`` may run as Winograd F(2x2, 3x3) on an input of ``in_shape``:
    a 3x3 kernel, stride 1, dilation 1, one group, both channel counts at least
    MIN_CHANNELS and a GEMM share (:func:`gemm_share`) at most MAX_GEMM_SHARE."""
    if not (
        layer.kernel_size == (3, 3)
        and layer.stride == (1, 1)
        and layer.dilation == (1, 1)
        and layer.groups == 1
        and min(layer.in_channels, layer.out_channels) >= MIN_CHANNELS
    ):
        return False
    return gemm_share(*layer._out_hw(in_shape)) <= MAX_GEMM_SHARE


def _tiles(layer, x_shape) -> tuple[int, int, int, int, tuple[int, int, int, int]]:
    """(Ho, Wo, Th, Tw, pads): the output's size, the tiles' counts, and the zeros
    (top, bottom, left, right) around x that give a padded grid of 2Th+2 x 2Tw+2."""
    top, bottom, left, right = layer._pads()
    h, w = x_shape[2:]
    ho, wo = h + top + bottom - 2, w + left + right - 2
    th, tw = -(-ho // 2), -(-wo // 2)
    return ho, wo, th, tw, (top, bottom + 2 * th - ho, left, right + 2 * tw - wo)


# ------------------------------------------------------------ the layout
class Grid:
    """The tile grid of a block of ``b`` samples: Th x Tw tiles per sample, laid out
    ``gh`` = Th+1 rows of ``gw`` = Tw+1 (module docstring, "Layout"); ``size`` = L,
    the positions of one plane; ``span``: a phase plane's length, L + gw + 1."""

    def __init__(self, b: int, th: int, tw: int):
        self.b, self.th, self.tw = b, th, tw
        self.gh, self.gw = th + 1, tw + 1
        self.size = b * self.gh * self.gw
        self.span = self.size + self.gw + 1

    def grid(self, plane: np.ndarray) -> np.ndarray:
        """A plane (..., L or more) seen as (..., b, gh, gw)."""
        return plane[..., : self.size].reshape(*plane.shape[:-1], self.b, self.gh, self.gw)


def _phase_slices(start: int, length: int):
    """For the pixels 0..length-1 of x sitting at start + r in the padded grid, per
    phase p (the padded row's parity): (x's pixels r0::2, the phase plane's rows)."""
    for p in range(2):
        r0 = (p - start) % 2
        count = len(range(r0, length, 2))
        first = (r0 + start) // 2
        yield p, slice(r0, None, 2), slice(first, first + count)


def to_phases(x_block: np.ndarray, pads, grid: Grid, out: np.ndarray) -> np.ndarray:
    """The padded block's four phase planes: out[p, q, c, (n, Y, X)] = xp[n, c, 2Y+p,
    2X+q] on the grid (zeros in the padding, past the grid and in the tail); ``out``
    (2, 2, C, span)."""
    h, w = x_block.shape[2:]
    xt = x_block.transpose(1, 0, 2, 3)  # (C, B, H, W)
    out.fill(0)
    for p, rows, ys in _phase_slices(pads[0], h):
        for q, cols, xs in _phase_slices(pads[2], w):
            grid.grid(out[p, q])[:, :, ys, xs] = xt[:, :, rows, cols]
    return out


def _from_phases(dp: np.ndarray, pads, grid: Grid, dx_block: np.ndarray) -> None:
    """The adjoint of :func:`to_phases`: ``dx_block`` (B, C, H, W) = the phase planes'
    values at x's pixels (the padding's are dropped)."""
    h, w = dx_block.shape[2:]
    dxt = dx_block.transpose(1, 0, 2, 3)
    for p, rows, ys in _phase_slices(pads[0], h):
        for q, cols, xs in _phase_slices(pads[2], w):
            dxt[:, :, rows, cols] = grid.grid(dp[p, q])[:, :, ys, xs]


# ------------------------------------------------------------ the three transforms
def weight_transform(w: np.ndarray) -> np.ndarray:
    """U = G g G^T for every (o, c): W (O, C, 3, 3) -> (16, O, C), k = 4i + j."""
    o, c = w.shape[:2]
    g = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (3, 3, O, C): planes
    rows = np.empty((4, 3, o, c), dtype=w.dtype)  # G g: G's rows on g's rows
    _g_rows(g[0], g[1], g[2], rows)
    u = np.empty((4, 4, o, c), dtype=w.dtype)  # (G g) G^T: the same on the columns
    _g_rows(rows[:, 0], rows[:, 1], rows[:, 2], u.swapaxes(0, 1))
    return u.reshape(16, o, c)


def _g_rows(g0, g1, g2, out) -> None:
    """``out[i] = (G g)[i]``: g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2."""
    out[0] = g0
    np.add(g0, g2, out=out[1])
    out[1] *= 0.5
    g1 = g1 * 0.5
    np.subtract(out[1], g1, out=out[2])
    out[1] += g1
    out[3] = g2


def _weight_adjoint(du: np.ndarray) -> np.ndarray:
    """dW = G^T dU G for every (o, c): dU (16, O, C) -> (O, C, 3, 3)."""
    _, o, c = du.shape
    du = du.reshape(4, 4, o, c)
    cols = np.empty((4, 3, o, c), dtype=du.dtype)  # dU G: G's columns on dU's columns
    _g_columns(du[:, 0], du[:, 1], du[:, 2], du[:, 3], cols.swapaxes(0, 1))
    dw = np.empty((3, 3, o, c), dtype=du.dtype)  # G^T (dU G): the same on the rows
    _g_columns(cols[0], cols[1], cols[2], cols[3], dw)
    return dw.transpose(2, 3, 0, 1)


def _g_columns(d0, d1, d2, d3, out) -> None:
    """``out[a] = (G^T d)[a]``: d0 + (d1 + d2)/2, (d1 - d2)/2, (d1 + d2)/2 + d3."""
    np.subtract(d1, d2, out=out[1])
    out[1] *= 0.5
    np.add(d1, d2, out=out[0])
    out[0] *= 0.5
    np.add(out[0], d3, out=out[2])
    out[0] += d0


def _b_transpose(d0, d1, d2, d3, out) -> None:
    """``out[i] = (B^T d)[i]`` for the four rows (or columns) d0..d3 of tiles."""
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def input_transform(phases: np.ndarray, grid: Grid, v: np.ndarray, rows: np.ndarray) -> None:
    """V = B^T d B of every tile, from the phase planes (2, 2, C, span) into ``v``
    (16, C, L); ``rows`` (4, C, L+1) is scratch. A tile's row a, column b is phase
    (a%2, b%2) at the tile's position + (a//2)*gw + b//2: whole planes shifted."""
    n, gw = grid.size, grid.gw
    for q in range(2):  # B^T on the rows a, for the columns of parity q, then B on those
        d = [phases[a % 2, q, :, (a // 2) * gw : (a // 2) * gw + n + 1] for a in range(4)]
        _b_transpose(*d, rows)
        for i in range(4):  # column b = 2*beta + q: rows[i] shifted by beta
            if q == 0:
                np.subtract(rows[i, :, :n], rows[i, :, 1:], out=v[4 * i])  # e0 - e2
                np.copyto(v[4 * i + 1], rows[i, :, 1:])  # e2: e1 + e2 and e2 - e1 follow
                np.copyto(v[4 * i + 2], rows[i, :, 1:])
            else:
                v[4 * i + 1] += rows[i, :, :n]  # + e1
                v[4 * i + 2] -= rows[i, :, :n]  # - e1
                np.subtract(rows[i, :, :n], rows[i, :, 1:], out=v[4 * i + 3])  # e1 - e3


def output_transform(m: np.ndarray, out: np.ndarray, rows: np.ndarray) -> None:
    """Y = A^T M A of every tile: M (16, O, L) -> ``out`` (2, 2, O, L), out[p, q] the
    outputs at tile position (p, q); ``rows`` (4, O, L) scratch for A^T M."""
    m = m.reshape(4, 4, *m.shape[1:])
    for p in range(2):  # A^T's row p on M's rows i, one result per column j
        if p == 0:
            np.add(m[0], m[1], out=rows)
            rows += m[2]
        else:
            np.subtract(m[1], m[2], out=rows)
            rows -= m[3]
        np.add(rows[0], rows[1], out=out[p, 0])
        out[p, 0] += rows[2]
        np.subtract(rows[1], rows[2], out=out[p, 1])
        out[p, 1] -= rows[3]


def _output_adjoint(gy: np.ndarray, dm: np.ndarray) -> None:
    """dM = A dY A^T of every tile: dY (2, 2, O, L) -> ``dm`` (16, O, L)."""
    dm = dm.reshape(4, 4, *dm.shape[1:])
    # A on the tile's rows p: e_0 = gy_0, e_1 = gy_0 + gy_1, e_2 = gy_0 - gy_1, e_3 = -gy_1
    for q in range(2):  # written into dm[:, q], read before dm[:, q] is overwritten below
        e = dm[:, q]
        e[0] = gy[0, q]
        np.add(gy[0, q], gy[1, q], out=e[1])
        np.subtract(gy[0, q], gy[1, q], out=e[2])
        np.negative(gy[1, q], out=e[3])
    # then A on the columns q, the same combinations of e_0 = dm[:, 0] and e_1 = dm[:, 1]
    np.subtract(dm[:, 0], dm[:, 1], out=dm[:, 2])
    np.negative(dm[:, 1], out=dm[:, 3])
    np.add(dm[:, 0], dm[:, 1], out=dm[:, 1])


def _input_adjoint(dv: np.ndarray, grid: Grid, dp: np.ndarray, rows: np.ndarray) -> None:
    """dL/d(phase planes) into ``dp`` (2, 2, C, span): B dV B^T of every tile added where
    the tile was read (tiles overlap); dV (16, C, L); ``rows`` (3, C, L+1) scratch."""
    n, gw = grid.size, grid.gw
    dv = dv.reshape(4, 4, *dv.shape[1:])
    dp.fill(0)
    part = rows[2, :, :n]
    for i in range(4):
        # B on the columns: row i's part for columns 2*beta + q, as rows[q] shifted by beta
        _scatter(*dv[i], rows[0], rows[1], n, part)
        # B^T's column a on the rows: row i adds B^T[i, a] times that at phase row a
        for q in range(2):
            for a, sign in _B_T_COLUMNS[i]:
                start = (a // 2) * gw
                target = dp[a % 2, q, :, start : start + n + 1]
                if sign > 0:
                    target += rows[q]
                else:
                    target -= rows[q]


# row i of B^T: its nonzero entries (a, sign)
_B_T_COLUMNS = [[(0, 1), (2, -1)], [(1, 1), (2, 1)], [(1, -1), (2, 1)], [(1, 1), (3, -1)]]


def _scatter(t0, t1, t2, t3, even: np.ndarray, odd: np.ndarray, n: int, part) -> None:
    """The adjoint of one B^T d along the last axis: ``even`` and ``odd`` (..., n+1) =
    the sum over tiles t of B (t0..t3), position 2t + a getting, from tile t, a = 0: t0;
    1: t1 - t2 + t3; 2: t1 + t2 - t0; 3: -t3 (2t + a even: even[t + a//2]). ``part``:
    scratch of t0's shape."""
    even[..., :n] = t0  # even positions 2t: t0 of tile t, (t1 + t2 - t0) of tile t - 1
    even[..., n] = 0
    np.add(t1, t2, out=part)
    part -= t0
    even[..., 1:] += part
    np.subtract(t1, t2, out=part)  # odd positions 2t + 1: (t1 - t2 + t3) of tile t
    part += t3
    odd[..., :n] = part
    odd[..., n] = 0
    odd[..., 1:] -= t3  # and -t3 of tile t - 1


# ------------------------------------------------------------ the form
def _per_sample(layer, th: int, tw: int, itemsize: int) -> int:
    """Bytes per sample of the larger of V and M: what sizes the blocks."""
    return 16 * max(layer.in_channels, layer.out_channels) * (th + 1) * (tw + 1) * itemsize


def _blocks(n: int, per_sample: int) -> list[slice]:
    """conv.py's blocks of samples, BLOCK_BYTES of V or M each (at least one sample):
    a layer with conv.THREADED_BYTES or more runs them on the threads, an even number
    of them (conv.BLOCK_COUNT_MULTIPLE). Cut by size alone, never by thread count."""
    from . import conv

    size = max(1, min(n, BLOCK_BYTES // max(1, per_sample)))
    count = -(-n // size)
    threaded = n * per_sample >= conv.THREADED_BYTES
    if threaded:
        count = min(n, -(-count // conv.BLOCK_COUNT_MULTIPLE) * conv.BLOCK_COUNT_MULTIPLE)
    return even_slices(n, count)


def _map_blocks(fn, n: int, per_sample: int) -> list:
    """``[fn(block) for block in _blocks(...)]``, on glassnet's threads for a large
    layer, in the caller's thread for a small one (as conv.py's ``_map_blocks``)."""
    from . import conv

    blocks = _blocks(n, per_sample)
    if n * per_sample < conv.THREADED_BYTES:
        return [fn(block) for block in blocks]
    return parallel_map(fn, blocks)


def _transformed_input(layer, x_block, grid: Grid, pads, role) -> np.ndarray:
    """V of a block, (16, C, L), in the layer's buffer for ``role``."""
    c, dtype = x_block.shape[1], x_block.dtype
    phases = buffer(layer, scratch_role("wino_phases"), (2, 2, c, grid.span), dtype)
    to_phases(x_block, pads, grid, phases)
    rows = buffer(layer, scratch_role("wino_rows"), (4, c, grid.size + 1), dtype)
    v = buffer(layer, role, (16, c, grid.size), dtype)
    input_transform(phases, grid, v, rows)
    return v


def forward(layer, plan: Plan, x: np.ndarray, grad: bool) -> np.ndarray:
    """y by Winograd F(2x2, 3x3) (module docstring), a block of samples at a time;
    saves (plan, x, U, the V it keeps) for backward."""
    from .conv import KEEP_BYTES

    n, o = x.shape[0], layer.out_channels
    ho, wo, th, tw, pads = _tiles(layer, x.shape)
    u = weight_transform(layer.weight.data)  # (16, O, C)
    y = np.empty((n, o, ho, wo), dtype=x.dtype)
    per_sample = _per_sample(layer, th, tw, x.itemsize)
    v_sample = per_sample // max(layer.in_channels, o) * layer.in_channels
    keep_bytes = KEEP_BYTES if grad and layer.weight.requires_grad else 0
    bias = None if layer.bias is None else layer.bias.data[:, None]
    index = {block.start: i for i, block in enumerate(_blocks(n, per_sample))}

    def forward_block(block: slice):
        grid = Grid(block.stop - block.start, th, tw)
        keep = block.stop * v_sample <= keep_bytes
        role = ("cols", index[block.start]) if keep else scratch_role("wino_v")
        v = _transformed_input(layer, x[block], grid, pads, role)
        m = buffer(layer, scratch_role("wino_m"), (16, o, grid.size), x.dtype)
        np.matmul(u, v, out=m)
        out = buffer(layer, scratch_role("wino_y"), (2, 2, o, grid.size), x.dtype)
        rows = buffer(layer, scratch_role("wino_out_rows"), (4, o, grid.size), x.dtype)
        output_transform(m, out, rows)
        if bias is not None:  # while the block is in the cache
            out += bias
        yt = y[block].transpose(1, 0, 2, 3)  # (O, B, Ho, Wo): tile position (p, q)
        for p in range(2):
            for q in range(2):
                tiles = grid.grid(out[p, q])[:, :, : (ho - p + 1) // 2, : (wo - q + 1) // 2]
                yt[:, :, p::2, q::2] = tiles
        return (block.start, block.stop), v if keep else None

    results = _map_blocks(forward_block, n, per_sample)
    kept = {bounds: v for bounds, v in results if v is not None}
    layer._save_for_backward(plan, x, u, kept)
    return y


def backward(layer, plan: Plan, g_out: np.ndarray, x, u, kept: dict):
    """Backward of :func:`forward`, the adjoints of its steps (module docstring)."""
    n, c = x.shape[:2]
    o = layer.out_channels
    ho, wo, th, tw, pads = _tiles(layer, x.shape)
    need_w = layer.weight.requires_grad
    need_x = layer._input_grad
    if layer.bias is not None and layer.bias.requires_grad:
        layer.bias.grad += channel_sum(g_out)
    if not (need_w or need_x):
        return None
    u_t = u.swapaxes(-1, -2) if need_x else None  # (16, C, O)
    dx = np.empty(x.shape, dtype=x.dtype) if need_x else None

    def backward_block(block: slice):
        grid = Grid(block.stop - block.start, th, tw)
        gy = buffer(layer, scratch_role("wino_gy"), (2, 2, o, grid.size), x.dtype)
        gy.fill(0)  # the grid's extra row and column, and a cropped row or column
        gt = g_out[block].transpose(1, 0, 2, 3)
        for p in range(2):
            for q in range(2):
                grid.grid(gy[p, q])[:, :, : (ho - p + 1) // 2, : (wo - q + 1) // 2] = gt[
                    :, :, p::2, q::2
                ]
        dm = buffer(layer, scratch_role("wino_m"), (16, o, grid.size), x.dtype)
        _output_adjoint(gy, dm)
        du = None
        if need_w:
            v = kept.pop((block.start, block.stop), None)
            if v is None:  # not kept: rebuilt
                v = _transformed_input(layer, x[block], grid, pads, scratch_role("wino_v"))
            du = np.matmul(v, dm.swapaxes(-1, -2)).swapaxes(-1, -2)  # (16, O, C)
        if need_x:
            dv = buffer(layer, scratch_role("wino_dv"), (16, c, grid.size), x.dtype)
            np.matmul(u_t, dm, out=dv)
            dp = buffer(layer, scratch_role("wino_phases"), (2, 2, c, grid.span), x.dtype)
            rows = buffer(layer, scratch_role("wino_rows"), (3, c, grid.size + 1), x.dtype)
            _input_adjoint(dv, grid, dp, rows)
            _from_phases(dp, pads, grid, dx[block])
        return du

    per_sample = _per_sample(layer, th, tw, x.itemsize)
    parts = _map_blocks(backward_block, n, per_sample)
    if need_w:  # the blocks' shares in block order: the same sum for any threads
        layer.weight.grad += _weight_adjoint(sum_in_order(parts))
    return dx
