"""``summary(model, input_shape)``: the layer table a student checks their arithmetic against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .nn.module import Module, no_grad

__all__ = ["summary", "ModelSummary"]


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    depth: int


@dataclass
class ModelSummary:
    rows: list[LayerRow]
    input_shape: tuple[int, ...]
    total_params: int
    trainable_params: int
    dtype: np.dtype
    activation_bytes: int

    @property
    def param_bytes(self) -> int:
        return self.total_params * np.dtype(self.dtype).itemsize

    def __str__(self) -> str:
        name_w = max([len("  " * r.depth + f"{r.name} ({r.kind})") for r in self.rows] + [20])
        header = f"{'Layer (type)':<{name_w}}  {'Output shape':<22} {'Param #':>10}"
        lines = [header, "=" * len(header)]
        for r in self.rows:
            label = "  " * r.depth + f"{r.name} ({r.kind})"
            shape = "(N, " + ", ".join(str(s) for s in r.output_shape[1:]) + ")"
            lines.append(f"{label:<{name_w}}  {shape:<22} {r.params:>10,}")
        mib = 1024 * 1024
        lines += [
            "=" * len(header),
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Input shape: (N, {', '.join(map(str, self.input_shape))}), dtype {self.dtype}",
            f"Params size: {self.param_bytes / mib:.2f} MiB; "
            f"forward activations per sample: {self.activation_bytes / mib:.3f} MiB",
        ]
        return "\n".join(lines)


def summary(model: Module, input_shape, batch_size: int = 2) -> ModelSummary:
    """Run a zero batch of ``input_shape`` (without N) through ``model`` and tabulate
    every sub-module: output shape, its own parameter count (not its children's), the
    totals and a memory estimate. The model's train/eval mode is restored afterwards.
    """
    input_shape = tuple(int(s) for s in input_shape)
    rows: list[LayerRow] = []
    handles = []
    # id -> (declaration index, display name, nesting depth)
    order = {id(m): (i, name, name.count(".")) for i, (name, m) in enumerate(model.named_modules())}
    positions: list[int] = []
    activation_bytes = [0]

    def hook(module, inputs, output):
        if module is model:
            return None
        index, name, depth = order[id(module)]
        positions.append(index)
        own = sum(p.size for p in module._parameters.values() if p is not None)
        shape = tuple(np.shape(output))
        rows.append(LayerRow(name, type(module).__name__, shape, own, depth))
        if not module._modules:
            activation_bytes[0] += int(np.prod(shape[1:])) * np.asarray(output).itemsize

    for _, m in model.named_modules():
        handles.append(m.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with no_grad():
            model(np.zeros((batch_size, *input_shape), dtype=model.dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    # hooks fire after a module's children; list rows in declaration order instead
    rows = [row for _, row in sorted(zip(positions, rows), key=lambda pair: pair[0])]
    total = sum(p.size for p in model.parameters())
    trainable = sum(p.size for p in model.parameters() if p.requires_grad)
    return ModelSummary(rows, input_shape, total, trainable, model.dtype, activation_bytes[0])
