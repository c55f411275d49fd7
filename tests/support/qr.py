"""Reading back the QR codes holdfire draws, with a real decoder (zxing-cpp): from a PNG file,
and from the block characters it prints in a terminal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import png
import zxingcpp

# Compact terminal output draws two module rows per line, light on dark: upper, lower half.
_HALVES = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}


def _decode(pixels: np.ndarray) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(pixels)]


def decode_png(path: Path) -> list[str]:
    width, height, rows, _ = png.Reader(filename=str(path)).asRGBA8()
    pixels = np.array([list(row) for row in rows], dtype=np.uint8).reshape(height, width, 4)
    grey = pixels[:, :, :3].mean(axis=2).astype(np.uint8)
    return _decode(grey)


def decode_terminal(text: str, scale: int = 4) -> list[str]:
    """The QR codes in printed text: the lines made only of block characters."""
    lines = [line for line in text.splitlines() if line and set(line) <= set(_HALVES)]
    assert lines, "no QR code in the text"
    width = max(len(line) for line in lines)
    modules: list[list[bool]] = []
    for line in lines:
        cells = [_HALVES[ch] for ch in line.ljust(width)]
        modules.append([upper for upper, _ in cells])
        modules.append([lower for _, lower in cells])
    light = np.array(modules, dtype=bool)
    pixels = np.where(light, 255, 0).astype(np.uint8)
    pixels = np.pad(pixels, 4, constant_values=255)  # a quiet zone, as on a light screen
    return _decode(np.kron(pixels, np.ones((scale, scale), dtype=np.uint8)))
