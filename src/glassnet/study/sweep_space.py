"""What a sweep searches: its settings, their types, and the grid or random space.

A sweep varies *settings*: the training recipe's (``lr``, ``batch_size``, ``epochs``,
``optimizer``, ``momentum``, ``nesterov``, ``weight_decay``, ``scheduler``,
``label_smoothing``), the data's (``train_size``, ``normalization``, ``augment``) and
the zoo models' knobs (``hidden``, ``activation``, ``filters``, ``widths``, ...: see
``glassnet.models.knobs``). Each setting has a type, and a value given as text
(``"3e-3"``, ``"relu"``, ``"8/16/32"``) is read as that type.

Two ways to write a space, on the command line or in a TOML file:

* a grid: ``"lr=1e-3,3e-3 hidden=30,64"`` (every combination: 4 settings); a TOML
  file may give several grids (``[[grid]]`` tables), whose union is searched;
* a random space: ``"lr=1e-4..1e-1 hidden=16..256 activation=relu,tanh"`` and a number
  of samples: a range of positive numbers spanning 10x or more is sampled
  log-uniformly (``lr``, ``weight_decay``, widths), others uniformly; append ``:log``
  or ``:linear`` to choose; a list is sampled uniformly. Samples are drawn from the
  sweep's seed, so the same command draws the same settings.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from .. import data, models

__all__ = [
    "RECIPE_SETTINGS",
    "FIXED",
    "parse_assignments",
    "parse_knobs",
    "parse_value",
    "setting_kinds",
    "coerce",
    "grid_settings",
    "random_settings",
    "normalize_grid",
    "normalize_random",
    "format_value",
]

# recipe and data settings a sweep may vary, with their kinds
RECIPE_SETTINGS = {
    "lr": "positive",
    "batch_size": "int",
    "epochs": "int",
    "optimizer": "name",
    "momentum": "number",
    "nesterov": "bool",
    "weight_decay": "number",
    "scheduler": "optional-name",
    "label_smoothing": "number",
    "train_size": "size",
    "normalization": "name",
    "augment": "bool",
}
# settings that are not swept, and what sets them instead
FIXED = {
    "seed": "--seeds (the sweep trains every setting with each seed)",
    "val_size": "--val-size (every setting of a seed is judged on the same validation split)",
    "dataset": "--dataset (one sweep, one dataset)",
    "data_dir": "--data-dir",
    "model": "--models",
    "models": "--models",
    "engine": "--engines",
    "engines": "--engines",
    "model_args": "--model-args (fixed knobs) or the knob's own name (swept)",
}
_KIND_WORDS = {
    "positive": "positive numbers",
    "number": "numbers",
    "int": "whole numbers",
    "bool": "true or false",
    "name": "names",
    "optional-name": "names (or none)",
    "size": "counts, fractions or 'all'",
    "widths": "widths such as 64 or 64/32",
}


def parse_value(text: str):
    """Text as the plainest value it spells: true/false, none, an int, a float, a list
    of widths ('8/16/32'), else the text itself."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if "/" in t:
        return [parse_value(p) for p in t.split("/")]
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    return t


def parse_knobs(text: str) -> dict:
    """'hidden=64,activation=relu' -> {'hidden': 64, 'activation': 'relu'}; a list is
    written with slashes ('widths=8/16/32')."""
    knobs = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise ValueError(
                f"expected knob=value pairs such as hidden=64,activation=relu, got {part!r}"
            )
        knobs[name.strip().replace("-", "_")] = parse_value(value)
    return knobs


def parse_assignments(text: str) -> dict[str, str]:
    """'lr=1e-3,3e-3 hidden=30,64' -> {'lr': '1e-3,3e-3', 'hidden': '30,64'}."""
    found: dict[str, str] = {}
    for token in text.split():
        name, eq, values = token.partition("=")
        name = name.strip().replace("-", "_")
        if not eq or not name:
            raise ValueError(
                f"cannot read {token!r}: write setting=value,value (e.g. lr=1e-3,3e-3), "
                "settings separated by spaces"
            )
        if name in found:
            raise ValueError(f"setting {name!r} is given twice")
        found[name] = values
    return found


