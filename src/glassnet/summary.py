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
    params: int  # its own parameters not already counted in an earlier row
    depth: int
    shared_params: int = 0  # its own parameters counted in an earlier row (a reused module)


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
            shared = f"  (+{r.shared_params:,} shared)" if r.shared_params else ""
            lines.append(f"{label:<{name_w}}  {shape:<22} {r.params:>10,}{shared}")
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
    every sub-module call: output shape, its own parameter count (not its children's), the
    totals and a memory estimate. The model's train/eval mode is restored afterwards.

    Rows come in call order, parents before their children. A module used at several
    places (``Sequential(relu, lin, relu)`` with one ReLU object, or a layer both inside
    a Residual and outside it) gets a row for every call, each named by the place that
    called it. A parameter is counted once, as PyTorch's ``parameters()`` and torchinfo
    do: in the first row that holds it; later rows of the same module (or of a module
    tying the same parameter) show it as ``shared_params`` instead. So the rows'
    ``params`` add up to ``total_params``, the number of distinct parameters.
    """
    input_shape = tuple(int(s) for s in input_shape)
    rows: list[LayerRow] = []
    # a module may sit at several paths: the first one declared is the fallback name
    first_path: dict[int, str] = {}
    unique: list[Module] = []
    for name, m in model.named_modules():
        if id(m) not in first_path:
            first_path[id(m)] = name
            unique.append(m)
    # The modules being called, outermost first: (module, its path, how often each
    # child has been called in this call so far). Forward hooks fire only on the way
    # out, children before parents, and are keyed by module, so they alone cannot tell
    # a reused module's calls apart: each forward is wrapped to note its entry too.
    stack: list[tuple[Module, str, dict[int, int]]] = []
    finished: dict[int, list[int]] = {}  # id(module) -> rows of calls awaiting their hook
    counted: set[int] = set()  # ids of the parameters counted in a row already
    activation_bytes = [0]

    def path_of(module) -> str:
        """The name of this call: the caller's path + the child's name in the caller.
        A caller holding the module under several names (Sequential(relu, lin, relu))
        uses them in turn; a module not held by its caller gets its first declared path."""
        if not stack:
            return first_path[id(module)]
        parent, parent_path, calls = stack[-1]
        names = [k for k, child in parent._modules.items() if child is module]
        if not names:
            return first_path[id(module)]
        k = calls.get(id(module), 0)
        calls[id(module)] = k + 1
        name = names[k % len(names)]
        return f"{parent_path}.{name}" if parent_path else name

    def wrap(module, forward):
        def entered(*args, **kwargs):
            path = path_of(module) if module is not model else ""
            row = None
            if module is not model:
                own = [p for p in module._parameters.values() if p is not None]
                new = [p for p in own if id(p) not in counted]
                counted.update(id(p) for p in new)
                params = sum(p.size for p in new)
                shared = sum(p.size for p in own) - params
                row = len(rows)
                rows.append(
                    LayerRow(path, type(module).__name__, (), params, path.count("."), shared)
                )
            stack.append((module, path, {}))
            try:
                out = forward(*args, **kwargs)
            finally:
                stack.pop()
            if row is not None:
                finished.setdefault(id(module), []).append(row)
            return out

        return entered

    def hook(module, inputs, output):
        if module is model:
            return None
        row = rows[finished[id(module)].pop()]
        row.output_shape = tuple(np.shape(output))
        if not module._modules:
            activation_bytes[0] += int(np.prod(row.output_shape[1:])) * np.asarray(output).itemsize

    # forward put on the instance shadows the class's for the duration (Module.__call__
    # is the only caller of forward); whatever the instance held before is put back
    missing = object()
    saved = [(m, m.__dict__.get("forward", missing)) for m in unique]
    handles = []
    was_training = model.training
    try:
        for m in unique:
            object.__setattr__(m, "forward", wrap(m, m.forward))
            handles.append(m.register_forward_hook(hook))
        model.eval()
        with no_grad():
            model(np.zeros((batch_size, *input_shape), dtype=model.dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
        for m, forward in saved:
            if forward is missing:
                m.__dict__.pop("forward", None)
            else:
                object.__setattr__(m, "forward", forward)
    total = sum(p.size for p in model.parameters())  # parameters() yields each one once
    trainable = sum(p.size for p in model.parameters() if p.requires_grad)
    return ModelSummary(rows, input_shape, total, trainable, model.dtype, activation_bytes[0])
