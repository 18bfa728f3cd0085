"""A network's loss on the plane of its training paths, with the optimizers' paths drawn.

A model's weights are a point theta in R^P (P = its parameter count, thousands); each
optimizer walks from the same start theta_0 through the same batches to its own end.
To see those walks on a contour, :func:`loss_plane` picks the plane through theta_0 that
holds as much of them as any plane can (Li et al., 2018, "Visualizing the Loss Landscape
of Neural Nets", use the same principal-component plane for one path):

    D      = [theta_t - theta_0 for every recorded point t of every path]  (T x P)
    D      = U S V^T                      (thin SVD)
    d1, d2 = V[:, 0], V[:, 1]             (orthonormal directions in weight space)
    theta(a, b) = theta_0 + a d1 + b d2,  a path point goes to (a, b) = (D d1, D d2)

and evaluates the training loss at theta(a, b) on a grid. The share
``(s1^2 + s2^2) / sum(s^2)`` says how much of the paths' movement lies in the plane; the
rest is perpendicular to it, so a path point's drawn position is its shadow on the
plane, and the contour under it is the loss of that shadow, not of the point.

With ``engines=("glassnet", "torch")`` the model is also converted with ``to_torch``
and trained by ``torch.optim`` from the same weights on the same batches; its path is
projected onto the same plane. The two differ by rounding only, which float32
training at a high learning rate amplifies step by step (``LossPlane.weight_gaps``
says how far apart they came in the full weight space; ``dtype=float64`` keeps them
together).

Losses are mean cross-entropy on a fixed training subset, evaluated in eval mode.
Models with BatchNorm are refused: their running statistics are not parameters, so no
point of the plane would describe them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .paths import Trajectory, make_optimizer

__all__ = [
    "LossPlane",
    "MODEL_LRS",
    "flat_parameters",
    "set_flat_parameters",
    "train_path",
    "loss_plane",
]

# learning rates that train the digits study models in a few epochs, per optimizer: the
# defaults where a (name, lr) pair gives lr None
MODEL_LRS = {
    "sgd": 0.5,
    "momentum": 0.05,
    "nesterov": 0.05,
    "adam": 0.01,
    "adamw": 0.01,
    "rmsprop": 0.001,
}


@dataclass
class LossPlane:
    """The grid ``X, Y`` (coordinates along ``directions``), ``Z`` the loss there, and
    the optimizers' ``trajectories`` projected onto the plane (their ``losses`` are the
    true losses of the recorded weights). ``explained`` is the share of the paths'
    squared movement inside the plane; ``off_plane`` the largest distance of a path
    point from the plane, relative to the largest distance of any from the start.
    ``weight_gaps`` maps each optimizer run on both engines to the largest distance
    between their weights at the same step (in weight space, not the plane)."""

    model: str
    dataset: str
    origin: np.ndarray
    directions: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    Z: np.ndarray
    trajectories: list[Trajectory]
    explained: tuple[float, float]
    off_plane: float
    settings: dict = field(default_factory=dict)
    weight_gaps: dict = field(default_factory=dict)


def flat_parameters(model) -> np.ndarray:
    """All of ``model``'s parameters in ``named_parameters()`` order as one float64 vector."""
    return np.concatenate([p.data.ravel() for p in model.parameters()]).astype(np.float64)


def set_flat_parameters(model, flat: np.ndarray) -> None:
    """Write ``flat`` (as from :func:`flat_parameters`) back into ``model``'s parameters."""
    params = list(model.parameters())
    total = sum(p.data.size for p in params)
    if flat.shape != (total,):
        raise ValueError(f"model has {total} parameter values, flat vector has shape {flat.shape}")
    offset = 0
    for p in params:
        n = p.data.size
        p.data[...] = flat[offset : offset + n].reshape(p.data.shape)
        offset += n


def _torch_flat(tmodel, names: list[str]) -> np.ndarray:
    params = dict(tmodel.named_parameters())
    return np.concatenate([params[n].detach().numpy().ravel() for n in names]).astype(np.float64)


def _loss(model, x, y, loss_fn) -> float:
    from ..nn.module import no_grad

    with no_grad():
        return float(loss_fn(model(x), y))