def setting_kinds(model_names, dataset: str) -> dict[str, str]:
    """Every setting a sweep of these models may vary, with its kind. A knob counts
    when one of the models has it (a model that lacks it is refused when the space is
    checked: see :func:`check_knob_models`)."""
    kinds = dict(RECIPE_SETTINGS)
    for name in model_names:
        for knob, default in models.knobs(models.resolve(name, dataset)).items():
            kinds.setdefault(knob, _knob_kind(default))
    return kinds


def _knob_kind(default) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, numbers.Integral):
        return "widths"  # a width, or a list of them where the model stacks layers
    if isinstance(default, numbers.Real):
        return "number"
    if isinstance(default, (list, tuple)):
        return "widths"
    return "name"


def check_knob_models(names, model_names, dataset: str) -> None:
    """Every swept knob must be one every model takes."""
    for model in model_names:
        knobs = models.knobs(models.resolve(model, dataset))
        lacking = [n for n in names if n not in RECIPE_SETTINGS and n not in knobs]
        if lacking:
            raise ValueError(
                f"model {model!r} has no knob {', '.join(lacking)}; its knobs: "
                f"{', '.join(knobs) or 'none'}"
            )


def check_names(names, kinds: dict) -> None:
    for name in names:
        if name in FIXED:
            raise ValueError(f"{name} is not swept: it is set with {FIXED[name]}")
        if name not in kinds:
            recipe = ", ".join(RECIPE_SETTINGS)
            knobs = ", ".join(k for k in kinds if k not in RECIPE_SETTINGS) or "none"
            raise ValueError(
                f"unknown setting {name!r}; a sweep varies the recipe ({recipe}) and the "
                f"models' knobs ({knobs})"
            )


def coerce(name: str, value, kind: str):
    """``value`` (text or a TOML value) as setting ``name`` of ``kind``; a ValueError
    naming the setting and the expected type otherwise."""
    v = parse_value(value) if isinstance(value, str) else value
    bad = ValueError(f"{name} takes {_KIND_WORDS[kind]}, got {value!r}")
    if kind in ("positive", "number"):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise bad
        if (kind == "positive" and v <= 0) or v < 0:
            raise ValueError(f"{name} must be {'> 0' if kind == 'positive' else '>= 0'}, got {v}")
        return float(v)
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v != int(v) or v < 1:
            raise ValueError(f"{name} takes whole numbers >= 1, got {value!r}")
        return int(v)
    if kind == "bool":
        if not isinstance(v, bool):
            raise bad
        return v
    if kind == "size":
        if isinstance(v, str) and v.lower() == "all" or v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v <= 0:
            raise bad
        return int(v) if v >= 1 and v == int(v) else float(v)
    if kind == "widths":
        items = v if isinstance(v, list) else [v]
        if not items or any(
            isinstance(i, bool) or not isinstance(i, numbers.Real) or i != int(i) or i < 1
            for i in items
        ):
            raise bad
        return [int(i) for i in items] if isinstance(v, list) else int(v)
    if kind == "optional-name" and v is None:
        return None
    if name == "normalization" and v is None:  # 'none' read as text
        return "none"
    if not isinstance(v, str) or not v:
        raise bad
    if name == "normalization":
        return data.normalization_name(v)
    return v.lower()


def _split_values(name: str, text) -> list:
    """'1e-3,3e-3' -> ['1e-3', '3e-3']; a TOML list as it is; one value as a list."""
    if isinstance(text, list):
        return text
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or not all(parts):
            raise ValueError(f"{name}= has an empty value; write e.g. {name}=1e-3,3e-3")
        return parts
    return [text]


def _is_range(values) -> bool:
    return isinstance(values, str) and ".." in values


def normalize_grid(grid, kinds: dict) -> list[dict]:
    """A grid as text, a table or a list of tables -> a list of {setting: [values]},
    every value of its setting's type. ValueError for an empty grid, an unknown
    setting, a value of the wrong type, or a range (ranges are for random search)."""
    grids = grid if isinstance(grid, list) else [grid]
    out = []
    for g in grids:
        table = parse_assignments(g) if isinstance(g, str) else g
        if not isinstance(table, dict):
            raise ValueError(f"a grid is a table of setting = [values], got {g!r}")
        if not table:
            raise ValueError("the grid is empty: give settings to search, e.g. lr=1e-3,3e-3")
        check_names(table, kinds)
        clean = {}
        for name, values in table.items():
            if _is_range(values):
                raise ValueError(
                    f"{name}={values} is a range: ranges are sampled by a random search "
                    "(--random ... --samples N); a grid lists values (e.g. lr=1e-3,3e-3)"
                )
            items = [coerce(name, v, kinds[name]) for v in _split_values(name, values)]
            if not items:
                raise ValueError(f"{name} has no values")
            clean[name] = list(dict.fromkeys(_key(i) for i in items))
            clean[name] = [_unkey(k) for k in clean[name]]
        out.append(clean)
    if not out:
        raise ValueError("the grid is empty: give settings to search, e.g. lr=1e-3,3e-3")
    return out


