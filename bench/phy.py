"""Physical-layer benchmark: uncoded BER against theory, LDPC BLER against Sionna on
the same LLRs, and decoder throughput against Sionna's decoder in the same run.

    python -m bench.phy [--quick] [--out results/phy.json]

Writes the JSON and a plot next to it (phy.png) and prints a short table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from m3e.phy.channels import BlockFadingChannel, awgn, snr_db_to_no
from m3e.phy.ldpc import LdpcDecoder, LdpcEncoder
from m3e.phy.modulation import Constellation, hard_decision
from m3e.phy.theory import ber_awgn, ber_rayleigh

K, N = 6000, 8000  # rate 3/4, k ≈ 6000 as the issue asks
LDPC_SNR = {
    "qpsk": [3.5, 3.75, 4.0, 4.25, 4.5, 4.75, 5.0],
    "16qam": [9.5, 9.75, 10.0, 10.25, 10.5, 10.75, 11.0],
}


def bench_ber(quick: bool, seed: int) -> list[dict[str, Any]]:
    snrs = np.arange(-5, 21, 5 if quick else 1, dtype=float)
    max_bits = 200_000 if quick else 4_000_000
    rows = []
    jobs = [(m, c, s) for m in ("qpsk", "16qam") for c in ("awgn", "rayleigh") for s in snrs]
    for mod, chan, snr in tqdm(jobs, desc="uncoded BER", leave=False):
        const = Constellation(mod)
        channel = BlockFadingChannel(chan, coherence=1, seed=seed)
        rng = np.random.default_rng(seed)
        errors = bits = 0
        while bits < max_bits and errors < 500:
            b = rng.integers(0, 2, 200_000)
            out = channel(const.map(b), float(snr))
            errors += int(np.sum(hard_decision(const.demap(out.y, out.no, out.h)) != b))
            bits += b.size
        theory = (ber_awgn if chan == "awgn" else ber_rayleigh)(mod, snr)
        rows.append(
            {
                "modulation": mod,
                "channel": chan,
                "snr_db": float(snr),
                "ber": errors / bits,
                "ber_theory": float(theory),
                "bits": bits,
            }
        )
    return rows


def _noisy_llrs(
    enc: LdpcEncoder, const: Constellation, snr: float, blocks: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    u = rng.integers(0, 2, (blocks, enc.k)).astype(np.uint8)
    no = snr_db_to_no(snr)
    llr = const.demap(awgn(const.map(enc(u).reshape(-1)), no, rng), no)
    return u, llr.reshape(blocks, enc.n)


def _threshold(snrs: list[float], bler: list[float], target: float = 0.1) -> float | None:
    """SNR where BLER crosses ``target``, interpolated on log10(BLER)."""
    for i in range(len(snrs) - 1):
        (s0, b0), (s1, b1) = (snrs[i], bler[i]), (snrs[i + 1], bler[i + 1])
        if b0 >= target > b1:
            lb0, lb1 = np.log10(max(b0, 1e-4)), np.log10(max(b1, 1e-4))
            return float(s0 + (np.log10(target) - lb0) / (lb1 - lb0) * (s1 - s0))
    return None


def bench_ldpc(quick: bool, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import torch
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    torch.set_num_threads(1)  # both decoders on one core
    blocks = 60 if quick else 300
    rows: list[dict[str, Any]] = []
    speed: dict[str, Any] = {}
    for mod, snrs in LDPC_SNR.items():
        const = Constellation(mod)
        enc = LdpcEncoder(K, N, qm=const.q)
        dec = LdpcDecoder(enc)
        sdec = LDPC5GDecoder(LDPC5GEncoder(K, N, num_bits_per_symbol=const.q), hard_out=True)
        rng = np.random.default_rng(seed)
        for snr in tqdm(snrs, desc=f"LDPC {mod}", leave=False):
            u, llr = _noisy_llrs(enc, const, snr, blocks, rng)
            ours = dec(llr)
            # Sionna's LLRs are ln P(1)/P(0): the opposite sign of ours
            theirs = sdec(torch.from_numpy(-llr)).numpy().astype(np.uint8)
            rows.append(
                {
                    "k": K,
                    "n": N,
                    "modulation": mod,
                    "snr_db": snr,
                    "blocks": blocks,
                    "bler": float(np.mean(np.any(ours.bits != u, axis=1))),
                    "bler_sionna": float(np.mean(np.any(theirs != u, axis=1))),
                    "mean_iterations": float(ours.iterations.mean()),
                }
            )
        mine = [r for r in rows if r["modulation"] == mod]
        s_ours = _threshold(snrs, [r["bler"] for r in mine])
        s_ref = _threshold(snrs, [r["bler_sionna"] for r in mine])
        speed[f"threshold_db_{mod}"] = {
            "ours": s_ours,
            "sionna": s_ref,
            "gap_db": None if s_ours is None or s_ref is None else s_ours - s_ref,
        }

    # Throughput: 16-QAM, rate 3/4, at the working SNR (lowest with BLER <= 1 %).
    qam = [r for r in rows if r["modulation"] == "16qam"]
    working = next((r["snr_db"] for r in qam if r["bler"] <= 0.01), qam[-1]["snr_db"])
    const = Constellation("16qam")
    enc = LdpcEncoder(K, N, qm=4)
    dec = LdpcDecoder(enc)
    sdec = LDPC5GDecoder(LDPC5GEncoder(K, N, num_bits_per_symbol=4), hard_out=True)
    u, llr = _noisy_llrs(enc, const, working, 40 if quick else 200, np.random.default_rng(seed + 1))
    dec(llr[:2])
    t0 = time.perf_counter()
    res = dec(llr)
    t_ours = time.perf_counter() - t0
    sdec(torch.from_numpy(-llr[:2]))
    n_ref = 20 if quick else 50
    t0 = time.perf_counter()
    sdec(torch.from_numpy(-llr[:n_ref]))
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    enc(u)
    t_enc = time.perf_counter() - t0
    ours_mbps = llr.shape[0] * K / t_ours / 1e6
    ref_mbps = n_ref * K / t_ref / 1e6
    speed.update(
        {
            "working_snr_db": working,
            "decoder_mbps": ours_mbps,
            "sionna_decoder_mbps": ref_mbps,
            "speedup_vs_sionna": ours_mbps / ref_mbps,
            "decoder_mean_iterations": float(res.iterations.mean()),
            "decoder_block_errors": int(np.sum(np.any(res.bits != u, axis=1))),
            "encoder_mbps": u.shape[0] * K / t_enc / 1e6,
        }
    )
    return rows, speed


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for mod in ("qpsk", "16qam"):
        for chan, style in (("awgn", "-"), ("rayleigh", "--")):
            pts = [r for r in result["ber"] if r["modulation"] == mod and r["channel"] == chan]
            s = [r["snr_db"] for r in pts]
            (line,) = ax1.semilogy(s, [r["ber_theory"] for r in pts], style, label=f"{mod} {chan} theory")
            ax1.semilogy(s, [r["ber"] or np.nan for r in pts], "o", color=line.get_color(), ms=4)
    ax1.set(xlabel="Es/N0 (dB)", ylabel="uncoded BER", ylim=(1e-6, 1))
    ax1.set_title("Uncoded BER (markers: simulated)")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=7)
    for mod in ("qpsk", "16qam"):
        pts = [r for r in result["ldpc"] if r["modulation"] == mod]
        s = [r["snr_db"] for r in pts]
        (line,) = ax2.semilogy(s, [r["bler"] or np.nan for r in pts], "o-", label=f"{mod} ours (layered NMS)")
        ax2.semilogy(
            s,
            [r["bler_sionna"] or np.nan for r in pts],
            "s--",
            color=line.get_color(),
            label=f"{mod} Sionna (BP)",
        )
    ax2.set(xlabel="Es/N0 (dB)", ylabel="BLER", title=f"5G LDPC k={K} n={N}, AWGN")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer points and bits (about a minute)")
    parser.add_argument("--out", type=Path, default=Path("results/phy.json"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick and args.out == Path("results/phy.json"):
        args.out = Path("results/phy_quick.json")

    t0 = time.time()
    ber = bench_ber(args.quick, args.seed)
    ldpc, speed = bench_ldpc(args.quick, args.seed)
    result = {
        "profile": "quick" if args.quick else "full",
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, one core for decoding",
        "seed": args.seed,
        "ber": ber,
        "ldpc": ldpc,
        **speed,
        "runtime_s": round(time.time() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(result, args.out.with_suffix(".png"))

    print("uncoded BER at 10 dB:        simulated   theory")
    for r in ber:
        if r["snr_db"] == 10.0:
            print(f"  {r['modulation']:6s} {r['channel']:9s} {r['ber']:10.2e} {r['ber_theory']:10.2e}")
    print(f"LDPC k={K} n={N} (rate 3/4), AWGN:  snr   BLER ours  BLER Sionna")
    for r in ldpc:
        print(f"  {r['modulation']:6s} {r['snr_db']:6.2f} {r['bler']:10.3f} {r['bler_sionna']:10.3f}")
    for mod in LDPC_SNR:
        t = speed[f"threshold_db_{mod}"]
        gap = "n/a" if t["gap_db"] is None else f"{t['gap_db']:+.2f} dB"
        print(f"  BLER 0.1 threshold {mod}: ours {t['ours']}, Sionna {t['sionna']}, gap {gap}")
    print(
        f"decoder (16-QAM, {speed['working_snr_db']} dB, one core): {speed['decoder_mbps']:.2f} Mbit/s, "
        f"Sionna {speed['sionna_decoder_mbps']:.3f} Mbit/s, ratio {speed['speedup_vs_sionna']:.1f}x"
    )
    print(f"wrote {args.out} and {args.out.with_suffix('.png')} in {result['runtime_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