def train_path(
    model,
    optimizer: str,
    lr: float,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int = 2,
    batch_size: int = 32,
    seed: int = 0,
    engine: str = "glassnet",
    every: int = 1,
    on_step=None,
    options: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train a copy of ``model`` with ``optimizer``; return ``(steps, weights)``: the
    step numbers 0, every, 2 every, ... (and the last step) and the flat weights after
    each, shape ``(len(steps), P)``. The batches come from a ``DataLoader`` seeded with
    ``seed``, so every optimizer and engine sees the same ones in the same order;
    ``model`` itself is left unchanged. Weights that are no longer finite at a kept
    step raise :class:`~glassnet.train.trainer.TrainingDivergedError`. ``on_step()`` is
    called after every step (for a progress bar)."""
    from .. import nn
    from ..data.loader import DataLoader
    from ..train.trainer import TrainingDivergedError

    loader = DataLoader(x, y, batch_size=batch_size, shuffle=True, seed=seed)
    if engine == "torch":
        import torch

        from ..interop.torch import to_torch

        names = [n for n, _ in model.named_parameters()]
        tmodel = to_torch(model).train()
        opt = make_optimizer(optimizer, tmodel.parameters(), lr, "torch", options)
        torch_loss = torch.nn.CrossEntropyLoss()

        def step(xb, yb) -> None:
            opt.zero_grad()
            torch_loss(tmodel(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
            opt.step()

        def weights() -> np.ndarray:
            return _torch_flat(tmodel, names)

    else:
        net = copy.deepcopy(model).train()
        opt = make_optimizer(optimizer, net.parameters(), lr, engine, options)
        loss_fn = nn.CrossEntropyLoss()

        def step(xb, yb) -> None:
            loss_fn(net(xb), yb)
            opt.zero_grad()
            net.backward(loss_fn.backward())
            opt.step()

        def weights() -> np.ndarray:
            return flat_parameters(net)

    last = epochs * len(loader)
    steps, points, done = [0], [weights()], 0
    for _ in range(epochs):
        for xb, yb in loader:
            with np.errstate(over="ignore", invalid="ignore"):  # caught below, by name
                step(xb, yb)
            done += 1
            if on_step is not None:
                on_step()
            if done % every == 0 or done == last:
                steps.append(done)
                points.append(weights())
                if not np.all(np.isfinite(points[-1])):
                    raise TrainingDivergedError(
                        f"{optimizer} (lr {lr:g}) on the {engine} engine: the weights are "
                        f"no longer finite at step {done}; try a smaller learning rate"
                    )
    return np.array(steps), np.array(points)


def loss_plane(
    model: str = "baseline",
    dataset: str = "digits",
    optimizers=(("sgd", None), ("momentum", None), ("adam", None)),
    epochs: int = 3,
    batch_size: int = 32,
    seed: int = 0,
    grid: int = 25,
    margin: float = 0.2,
    eval_size: int = 1000,
    max_points: int = 300,
    train_size=None,
    dtype=np.float32,
    engines=("glassnet",),
    data_dir=None,
    progress=None,
) -> LossPlane:
    """Train ``model`` (a zoo name) on ``dataset`` from one initialisation with each of
    ``optimizers`` (``(name, lr)`` pairs or ``(name, lr, settings)`` triples of
    :func:`~glassnet.study.paths.parse_optimizers`; lr None: :data:`MODEL_LRS`), and evaluate the
    loss on the plane of the paths (module docstring).

    grid:        points per axis, over the paths' extent plus ``margin`` of it each side.
    eval_size:   the loss is taken on the first ``eval_size`` training images (a fixed
                 subset, the same for the grid and the paths).
    max_points:  each path keeps its weights every ``ceil(steps / max_points)`` steps
                 (and after the last).
    train_size:  subsamples the training set (a count or fraction, as
                 :func:`glassnet.data.load`).
    dtype:       float64 trains and evaluates in double precision: the engines' paths
                 then agree to float64 rounding, where float32 ones drift apart at
                 high learning rates.
    progress:    ``progress(n, total)`` is called as work is done: ``n`` more units of
                 ``total`` (a training step of one path, or a grid point).
    """
    from .. import models, nn
    from ..data import load

    for engine in engines:
        if engine not in ("glassnet", "torch"):
            raise ValueError(f"engines must be 'glassnet' and/or 'torch', got {engine!r}")
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 3:
        raise ValueError(f"grid must be an integer >= 3, got {grid!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    data = load(dataset, data_dir=data_dir, seed=seed, train_size=train_size)
    zoo_name = models.resolve(model, data.name)
    net = models.get(
        zoo_name,
        input_shape=data.input_shape,
        num_classes=data.num_classes,
        dtype=dtype,
        seed=seed,
    )
    x_train = data.x_train.astype(dtype, copy=False)
    if any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in net.modules()):
        raise ValueError(
            f"{zoo_name} has BatchNorm: its running statistics are not parameters, so the "
            "loss plane cannot describe it; choose a model without BatchNorm"
        )
    x_eval, y_eval = x_train[:eval_size], data.y_train[:eval_size]

    total_steps = epochs * -(-data.n_train // batch_size)
    every = -(-total_steps // max_points)  # record at most ~max_points weights per path
    units = len(optimizers) * len(engines) * total_steps + grid * grid

    def tick(n: int = 1) -> None:
        if progress is not None:
            progress(n, units)

    walks = {}  # (optimizer, engine) -> (lr, step numbers, flat weights)
    options = {}  # optimizer -> its settings besides the lr (parse_optimizers' third)
    for name, lr, *rest in optimizers:
        options[name] = dict(rest[0]) if rest else {}
        lr = MODEL_LRS.get(name, 0.01) if lr is None else lr
        largest = float(np.finfo(dtype).max)  # torch cannot even hold a larger one
        if not 0 < lr <= largest:
            raise ValueError(f"learning rate of {name} must be in (0, {largest:g}]")
        for engine in engines:
            walks[(name, engine)] = (lr,) + train_path(
                net, name, lr, x_train, data.y_train, epochs, batch_size, seed, engine, every,
                on_step=tick, options=options[name],
            )  # fmt: skip

    weight_gaps = {
        name: float(np.linalg.norm(flat - walks[(name, "torch")][2], axis=1).max())
        for (name, engine), (_, _, flat) in walks.items()
        if engine == "glassnet" and (name, "torch") in walks
    }
    origin = flat_parameters(net)
    moves = np.concatenate([flat - origin for _, _, flat in walks.values()])
    _, s, vt = np.linalg.svd(moves, full_matrices=False)
    directions = vt[:2]
    total = float(np.sum(s**2)) or 1.0
    explained = (float(s[0] ** 2 / total), float(s[1] ** 2 / total) if len(s) > 1 else 0.0)

    probe = copy.deepcopy(net).eval()
    loss_fn = nn.CrossEntropyLoss()
    trajectories, away, reach = [], 0.0, 1e-12
    for (name, engine), (lr, steps, flat) in walks.items():
        move = flat - origin
        coords = move @ directions.T
        away = max(away, float(np.linalg.norm(move - coords @ directions, axis=1).max()))
        reach = max(reach, float(np.linalg.norm(move, axis=1).max()))
        losses = []
        for point in flat:
            set_flat_parameters(probe, point)
            losses.append(_loss(probe, x_eval, y_eval, loss_fn))
        trajectories.append(
            Trajectory(
                name,
                engine,
                float(lr),
                coords,
                np.array(losses),
                steps=steps,
                options=options[name],
            )  # fmt: skip
        )

    shadows = np.concatenate([t.points for t in trajectories])
    low, high = shadows.min(axis=0), shadows.max(axis=0)
    pad = margin * np.maximum(high - low, 1e-6)
    a = np.linspace(low[0] - pad[0], high[0] + pad[0], grid)
    b = np.linspace(low[1] - pad[1], high[1] + pad[1], grid)
    X, Y = np.meshgrid(a, b)
    Z = np.empty_like(X)
    for i in range(grid):
        for j in range(grid):
            set_flat_parameters(probe, origin + X[i, j] * directions[0] + Y[i, j] * directions[1])
            Z[i, j] = _loss(probe, x_eval, y_eval, loss_fn)
        tick(grid)
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "grid": grid,
        "eval_size": len(y_eval),
        "train_size": data.n_train,
        "every": every,
        "dtype": dtype.name,
        "parameters": int(origin.size),
    }
    return LossPlane(
        zoo_name,
        data.name,
        origin,
        directions,
        X,
        Y,
        Z,
        trajectories,
        explained,
        away / reach,
        settings,
        weight_gaps,
    )