def _key(value):
    return tuple(value) if isinstance(value, list) else value


def _unkey(value):
    return list(value) if isinstance(value, tuple) else value


def normalize_random(space, kinds: dict) -> dict:
    """A random space as text or a table -> {setting: {"range": [lo, hi], "scale":
    "log"|"linear"} or {"values": [...]}}."""
    table = parse_assignments(space) if isinstance(space, str) else space
    if not isinstance(table, dict) or not table:
        raise ValueError("the random space is empty: give ranges, e.g. lr=1e-4..1e-1")
    check_names(table, kinds)
    out = {}
    for name, spec in table.items():
        kind = kinds[name]
        if isinstance(spec, dict):  # already normalised (a sweep's config.json)
            spec = (
                f"{spec['range'][0]}..{spec['range'][1]}:{spec.get('scale', 'linear')}"
                if "range" in spec
                else spec.get("values", [])
            )
        if _is_range(spec):
            body, _, scale = spec.partition(":")
            lo_text, _, hi_text = body.partition("..")
            if kind not in ("positive", "number", "int", "widths", "size"):
                raise ValueError(f"{name} takes {_KIND_WORDS[kind]}: list them, not a range")
            lo, hi = (
                coerce(name, t, "number" if kind != "positive" else kind)
                for t in (lo_text, hi_text)
            )
            if not lo < hi:
                raise ValueError(f"{name}={spec}: the range's low end must be below its high end")
            if scale not in ("", "log", "linear"):
                raise ValueError(f"{name}={spec}: the scale is log or linear, got {scale!r}")
            if scale == "log" and lo <= 0:
                raise ValueError(f"{name}={spec}: a log scale needs a positive range")
            if not scale:
                scale = "log" if lo > 0 and hi / lo >= 10 else "linear"
            whole = kind in ("int", "widths") or (kind == "size" and lo >= 1)
            out[name] = {"range": [lo, hi], "scale": scale, "whole": whole}
        else:
            items = [coerce(name, v, kind) for v in _split_values(name, spec)]
            if not items:
                raise ValueError(f"{name} has no values")
            out[name] = {"values": items}
    return out


def grid_settings(grids: list[dict]) -> list[dict]:
    """Every combination of each grid, the grids one after the other, duplicates once."""
    seen, out = set(), []
    for g in grids:
        names = list(g)
        for combo in itertools.product(*(g[n] for n in names)):
            setting = dict(zip(names, combo))
            key = _setting_key(setting)
            if key not in seen:
                seen.add(key)
                out.append(setting)
    return out


def random_settings(space: dict, samples: int, seed: int) -> list[dict]:
    """``samples`` settings drawn from ``space`` with a generator seeded by ``seed``."""
    rng = np.random.default_rng([seed, 25])
    out = []
    for _ in range(samples):
        setting = {}
        for name, spec in space.items():
            if "values" in spec:
                setting[name] = spec["values"][int(rng.integers(len(spec["values"])))]
                continue
            lo, hi = spec["range"]
            if spec["scale"] == "log":
                x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            else:
                x = rng.uniform(lo, hi)
            setting[name] = int(round(x)) if spec.get("whole") else _round(x)
        out.append(setting)
    return out


def _round(x: float, digits: int = 3) -> float:
    """``x`` to ``digits`` significant digits (readable settings: 0.00312, not 0.0031207...)."""
    if x == 0:
        return 0.0
    return float(f"{x:.{digits}g}")


def _setting_key(setting: dict) -> tuple:
    return tuple((k, _key(v)) for k, v in setting.items())


def format_value(value, name: str = "") -> str:
    """A setting's value as the command line writes it."""
    if isinstance(value, list):
        return "/".join(str(v) for v in value)
    if value is None:
        return "all" if name == "train_size" else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
