"""How early may the LDPC decoder give up? BLER and iterations of the stall rule
(``LdpcDecoder(stall=s)``: a block stops once its count of failing checks has not reached a
new low for s iterations) against the full 20 iterations (s = 0), on the same LLRs.

    python -m bench.ldpc_stall [--blocks 400] [--out results/ldpc_stall.json]

The four codes and SNR grids of ``bench.phy`` (k = 6000; QPSK / 16-QAM at rate 3/4 and 1/3,
AWGN), plus one point 1 dB below each grid, where every block fails (a first transmission at
the cliff). Writes per code and stall: BLER and mean iterations per SNR, the BLER-10 %
threshold and the decoding time of the whole grid.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.phy import LDPC_SNR, RATES, K, _noisy_llrs, _threshold
from m3e.phy.ldpc import LdpcDecoder, LdpcEncoder
from m3e.phy.modulation import Constellation

STALLS = (0, 2, 3, 4, 6)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blocks", type=int, default=400, help="code blocks per SNR point")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=Path("results/ldpc_stall.json"))
    args = p.parse_args(argv)
    codes: list[dict[str, Any]] = []
    for (mod, rate), grid in tqdm(LDPC_SNR.items(), desc="codes"):
        const = Constellation(mod)
        enc = LdpcEncoder(K, RATES[rate], qm=const.q)
        snrs = [grid[0] - 1.0, *grid]
        rng = np.random.default_rng(args.seed)
        runs: dict[int, dict[str, Any]] = {
            s: {"bler": [], "mean_iterations": [], "seconds": 0.0} for s in STALLS
        }
        for snr in snrs:
            u, llr = _noisy_llrs(enc, const, snr, args.blocks, rng)
            for s in STALLS:
                t0 = time.perf_counter()
                decoded = LdpcDecoder(enc, stall=s)(llr)
                runs[s]["seconds"] += time.perf_counter() - t0
                runs[s]["bler"].append(float(np.mean(np.any(decoded.bits != u, axis=1))))
                runs[s]["mean_iterations"].append(float(decoded.iterations.mean()))
        for run in runs.values():
            run["threshold_db"] = _threshold(grid, run["bler"][1:])
        stalls = {str(s): r for s, r in runs.items()}
        codes.append({"modulation": mod, "rate": rate, "snr_db": snrs, "stall": stalls})
    result = {"blocks": args.blocks, "k": K, "codes": codes}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    head = ("code", "stall", "thr dB", "BLER diff", "iters 1 dB below", "time")
    print("{:14s} {:>5s} {:>7s} {:>9s} {:>16s} {:>6s}".format(*head))
    for c in codes:
        full = c["stall"]["0"]
        for s, r in c["stall"].items():
            diff = max(abs(a - b) for a, b in zip(r["bler"], full["bler"], strict=True))
            print(
                f"{c['modulation'] + ' ' + c['rate']:14s} {s:>5s} {r['threshold_db']:7.3f} {diff:9.3f} "
                f"{r['mean_iterations'][0]:16.1f} {r['seconds']:5.2f}s"
            )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
