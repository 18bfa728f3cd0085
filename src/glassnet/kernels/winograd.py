"""Winograd F(2x2, 3x3): a tuned form of Conv2d for 3x3 kernels at stride 1.

Where it runs: a 3x3 kernel, stride 1, dilation 1, one group, any zero padding, and
channels wide enough that the saved multiplications pay for the transforms (see
:func:`applies`; the plan in glassnet/kernels/conv.py picks it once per layer and input
shape, and backward follows the plan forward saved).

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

Memory: V is 16*Th*Tw ~ 4 times the input's size (im2col's columns are 9 times). As
the other forms keep their columns, forward keeps the first blocks' V for backward
(up to conv.KEEP_BYTES) and backward rebuilds the others from x. The blocks of samples,
their threads, and the order the dL/dW parts are added in are conv.py's (``_blocks``,
``_map_blocks``, ``sum_in_order``): the numbers do not depend on the thread count. Every
temporary is a workspace buffer of the layer (glassnet/kernels/workspace.py).

Measured against the other forms: docs/performance.md, "Winograd".
"""

from __future__ import annotations

import numpy as np

from .._arrays import channel_sum
from .plan import Plan
from .threads import sum_in_order
from .workspace import buffer, padded, scratch_role

__all__ = [
    "applies",
    "forward",
    "backward",
    "weight_transform",
    "input_transform",
    "output_transform",
    "MIN_CHANNELS",
]

# Winograd runs where in_channels and out_channels are both at least this:
# benchmarks/winograd.py (benchmarks/results/2026-12-07-winograd.md)
MIN_CHANNELS = 64


def applies(layer) -> bool:
    """Whether ``layer`` may run as Winograd F(2x2, 3x3): a 3x3 kernel, stride 1,
    dilation 1, one group, and both channel counts at least MIN_CHANNELS."""
    return (
        layer.kernel_size == (3, 3)
        and layer.stride == (1, 1)
        and layer.dilation == (1, 1)
        and layer.groups == 1
        and min(layer.in_channels, layer.out_channels) >= MIN_CHANNELS
    )


