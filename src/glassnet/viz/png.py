"""A tiny PNG encoder (NumPy + zlib), so the report needs no imaging library.

PNG in one paragraph: an 8-byte signature, then chunks ``length | type | data | crc32``.
``IHDR`` gives width, height, bit depth (8) and colour type (0 grey, 2 RGB, 6 RGBA);
``IDAT`` holds the zlib-compressed scanlines, each prefixed with a filter byte (0 here:
no filter); ``IEND`` closes the file.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

__all__ = ["encode_png", "png_data_uri"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image: (H, W) grey, (H, W, 1) grey, (H, W, 3) RGB or (H, W, 4) RGBA."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"encode_png needs uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in _COLOR_TYPE:
        raise ValueError(f"expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}")
    height, width, channels = image.shape
    if height == 0 or width == 0:
        raise ValueError(f"cannot encode an empty image of shape {image.shape}")
    rows = np.ascontiguousarray(image).reshape(height, width * channels)
    scanlines = np.hstack([np.zeros((height, 1), np.uint8), rows])  # filter byte 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9)),
            _chunk(b"IEND", b""),
        ]
    )


def png_data_uri(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")
