"""The ``m3e`` command.

Subcommands so far:
  m3e phy   send a text message through the physical layer (CRC + 5G LDPC + QAM +
            pilots + fading channel + HARQ) and show what each transmission did.
"""

from __future__ import annotations

import argparse
import sys

from m3e.phy.channels import FADINGS, BlockFadingChannel
from m3e.phy.estimation import PilotLayout, estimate_channel
from m3e.phy.harq import redundancy_version
from m3e.phy.link import TransportCoder
from m3e.phy.modulation import BITS_PER_SYMBOL


def _phy(args: argparse.Namespace) -> int:
    payload = args.message.encode()
    coder = TransportCoder(args.modulation, args.rate)
    channel = BlockFadingChannel(args.fading, coherence=args.coherence, seed=args.seed)
    layout = PilotLayout(spacing=args.coherence, n_pilots=args.pilots) if args.pilots else None
    plan = coder.plan(len(payload))
    print(
        f"{len(payload)} bytes -> {plan.n_blocks} code block(s) of k={plan.k}, n={plan.n} "
        f"({args.modulation}, rate {plan.k / plan.n:.3f}), {args.fading} at {args.snr:g} dB, "
        f"{'perfect CSI' if layout is None else f'{args.pilots} pilots per {args.coherence} symbols'}"
    )
    rx = coder.receiver(len(payload))
    for attempt in range(args.max_tx):
        rv = redundancy_version(args.harq, attempt)
        x = coder.encode(payload, rv)
        if layout is None:
            out = channel(x, args.snr)
            decoded = rx.receive(out.y, out.no, out.h, rv)
        else:
            out = channel(layout.insert(x), args.snr)
            y, h_hat, err = estimate_channel(out.y, layout, out.no)
            # estimation error adds to the noise the demapper must expect
            decoded = rx.receive(y, out.no + err, h_hat, rv)
        print(
            f"  transmission {attempt + 1} (rv {rv}): {x.shape[0]} symbols, "
            f"blocks ok {int(rx.block_ok.sum())}/{plan.n_blocks}"
        )
        if decoded is not None:
            print(f"received: {decoded.decode(errors='replace')!r}")
            return 0
    print(f"not decoded after {args.max_tx} transmissions")
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m3e", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    phy = sub.add_parser("phy", help="send a message through the physical layer and HARQ")
    phy.add_argument("--message", default="a cat is sitting on a sofa", help="text to send")
    phy.add_argument("--snr", type=float, default=8.0, help="Es/N0 in dB")
    phy.add_argument("--fading", choices=FADINGS, default="rayleigh")
    phy.add_argument("--coherence", type=int, default=64, help="symbols per fading block")
    phy.add_argument("--modulation", choices=list(BITS_PER_SYMBOL), default="16qam")
    phy.add_argument("--rate", type=float, default=0.75, help="LDPC code rate")
    phy.add_argument("--harq", choices=["ir", "chase"], default="ir")
    phy.add_argument("--max-tx", type=int, default=4, help="transmissions before giving up")
    phy.add_argument("--pilots", type=int, default=4, help="pilots per coherence block (0: perfect CSI)")
    phy.add_argument("--seed", type=int, default=0)
    phy.set_defaults(func=_phy)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"m3e {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
