"""Regenerate base_graphs.npz: the 5G NR LDPC base matrices of TS 38.212 Tables 5.3.2-2
(BG1, 46x68) and 5.3.2-3 (BG2, 42x52), shift values V_ij for the 8 lifting-set indices.

Source: the CSV transcription of those tables shipped in the ``sionna`` package
(Apache-2.0), our test reference. Run: ``python -m m3e.phy.data.make_base_graphs``.
The tests check that codewords built from this file equal Sionna's bit for bit.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SHAPES = {1: (46, 68), 2: (42, 52)}
OUT = Path(__file__).with_name("base_graphs.npz")


def read_csv(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """(8, rows, cols) int16, -1 where the base graph has no circulant."""
    bm = np.full((8, *shape), -1, dtype=np.int16)
    row = 0
    for line in path.read_text().splitlines()[2:]:
        cells = line.split(";")
        if not cells[1].strip():
            continue
        if cells[0].strip():
            row = int(cells[0])
        for i_ls in range(8):
            bm[i_ls, row, int(cells[1])] = int(cells[2 + i_ls])
    return bm


def main() -> None:
    spec = importlib.util.find_spec("sionna")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs the 'sionna-no-rt' package (pip install '.[dev]')")
    codes = Path(spec.submodule_search_locations[0]) / "phy" / "fec" / "ldpc" / "codes"
    tables = {f"bg{bg}": read_csv(codes / f"5G_bg{bg}.csv", shape) for bg, shape in SHAPES.items()}
    np.savez_compressed(OUT, **tables)  # type: ignore[arg-type]
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
