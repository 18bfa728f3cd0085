"""torchvision's ImageNet weights for the zoo's ``alexnet`` and ``resnet18``.

    >>> import glassnet as gn
    >>> model = gn.models.pretrained("alexnet", download=True)            # doctest: +SKIP
    >>> model = gn.models.pretrained("alexnet", weights="alexnet-owt-7be5be79.pth") # doctest: +SKIP

The files are torchvision's own (``torchvision.models.AlexNet_Weights.IMAGENET1K_V1``
and ``ResNet18_Weights.IMAGENET1K_V1``), from download.pytorch.org. As torchvision does,
the eight hex digits in the file name are the start of the file's SHA-256: a download
is accepted only when they match.

A download goes to ``<folder>/<file>.part`` and continues from where it stopped (an
HTTP ``Range`` request) when it is run again after an interruption; the file gets its
final name (an atomic rename) only once the whole of it is there and its hash matches.
The folder is ``$GLASSNET_WEIGHTS``, else ``~/.cache/glassnet/weights``.

The weights expect torchvision's preprocessing: RGB in [0, 1], resized so the shorter
side is 256 and centre-cropped to 224x224, normalised with ImageNet's channel means
(0.485, 0.456, 0.406) and standard deviations (0.229, 0.224, 0.225):
:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PretrainedWeights",
    "PRETRAINED",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "weights_dir",
    "download_weights",
    "pretrained",
]

ENV_VAR = "GLASSNET_WEIGHTS"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHUNK = 1 << 20


@dataclass(frozen=True)
class PretrainedWeights:
    model: str
    url: str
    sha256_prefix: str  # torchvision's check: the file's SHA-256 starts with these digits
    size: int | None = None  # bytes, where known

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


PRETRAINED = {
    "alexnet": PretrainedWeights(
        "alexnet", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79"
    ),
    "resnet18": PretrainedWeights(
        "resnet18", "https://download.pytorch.org/models/resnet18-f37072fd.pth", "f37072fd"
    ),
}


def weights_dir(folder=None) -> Path:
    """``folder``, else ``$GLASSNET_WEIGHTS``, else ``~/.cache/glassnet/weights``."""
    if folder is None:
        folder = os.environ.get(ENV_VAR) or Path.home() / ".cache" / "glassnet" / "weights"
    return Path(folder).expanduser()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _bar(total, desc: str, progress: bool):
    from ..data.download import _progress_bar

    if not progress:
        from ..data.download import _NoBar

        return _NoBar()
    return _progress_bar(total, desc)


def download_weights(
    name_or_spec, folder=None, *, progress: bool = True, timeout: float = 30.0
) -> Path:
    """The path of the pretrained weight file for ``name_or_spec`` (``"alexnet"``,
    ``"resnet18"`` or a :class:`PretrainedWeights`), downloading what is missing.

    A file already there is checked (SHA-256 prefix) and returned. An interrupted
    download resumes from its ``.part`` file. A file whose hash does not match is
    deleted and an ``OSError`` says so; a network failure leaves the ``.part`` file
    for the next try and raises ``OSError`` naming the URL.
    """
    spec = name_or_spec
    if not isinstance(spec, PretrainedWeights):
        if spec not in PRETRAINED:
            raise ValueError(
                f"no pretrained weights for {spec!r}; known: {', '.join(sorted(PRETRAINED))}"
            )
        spec = PRETRAINED[spec]
    folder = weights_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / spec.filename
    if final.is_file():
        if _sha256(final).startswith(spec.sha256_prefix):
            return final
        raise OSError(
            f"{final}: its SHA-256 does not start with {spec.sha256_prefix} (torchvision's "
            "published hash): the file is damaged or not torchvision's; delete it and "
            "download again"
        )
    part = folder / (spec.filename + ".part")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "glassnet"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(spec.url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status = getattr(resp, "status", 200)
            if have and status != 206:  # the server sends the whole file: start over
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else spec.size
            bar = _bar(total, spec.filename, progress)
            bar.update(have)
            try:
                with open(part, "ab" if have else "wb") as out:
                    for chunk in iter(lambda: resp.read(CHUNK), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
            finally:
                bar.close()
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the range starts at the end: the .part is whole
            pass
        else:
            raise OSError(f"downloading {spec.url} failed: {exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise OSError(
            f"downloading {spec.url} failed: {exc or type(exc).__name__}; run again to "
            f"continue from the {part.stat().st_size if part.exists() else 0} bytes received"
        ) from None
    received = part.stat().st_size
    if total is not None and received != total:
        raise OSError(
            f"downloading {spec.url}: got {received} of {total} bytes; run again to continue"
        )
    digest = _sha256(part)
    if not digest.startswith(spec.sha256_prefix):
        part.unlink()
        raise OSError(
            f"downloading {spec.url}: SHA-256 {digest[:16]}... does not start with "
            f"{spec.sha256_prefix} (torchvision's published hash); the file was discarded"
        )
    os.replace(part, final)
    return final


def pretrained(
    name: str,
    weights=None,
    *,
    download: bool = False,
    folder=None,
    input_shape=None,
    num_classes: int = 1000,
    progress: bool = True,
):
    """The zoo model ``name`` (``"alexnet"``, ``"resnet18"``) with torchvision's
    ImageNet weights: from ``weights`` (a ``.pth``/``.safetensors`` path), else from
    the weights folder, downloading them when ``download=True``.

    ``input_shape`` (default 3x224x224) may be smaller or oblong: the pooling adapts.
    With ``num_classes`` other than 1000 the ImageNet classifier is left out and the
    model's own fresh one (drawn as the zoo draws it) kept."""
    from .. import nn
    from ..interop.torch import load_state_dict_file
    from .zoo import get

    if weights is None:
        if name not in PRETRAINED:
            raise ValueError(
                f"no pretrained weights for {name!r}; known: {', '.join(sorted(PRETRAINED))}"
            )
        spec = PRETRAINED[name]
        path = weights_dir(folder) / spec.filename
        if download:
            path = download_weights(spec, folder, progress=progress)
        elif not path.is_file():
            raise FileNotFoundError(
                f"no {spec.filename} in {path.parent}: download it with "
                f"glassnet.models.pretrained({name!r}, download=True), or fetch {spec.url} "
                "yourself and pass weights=PATH"
            )
        weights = path
    model = get(name, input_shape=input_shape, num_classes=num_classes)
    state = load_state_dict_file(weights)
    if num_classes != 1000:  # every weight but the classifier's (the last Linear)
        head = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
        state = {k: v for k, v in state.items() if k not in (f"{head}.weight", f"{head}.bias")}
    model.load_state_dict(state, strict=num_classes == 1000)
    missing = [k for k in model.state_dict() if k not in state]
    if num_classes != 1000 and any(not k.startswith(head + ".") for k in missing):
        raise ValueError(f"{weights}: missing keys: {', '.join(missing)}")
    return model