def _tiles(layer, x_shape) -> tuple[int, int, int, int, tuple[int, int, int, int]]:
    """(Ho, Wo, Th, Tw, pads): the output's size, the tiles' counts, and the zeros
    (top, bottom, left, right) around x that give a padded grid of 2Th+2 x 2Tw+2."""
    top, bottom, left, right = layer._pads()
    h, w = x_shape[2:]
    ho, wo = h + top + bottom - 2, w + left + right - 2
    th, tw = -(-ho // 2), -(-wo // 2)
    return ho, wo, th, tw, (top, bottom + 2 * th - ho, left, right + 2 * tw - wo)


# ------------------------------------------------------------ the three transforms
def weight_transform(w: np.ndarray) -> np.ndarray:
    """U = G g G^T for every (o, c): W (O, C, 3, 3) -> (16, O, C), k = 4i + j."""
    o, c = w.shape[:2]
    rows = np.empty((4, o, c, 3), dtype=w.dtype)  # G g: rows i of G applied to g's rows
    g0, g1, g2 = w[:, :, 0], w[:, :, 1], w[:, :, 2]
    rows[0] = g0
    np.add(g0, g2, out=rows[1])
    rows[2] = rows[1]
    rows[1] += g1
    rows[2] -= g1
    rows[1:3] *= 0.5
    rows[3] = g2
    u = np.empty((4, 4, o, c), dtype=w.dtype)  # (G g) G^T: the same on the columns
    r0, r1, r2 = rows[..., 0], rows[..., 1], rows[..., 2]
    u[:, 0] = r0
    np.add(r0, r2, out=u[:, 1])
    u[:, 2] = u[:, 1]
    u[:, 1] += r1
    u[:, 2] -= r1
    u[:, 1:3] *= 0.5
    u[:, 3] = r2
    return u.reshape(16, o, c)


def _weight_adjoint(du: np.ndarray) -> np.ndarray:
    """dW = G^T dU G for every (o, c): dU (16, O, C) -> (O, C, 3, 3)."""
    _, o, c = du.shape
    du = du.reshape(4, 4, o, c)
    half = 0.5 * (du[:, 1] + du[:, 2])  # columns first: dU G
    cols = np.empty((4, o, c, 3), dtype=du.dtype)
    np.add(du[:, 0], half, out=cols[..., 0])
    np.subtract(du[:, 1], du[:, 2], out=cols[..., 1])
    cols[..., 1] *= 0.5
    np.add(half, du[:, 3], out=cols[..., 2])
    half = 0.5 * (cols[1] + cols[2])  # then rows: G^T (dU G)
    dw = np.empty((o, c, 3, 3), dtype=du.dtype)
    np.add(cols[0], half, out=dw[:, :, 0])
    np.subtract(cols[1], cols[2], out=dw[:, :, 1])
    dw[:, :, 1] *= 0.5
    np.add(half, cols[3], out=dw[:, :, 2])
    return dw


def _b_transpose(d0, d1, d2, d3, out: list) -> None:
    """``out[i] = (B^T d)[i]`` for the four rows (or columns) d0..d3 of a tile."""
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def input_transform(xp: np.ndarray, th: int, tw: int, rows: np.ndarray, v: np.ndarray) -> None:
    """V = B^T d B of every 4x4 tile of ``xp`` (C, B, 2Th+2, 2Tw+2), written into ``v``
    (16, C, B, Th, Tw); ``rows`` (4, C, B, Th, 2Tw+2) is scratch for B^T d."""
    # B^T d: the tiles' rows 2ty + 0..3 combined, over the grid's whole width
    r = [xp[:, :, a : a + 2 * th : 2] for a in range(4)]
    _b_transpose(*r, list(rows))
    # (B^T d) B: the same on each row's columns 2tx + 0..3
    for i in range(4):
        cols = [rows[i][..., b : b + 2 * tw : 2] for b in range(4)]
        _b_transpose(*cols, [v[4 * i + j] for j in range(4)])


def output_transform(m: np.ndarray, out: np.ndarray, rows: np.ndarray | None = None) -> None:
    """Y = A^T M A of every tile: M (16, O, B, Th, Tw) -> ``out`` (O, B, Th, 2, Tw, 2);
    ``rows`` (4, O, B, Th, Tw) is scratch for A^T M (a new array when None)."""
    m = m.reshape(4, 4, *m.shape[1:])
    rows = np.empty(m.shape[1:], dtype=m.dtype) if rows is None else rows
    for p in range(2):  # A^T's row p on M's rows i, one result per column j
        if p == 0:
            np.add(m[0], m[1], out=rows)
            rows += m[2]
        else:
            np.subtract(m[1], m[2], out=rows)
            rows -= m[3]
        np.add(rows[0], rows[1], out=out[:, :, :, p, :, 0])
        out[:, :, :, p, :, 0] += rows[2]
        np.subtract(rows[1], rows[2], out=out[:, :, :, p, :, 1])
        out[:, :, :, p, :, 1] -= rows[3]


def _output_adjoint(gy: np.ndarray, dm: np.ndarray) -> None:
    """dM = A dY A^T of every tile: dY (O, B, 2Th, 2Tw) -> ``dm`` (16, O, B, Th, Tw)."""
    g = [[gy[:, :, p::2, q::2] for q in range(2)] for p in range(2)]
    dm = dm.reshape(4, 4, *dm.shape[1:])
    # A's rows i on the tile's rows p: e_i = gy_0 (i=0), gy_0 + gy_1, gy_0 - gy_1, -gy_1
    for q in range(2):
        e = dm[:, q]  # scratch: dm[:, 0..1] are written over last, column by column
        e[0] = g[0][q]
        np.add(g[0][q], g[1][q], out=e[1])
        np.subtract(g[0][q], g[1][q], out=e[2])
        np.negative(g[1][q], out=e[3])
    # then A on the columns: dm[i, j] from e_i0 = dm[i, 0] and e_i1 = dm[i, 1]
    np.add(dm[:, 0], dm[:, 1], out=dm[:, 2])
    np.negative(dm[:, 1], out=dm[:, 3])
    dm[:, 1] = dm[:, 2]
    np.add(dm[:, 0], dm[:, 3], out=dm[:, 2])  # e0 - e1
    # dm[:, 0] = e_i0 already


def _input_adjoint(dv: np.ndarray, rows: np.ndarray, dxp: np.ndarray, part: np.ndarray) -> None:
    """dL/dxp: B dV B^T of every tile added where the tile was read, into ``dxp`` (C, B,
    2Th+2, 2Tw+2); dV (16, C, B, Th, Tw); ``rows`` (4, C, B, Th, 2Tw+2) and ``part``
    (as large as one of ``rows``) are scratch."""
    th, tw = dv.shape[-2:]
    dv = dv.reshape(4, 4, *dv.shape[1:])
    part = part.reshape(-1)
    # columns first: row i's contributions to columns 2tx + b, b = 0..3, with B's
    # columns (1,0,0,0), (0,1,-1,1), (-1,1,1,0), (0,0,0,-1) added where they overlap
    column_part = part[: dv[0, 0].size].reshape(dv.shape[2:])
    for i in range(4):
        _scatter(dv[i, 0], dv[i, 1], dv[i, 2], dv[i, 3], rows[i], tw, -1, column_part)
    # then the rows, the same way, into dxp's rows 2ty + a
    row_part = part[: rows[0].size].reshape(rows.shape[1:])
    _scatter(rows[0], rows[1], rows[2], rows[3], dxp, th, -2, row_part)


def _scatter(t0, t1, t2, t3, out: np.ndarray, n: int, axis: int, part: np.ndarray) -> None:
    """``out`` along ``axis`` (2n+2 long) = the sum over tiles t of B (t0..t3): position
    2t + a gets, from tile t, a = 0: t0; 1: t1 - t2 + t3; 2: t1 + t2 - t0; 3: -t3.
    ``part``: scratch of t0's shape."""

    def along(index: slice) -> tuple:
        where = [slice(None)] * out.ndim
        where[axis] = index
        return tuple(where)

    even, odd = out[along(slice(0, None, 2))], out[along(slice(1, None, 2))]  # n+1 each
    first, last, end = along(slice(0, n)), along(slice(1, n + 1)), along(slice(n, n + 1))
    # even positions 2t: t0 of tile t, and (t1 + t2 - t0) of tile t - 1
    even[first] = t0
    even[end] = 0
    np.add(t1, t2, out=part)
    part -= t0
    even[last] += part
    # odd positions 2t + 1: (t1 - t2 + t3) of tile t, and -t3 of tile t - 1
    np.subtract(t1, t2, out=part)
    part += t3
    odd[first] = part
    odd[end] = 0
    odd[last] -= t3


# ------------------------------------------------------------ the form
def _per_sample(layer, th: int, tw: int, itemsize: int) -> int:
    """Bytes per sample of the larger of V and M: what sizes the blocks."""
    return 16 * max(layer.in_channels, layer.out_channels) * th * tw * itemsize


def _transformed_input(layer, x_block, th, tw, pads, role) -> np.ndarray:
    """V of a block, (16, C, B*Th*Tw), in the layer's buffer for ``role``."""
    b, c = x_block.shape[:2]
    xp = padded(layer, scratch_role("wino_x"), x_block.transpose(1, 0, 2, 3), *pads)
    rows = buffer(layer, scratch_role("wino_rows"), (4, c, b, th, 2 * tw + 2), x_block.dtype)
    v = buffer(layer, role, (16, c, b, th, tw), x_block.dtype)
    input_transform(xp, th, tw, rows, v)
    return v.reshape(16, c, b * th * tw)


def forward(layer, plan: Plan, x: np.ndarray, grad: bool) -> np.ndarray:
    """y by Winograd F(2x2, 3x3) (module docstring), a block of samples at a time;
    saves (plan, x, U, the V it keeps) for backward."""
    from .conv import KEEP_BYTES, _block_index, _map_blocks

    n, o = x.shape[0], layer.out_channels
    ho, wo, th, tw, pads = _tiles(layer, x.shape)
    u = weight_transform(layer.weight.data)  # (16, O, C)
    y = np.empty((n, o, ho, wo), dtype=x.dtype)
    per_sample = _per_sample(layer, th, tw, x.itemsize)
    v_sample = 16 * x.shape[1] * th * tw * x.itemsize
    keep_bytes = KEEP_BYTES if grad and layer.weight.requires_grad else 0
    bias = None if layer.bias is None else layer.bias.data[:, None, None]
    index = _block_index(n, per_sample)

    def forward_block(block: slice):
        b = block.stop - block.start
        keep = block.stop * v_sample <= keep_bytes
        role = ("cols", index[block.start]) if keep else scratch_role("wino_v")
        v = _transformed_input(layer, x[block], th, tw, pads, role)
        m = buffer(layer, scratch_role("wino_m"), (16, o, b * th * tw), x.dtype)
        np.matmul(u, v, out=m)
        tiles = buffer(layer, scratch_role("wino_y"), (o, b, th, 2, tw, 2), x.dtype)
        rows = buffer(layer, scratch_role("wino_out_rows"), (4, o, b, th, tw), x.dtype)
        output_transform(m.reshape(16, o, b, th, tw), tiles, rows)
        y[block] = tiles.reshape(o, b, 2 * th, 2 * tw)[:, :, :ho, :wo].transpose(1, 0, 2, 3)
        if bias is not None:  # while the block is in the cache
            y[block] += bias
        return (block.start, block.stop), v if keep else None

    results = _map_blocks(forward_block, n, per_sample)
    kept = {bounds: v for bounds, v in results if v is not None}
    layer._save_for_backward(plan, x, u, kept)
    return y


def backward(layer, plan: Plan, g_out: np.ndarray, x, u, kept: dict):
    """Backward of :func:`forward`, the adjoints of its steps (module docstring)."""
    from .conv import _map_blocks

    n, c, h, w = x.shape
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
    top, left = pads[0], pads[2]

    def backward_block(block: slice):
        b = block.stop - block.start
        gy = buffer(layer, scratch_role("wino_gy"), (o, b, 2 * th, 2 * tw), x.dtype)
        gy[:, :, :ho, :wo] = g_out[block].transpose(1, 0, 2, 3)
        gy[:, :, ho:] = 0  # the cropped row and column have no gradient
        gy[:, :, :, wo:] = 0
        dm = buffer(layer, scratch_role("wino_m"), (16, o, b, th, tw), x.dtype)
        _output_adjoint(gy, dm)
        dm = dm.reshape(16, o, b * th * tw)
        du = None
        if need_w:
            v = kept.pop((block.start, block.stop), None)
            if v is None:  # not kept: rebuilt
                v = _transformed_input(layer, x[block], th, tw, pads, scratch_role("wino_v"))
            du = np.matmul(v, dm.swapaxes(-1, -2)).swapaxes(-1, -2)  # (16, O, C)
        if need_x:
            dv = buffer(layer, scratch_role("wino_dv"), (16, c, b * th * tw), x.dtype)
            np.matmul(u_t, dm, out=dv)
            rows = buffer(layer, scratch_role("wino_rows"), (4, c, b, th, 2 * tw + 2), x.dtype)
            dxp = buffer(layer, scratch_role("wino_dx"), (c, b, 2 * th + 2, 2 * tw + 2), x.dtype)
            part = buffer(layer, scratch_role("wino_part"), rows.shape[1:], x.dtype)
            _input_adjoint(dv.reshape(16, c, b, th, tw), rows, dxp, part)
            dx[block] = dxp[:, :, top : top + h, left : left + w].transpose(1, 0, 2, 3)
        return du

    per_sample = _per_sample(layer, th, tw, x.itemsize)
    parts = _map_blocks(backward_block, n, per_sample)
    if need_w:  # the blocks' shares in block order: the same sum for any threads
        layer.weight.grad += _weight_adjoint(sum_in_order(parts))
    return dx
