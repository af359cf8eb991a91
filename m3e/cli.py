"""The ``m3e`` command: one entry point for the three processes and the demo.

  m3e send      stream a source to a relay (or straight to a receiver)
  m3e relay     the channel emulator between sender and receiver
  m3e receive   decode, record received.mp4, serve the viewer
  m3e demo      all three locally on the embedded default input
  m3e phy       send one text message through the physical layer alone
  m3e text      send a sentence through the semantic text link and print what arrives
  m3e health    exit 0 when a relay or receiver answers its gRPC health check SERVING

The process packages are imported only by the subcommand that runs them, so the core
library never depends on a process. Every option is also read from ``--config FILE.toml``
and from ``M3E_<OPTION>`` environment variables (flags win).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

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


def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no", "true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return text.lower() in ("yes", "true", "1")


SAMPLE_SOURCE = "sample"  # m3e send --source sample: the sample clip that m3e demo streams

# (flag, settings field, type, help) shared by the process subcommands
_OPTIONS: dict[str, list[tuple[str, str, Any, str]]] = {
    "media": [
        ("--source", "source", str, "a media file, testsrc, webcam[:/dev/videoN], - (feed on stdin)"),
        ("--width", "width", int, "frame width"),
        ("--height", "height", int, "frame height"),
        ("--fps", "fps", float, "frame rate"),
        ("--sample-rate", "sample_rate", int, "audio sample rate"),
        ("--duration", "duration", float, "seconds to send (default: the whole source)"),
        (
            "--scheme",
            "scheme",
            str,
            "video scheme: h265 | jpeg | h265-equal-rate | m3e | m3e-no-diff | m3e-text-only",
        ),
        ("--m3e-budget", "m3e_budget", int, "M3E schemes: bytes of image difference V′ per keyframe"),
        (
            "--m3e-refresh-kbps",
            "m3e_refresh_kbps",
            float,
            "M3E low latency: kbit/s of new pictures between cuts, for what motion cannot show (0: none)",
        ),
        ("--audio-scheme", "audio_scheme", str, "audio scheme: aac | opus | mp3 | flac | pcm | none"),
        ("--modulation", "modulation", str, "bpsk | qpsk | 16qam | 64qam"),
        ("--code-rate", "code_rate", float, "LDPC code rate"),
        ("--pilot-spacing", "pilot_spacing", int, "symbols between pilot groups"),
        ("--pilot-count", "pilot_count", int, "pilots per group"),
        ("--crf", "crf", int, "H.265 quality (lower is better)"),
        ("--gop", "gop", int, "frames between keyframes"),
        ("--reconnect-timeout", "reconnect_timeout_s", float, "seconds to keep retrying a lost link"),
        ("--text-scheme", "text_scheme", str, "keyframe texts (with --semantics): m3e-text | json"),
        ("--min-delivered", "min_delivered", float, "fail (exit 1) below this fraction of frames delivered"),
        (
            "--feedback-timeout-ms",
            "feedback_timeout_ms",
            float,
            "resend if unanswered this long (0: adaptive)",
        ),
    ],
    "channel": [
        ("--snr", "snr_db", float, "Es/N0 in dB"),
        ("--fading", "fading", str, "awgn | rayleigh | rician"),
        ("--coherence", "coherence", int, "symbols per fading block"),
        ("--k-factor", "k_factor", float, "Rician K"),
        ("--symbol-rate", "symbol_rate", float, "symbols per second on air (0: unpaced)"),
        ("--delay-ms", "delay_ms", float, "propagation delay each way"),
        ("--erasure-prob", "erasure_prob", float, "probability a fading block is erased"),
        ("--feedback-loss", "feedback_loss", float, "probability a feedback message is lost"),
        ("--retransmit-by", "retransmit_by", str, "who asks for m3e-text retransmissions: receiver | genie"),
        ("--queue-mb", "relay_queue_mb", float, "bound of each stream's queue toward its receiver (MB)"),
        ("--queue-age-s", "relay_queue_s", float, "drop a landed burst the receiver has not taken by then"),
    ],
    "retransmission": [
        ("--max-retries", "max_retries", int, "retransmissions before giving up a payload"),
        ("--xi-threshold", "xi_threshold", float, "m3e-text: ask again while ξ is below this"),
        ("--until-exact", "until_exact", _yes_no, "m3e-text: also ask again while not exact (yes/no)"),
    ],
    "receiver": [
        ("--out", "out", Path, "MP4 file to record"),
        ("--viewer-port", "viewer_port", int, "viewer HTTP port (0: any free port)"),
        ("--playout-delay-ms", "playout_delay_ms", float, "how long to wait for a missing frame"),
        ("--session-idle-s", "session_idle_s", float, "close a session no stream has carried this long"),
    ],
    "capacity": [
        ("--max-sessions", "max_sessions", int, "live sessions at once (more: RESOURCE_EXHAUSTED)"),
    ],
    "demo": [
        (
            "--equal-rate-kbps",
            "equal_rate_kbps",
            float,
            "h265-equal-rate: its video bit rate in kbit/s (default 8, about M3E's)",
        ),
    ],
    "common": [
        ("--host", "host", str, "address to bind (default 127.0.0.1)"),
        ("--seed", "seed", int, "seed of every random draw"),
        ("--tls-cert", "tls_cert", Path, "PEM certificate (a server's; a client's certificate too)"),
        ("--tls-key", "tls_key", Path, "PEM private key of --tls-cert"),
        (
            "--tls-ca",
            "tls_ca",
            Path,
            "PEM CA bundle: clients trust servers it signed; servers ask clients for a certificate it signed",
        ),
        (
            "--control-token",
            "control_token",
            str,
            "the token that steers the channel (better: M3E_CONTROL_TOKEN, which ps does not show)",
        ),
        (
            "--control-token-file",
            "control_token_file",
            Path,
            "file holding the control token (made, mode 0600, when missing)",
        ),
    ],
}


def _add_options(p: argparse.ArgumentParser, *groups: str) -> None:
    p.add_argument("--config", type=Path, help="TOML file with any of these options")
    for g in (*groups, "common"):
        for flag, dest, typ, text in _OPTIONS[g]:
            p.add_argument(flag, dest=dest, type=typ, default=None, help=text)


def _settings(args: argparse.Namespace) -> Any:
    from m3e.config import load_settings

    fields = {dest for group in _OPTIONS.values() for _, dest, _, _ in group}
    cli = {k: v for k, v in vars(args).items() if k in fields}
    for key in ("port", "target", "listen"):
        cli.pop(key, None)
    return load_settings(cli, args.config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m3e", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    send = sub.add_parser(
        "send",
        help="stream a source through the link",
        description="Stream a source through the link. --source sample: the sample clip that m3e demo "
        "streams (made once per machine).",
    )
    send.add_argument("--target", default="127.0.0.1:50051", help="relay (or receiver) address")
    send.add_argument(
        "--as-fast-as-possible", action="store_true", help="do not pace the source in real time"
    )
    send.add_argument("--stats-json", default=None, help="write the sender's statistics here at the end")
    send.add_argument(
        "--semantics", action="store_true", help="also send each keyframe's text (m3e describe)"
    )
    send.add_argument(
        "--direction", default="", help="the emulator's route for this stream (a call's a-b / b-a)"
    )
    send.add_argument(
        "--low-latency",
        action="store_true",
        help="M3E: show keyframes at once and warp them forward per frame",
    )
    _add_options(send, "media")
    send.set_defaults(func=_send)

    relay = sub.add_parser("relay", help="run the channel emulator")
    relay.add_argument("--port", type=int, default=None, help="port to listen on (default 50051; 0: any)")
    relay.add_argument("--target", default="127.0.0.1:50052", help="receiver of the default route ('': none)")
    relay.add_argument(
        "--allow-route",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="a receiver Control.SetRoute may point a route at (the routes given here are allowed)",
    )
    relay.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="DIRECTION=HOST:PORT",
        help="another route with a channel of its own, for streams sent with --direction DIRECTION",
    )
    _add_options(relay, "channel", "retransmission", "capacity")
    relay.set_defaults(func=_relay)

    receive = sub.add_parser("receive", help="run the receiver")
    receive.add_argument("--port", type=int, default=None, help="port to listen on (default 50052; 0: any)")
    receive.add_argument("--control", default=None, help="relay address, for the viewer's SNR control")
    receive.add_argument("--no-viewer", action="store_true", help="do not serve the web viewer")
    receive.add_argument("--no-record", action="store_true", help="record no MP4 (statistics only)")
    receive.add_argument("--no-sound", action="store_true", help="play no audio on this machine's sound card")
    receive.add_argument("--once", action="store_true", help="exit when the first stream has finished")
    receive.add_argument("--stats-json", default=None, help="write the session's statistics here at the end")
    _add_options(receive, "receiver", "retransmission", "capacity")
    receive.set_defaults(func=_receive)

    demo = sub.add_parser(
        "demo",
        help="the clip as M3E and as H.265 side by side (or --scheme X alone) on this machine",
        description="Without --scheme: the source streamed as M3E and as H.265 (--versus) at once "
        "through one channel emulator, on one page side by side with their kbit/s and one SNR "
        "control for both. With --scheme X: receiver, relay and sender for X alone.",
    )
    demo.add_argument("--no-browser", action="store_true", help="do not open the viewer")
    demo.add_argument(
        "--no-semantics", action="store_true", help="with --scheme h265|jpeg: do not send keyframe texts"
    )
    demo.add_argument(
        "--versus",
        default=None,
        help="the scheme shown beside M3E: h265 (default: what a user gets today), h265-equal-rate "
        "(H.265 at M3E's bit rate) or jpeg",
    )
    demo.add_argument(
        "--no-low-latency",
        action="store_true",
        help="M3E: interpolate between keyframes, a keyframe interval behind (docs/m3e.md)",
    )
    _add_options(demo, "media", "channel", "receiver", "retransmission", "demo")
    demo.set_defaults(func=_demo)

    call = sub.add_parser("call", help="a two-party semantic video call through one channel emulator")
    call.add_argument(
        "--a",
        default=None,
        help="party A's source: a file, 'webcam' or 'browser' (its page's camera and microphone over "
        "WebRTC; default: 'browser' when --host is not loopback, else the webcam, else the sample clip)",
    )
    call.add_argument(
        "--b", default=None, help="party B's source (default: 'browser' or a clip of a person speaking)"
    )
    call.add_argument(
        "--scheme-a", default="m3e", help="what A sends as (m3e, m3e-no-diff, m3e-text-only, h265, jpeg)"
    )
    call.add_argument("--scheme-b", default="m3e", help="what B sends as")
    call.add_argument("--snr-ab", type=float, default=10.0, help="SNR (dB) from A to B")
    call.add_argument("--snr-ba", type=float, default=10.0, help="SNR (dB) from B to A")
    call.add_argument("--fading", choices=FADINGS, default=None, help="default: the settings' (rayleigh)")
    call.add_argument("--duration", type=float, default=None, help="seconds each party sends (default: all)")
    call.add_argument("--width", type=int, default=None, help="default: the settings' (720)")
    call.add_argument("--height", type=int, default=None, help="default: the settings' (480)")
    call.add_argument("--fps", type=float, default=None, help="default: the settings' (30)")
    call.add_argument(
        "--no-low-latency", action="store_true", help="M3E: interpolate between keyframes instead"
    )
    call.add_argument("--out", type=Path, default=Path("call-out"), help="folder for both recordings")
    call.add_argument(
        "--stamps",
        action="store_true",
        help="log the frame stamp of every browser frame (bench.call --browser)",
    )
    call.add_argument("--port", type=int, default=0, help="call page port (0: any free port)")
    call.add_argument("--host", default=None, help="address every process binds (default 127.0.0.1)")
    call.add_argument("--config", type=Path, help="TOML file with any option of m3e send/relay/receive")
    call.add_argument("--no-browser", action="store_true", help="do not open the call page")
    call.add_argument(
        "--remote", choices=["b"], default=None, help="party B joins from another machine (m3e call --join)"
    )
    call.add_argument(
        "--join", default=None, metavar="LINK", help="join as party B: the link the host printed for party b"
    )
    call.add_argument("--tls-cert", default=None, help="PEM certificate of this machine's services")
    call.add_argument("--tls-key", default=None, help="PEM private key of this machine's services")
    call.add_argument("--tls-ca", default=None, help="PEM CA bundle that signed the other machine's services")
    call.set_defaults(func=_call)

    describe = sub.add_parser("describe", help="print the keyframes of a video and their text")
    describe.add_argument("path", help="any video file PyAV opens")
    describe.add_argument(
        "--json", action="store_true", help="a JSON list of {time_s, objects, text, transcript}"
    )
    describe.add_argument("--fps", type=float, default=10.0, help="frames per second examined for keyframes")
    describe.set_defaults(func=_describe)

    evaluate = sub.add_parser(
        "eval", add_help=False, help="the paper's Figs. 4–8 and Table 1 (its own --help lists options)"
    )
    evaluate.add_argument("options", nargs=argparse.REMAINDER, help="FIGURE and options of the harness")
    evaluate.set_defaults(func=_eval)

    train = sub.add_parser("train", help="train one of the project's models (its own --help lists options)")
    train.add_argument("model", choices=sorted(TRAINERS), help="which model")
    train.add_argument("options", nargs=argparse.REMAINDER, help="options of that trainer")
    train.set_defaults(func=_train)

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

    text = sub.add_parser(
        "text", help="send a sentence through the semantic text link (symbols + difference + ξ̂)"
    )
    text.add_argument("sentence", nargs="?", help="the sentence (or --file)")
    text.add_argument("--file", type=Path, help="one sentence a line; one result a line")
    text.add_argument("--snr", type=float, default=8.0, help="Es/N0 in dB")
    text.add_argument("--fading", choices=["rayleigh", "awgn"], default="rayleigh")
    text.add_argument("--max-retransmissions", type=int, default=2, help="asked for while ξ̂ < 0.6")
    text.add_argument("--seed", type=int, default=0)
    text.add_argument("--json", action="store_true", help="one JSON object per sentence")
    text.set_defaults(func=_text)

    health = sub.add_parser(
        "health",
        help="exit 0 when the relay or receiver at HOST:PORT answers its gRPC health check SERVING, "
        "else 1 (container health checks)",
    )
    health.add_argument("address", help="HOST:PORT of a relay or receiver (a bare PORT: this machine)")
    health.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer")
    health.add_argument(
        "--wait", type=float, default=0.0, help="keep asking this many seconds until SERVING (a start order)"
    )
    health.add_argument("--tls-ca", type=Path, default=None, help="PEM CA bundle, for a TLS server")
    health.set_defaults(func=_health)
    return parser


def _health(args: argparse.Namespace) -> int:
    import time

    from m3e.launch import is_serving
    from m3e.wire.grpc_util import TlsFiles

    address = int(args.address) if args.address.isdigit() else args.address
    tls = TlsFiles(ca=args.tls_ca) if args.tls_ca else None
    deadline = time.monotonic() + args.wait
    while not (serving := is_serving(address, tls, timeout=args.timeout)) and time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    print("SERVING" if serving else "NOT SERVING", flush=True)
    return 0 if serving else 1


def _text(args: argparse.Namespace) -> int:
    if (args.sentence is None) == (args.file is None):
        raise ValueError("give one SENTENCE or --file FILE")
    if args.file is not None:
        if not args.file.is_file():
            raise ValueError(f"no such file: {args.file}")
        sentences = [
            line.strip() for line in args.file.read_text(errors="replace").splitlines() if line.strip()
        ]
    else:
        sentences = [args.sentence.strip()]
    if not sentences or not all(sentences):
        raise ValueError("no sentence to send")
    from m3e.codecs.semantic_text import TextLink
    from m3e.eval.text_link import transmit_semantic
    from m3e.semantics.similarity import xi

    link = TextLink()  # one model load for every sentence
    for i, sentence in enumerate(sentences):
        res = transmit_semantic(
            [sentence],
            args.snr,
            args.fading,
            link,
            max_retransmissions=args.max_retransmissions,
            seed=args.seed + i,
        )
        last = res["last"][0]
        row = {
            "sentence": sentence,
            "decoded": last.text,
            "xi": round(float(xi([sentence], [last.text])[0]), 4),
            "xi_hat": round(last.xi_hat, 4),
            "exact": last.exact,
            "transmissions": last.transmissions,
            "symbols": int(res["symbols_per_sentence"]),
        }
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"{row['decoded']!r}  ξ {row['xi']:.3f}  ξ̂ {row['xi_hat']:.3f}  "
                f"{'exact' if row['exact'] else 'not exact'}, {row['transmissions']} transmission(s), "
                f"{row['symbols']} symbols",
                flush=True,
            )
    return 0


def _tls(s: Any) -> Any:
    from m3e.wire.grpc_util import TlsFiles

    return TlsFiles(s.tls_cert, s.tls_key, s.tls_ca)


def _run(coro_factory: Callable[[], Awaitable[int]]) -> int:
    """Run until done or until SIGINT/SIGTERM, which cancel the work so that every
    process finishes what it writes (the MP4 stays playable)."""

    async def main() -> int:
        task = asyncio.ensure_future(coro_factory())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return 130

    return asyncio.run(main())


def _send(args: argparse.Namespace) -> int:
    from sender.client import Sender
    from sender.config import sender_config

    realtime = not args.as_fast_as_possible
    s = _settings(args)
    if s.source == SAMPLE_SOURCE:  # the demo's embedded default input (containers use it)
        from m3e.eval.testset import sample_clip

        s.source = str(sample_clip())
    config = sender_config(s, args.target, args.semantics, args.low_latency, realtime, args.direction)
    sender = Sender(config)

    async def go() -> int:
        stats = await sender.run()
        if args.stats_json:
            Path(args.stats_json).write_text(json.dumps(dataclasses.asdict(stats)))
        print(
            f"sent: {stats.bursts} bursts ({stats.retransmissions} retransmissions), "
            f"{stats.symbols} symbols, {stats.acks} ACK, {stats.nacks} NACK, "
            f"{stats.given_up} given up, {stats.reconnects} reconnects; "
            f"{stats.frames_delivered} of {stats.source_frames} frames delivered"
        )
        if (shortfall := sender.shortfall()) is not None:
            print(f"m3e send: error: {shortfall}", file=sys.stderr)
            return 1
        return 0

    return _run(go)


def _relay(args: argparse.Namespace) -> int:
    from channel_emulator.channel import channel_settings
    from channel_emulator.server import serve
    from m3e.wire import auth

    s = _settings(args)
    port = s.relay_port if args.port is None else args.port
    routes = dict(_route(r) for r in args.route)
    for entry in args.allow_route:
        auth.parse_allowed(entry)  # ValueError before anything starts
    settings = channel_settings(s)
    _check_ports(s.host, port=port)
    token = auth.resolve_token(s.control_token, s.control_token_file) or auth.new_token()
    if not (s.control_token or s.control_token_file):  # made here: whoever steers needs to see it
        print(f"relay: control token {token} (give it as M3E_CONTROL_TOKEN to the receiver)", flush=True)

    async def go() -> int:
        await serve(
            f"{s.host}:{port}",
            args.target,
            settings,
            s.seed,
            _tls(s),
            retransmit_by=s.retransmit_by,
            xi_threshold=s.xi_threshold,
            max_retries=s.max_retries,
            routes=routes,
            control_token=token,
            allow_routes=args.allow_route,
            queue_mb=s.relay_queue_mb,
            queue_age_s=s.relay_queue_s,
            max_streams=s.max_sessions,
        )
        return 0

    return _run(go)


def _route(text: str) -> tuple[str, str]:
    name, sep, address = text.partition("=")
    if not sep or not name or ":" not in address:
        raise ValueError(f"--route {text!r}: expected DIRECTION=HOST:PORT")
    return name, address


def _receive(args: argparse.Namespace) -> int:
    from m3e.wire import auth
    from receiver.config import receiver_config
    from receiver.server import serve
    from receiver.viewer import Viewer

    s = _settings(args)
    port = s.receiver_port if args.port is None else args.port
    config = receiver_config(s, args.stats_json)
    if args.no_record:
        config.out = None
    config.sound_card = not args.no_sound
    token = auth.resolve_token(s.control_token, s.control_token_file, create=False)
    if args.control and not token and not args.no_viewer:
        print(
            "receive: no control token (M3E_CONTROL_TOKEN, --control-token or --control-token-file): "
            "the relay will refuse the viewer's SNR control",
            file=sys.stderr,
        )
    _check_ports(s.host, port=port, viewer_port=None if args.no_viewer else s.viewer_port)
    viewer = None if args.no_viewer else Viewer(s.host, s.viewer_port, args.control, _tls(s), token)

    async def go() -> int:
        await serve(f"{s.host}:{port}", config, viewer, _tls(s), exit_after_session=args.once)
        return 0

    return _run(go)


TRAINERS = {
    "vq": "m3e.codecs.train_vq",
    "semantic-text": "m3e.codecs.train_semantic_text",
    "text-detector": "m3e.eval.calibrate_text_detector",
    "verifier": "m3e.semantics.train_verifier",
}


def _train(args: argparse.Namespace) -> int:
    import importlib

    return int(importlib.import_module(TRAINERS[args.model]).main(args.options))


def _eval(args: argparse.Namespace) -> int:
    from m3e.eval.harness import main as harness

    return harness(args.options)


def _call(args: argparse.Namespace) -> int:
    from call.main import default_sources, run_call
    from call.orchestrator import CallSettings

    if args.join and args.remote:
        raise ValueError("--join and --remote are the two ends of one call: use one")
    from m3e.config import load_settings, settings_env
    from m3e.wire import auth

    join = _join_link(args.join) if args.join else None
    # the call's processes share one set of settings: defaults < TOML < env < these flags
    given = {k: getattr(args, k) for k in ("width", "height", "fps", "duration", "fading", "host")}
    given.update({k: getattr(args, k) for k in ("tls_cert", "tls_key", "tls_ca")})
    s = load_settings(given, args.config)
    # a joiner gets the host's control token from the host's page (call.orchestrator._join)
    token = auth.resolve_token(s.control_token, s.control_token_file, create=False)
    tls = _tls(s) if any((s.tls_cert, s.tls_key, s.tls_ca)) else None
    away = args.remote or ("a" if join else None)  # a party whose processes run elsewhere
    given_sources = {"a": args.a, "b": args.b}
    for party, spec in given_sources.items():  # before anything starts: a missing webcam is an error
        if spec is not None and party != away and _is_media_spec(spec):
            try:
                _check_source(spec, s)
            except Exception as exc:
                raise ValueError(f"party {party}'s source: {exc}") from None
    _check_ports(s.host, call_page_port=args.port)
    defaults = default_sources(s.host) if args.a is None or args.b is None else {}
    settings = CallSettings(
        sources={"a": args.a or defaults["a"], "b": args.b or defaults["b"]},
        schemes={"a": args.scheme_a, "b": args.scheme_b},
        snr_db={"a-b": args.snr_ab, "b-a": args.snr_ba},
        fading=s.fading,
        width=s.width,
        height=s.height,
        fps=s.fps,
        duration=s.duration,
        low_latency=not args.no_low_latency,
        host=s.host,
        seed=s.seed,
        env=settings_env(s),
        out=args.out,
        remote=args.remote,
        join=join,
        tls=tls,
        stamps=args.stamps,
        control_token=token,
    )
    return run_call(settings, args.port, open_browser=not args.no_browser)


def _check_source(spec: str, settings: Any = None, fps: float | None = None) -> None:
    """SourceError (one line, exit 2) unless ``spec`` opens and has pictures: checked before
    anything starts or loads."""
    from m3e.media.sources import MediaSource, SourceConfig, SourceError

    config = (
        SourceConfig()
        if settings is None
        else SourceConfig(
            settings.width, settings.height, settings.fps, settings.sample_rate, settings.channels
        )
    )
    if fps is not None:
        config = dataclasses.replace(config, fps=fps)
    source = MediaSource(spec, config)
    try:
        if not source.has_video:
            raise SourceError(f"{spec} has no video stream (audio only?): there is nothing to show")
    finally:
        source.close()


def _is_media_spec(spec: str) -> bool:
    """A webcam or a file (what ``_check_source`` can open here), not another kind of source."""
    return spec == "webcam" or spec.startswith("webcam:") or spec == "testsrc" or Path(spec).suffix != ""


def _check_ports(host: str, **ports: int | None) -> None:
    """ValueError naming the first port (of those given, 0: any) that something else listens on."""
    from m3e.launch import port_in_use

    for what, port in ports.items():
        if port and port_in_use(host, port):
            raise ValueError(f"{what.replace('_', ' ')} {port} on {host} is in use (choose another)")


def _join_link(text: str) -> str:
    """``--join``: the link the host printed for party b (``http(s)://HOST:PORT/?party=b&key=K``)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(text if "://" in text else f"http://{text}")
    if not parts.hostname or parts.port is None or not parse_qs(parts.query).get("key"):
        raise ValueError(
            f"--join {text!r}: expected the link the host printed for party b (…/?party=b&key=…)"
        )
    return text


def _describe(args: argparse.Namespace) -> int:
    from m3e.semantics.extractor import describe_file

    _check_source(args.path, fps=args.fps)  # before any model loads

    items = describe_file(args.path, fps=args.fps)
    if args.json:
        print(json.dumps([k.to_json() for k in items], indent=2))
    else:
        for k in items:
            print(f"{k.time_s:8.2f} s  {k.text}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from m3e import schemes
    from m3e.config import Settings
    from m3e.demo import run_demo
    from m3e.eval.testset import sample_clip
    from m3e.wire.messages import Modality

    settings = _settings(args)
    # a scheme named (flag, TOML or environment) streams alone; else M3E beside --versus
    alone = args.scheme is not None or settings.scheme != Settings.model_fields["scheme"].default
    if alone and args.versus is not None:
        raise ValueError("--versus shows a scheme beside M3E, --scheme streams one alone: give one of them")
    versus = None if alone else (args.versus or "h265")
    if versus is not None:
        schemes.get(Modality.VIDEO, versus)  # ValueError naming the choices
    if args.source is None:  # the embedded default input
        settings.source = str(sample_clip())
    # every input checked before any process starts (a bad one used to surface ~10 s later)
    _check_source(settings.source, settings)
    _check_ports(settings.host, viewer_port=settings.viewer_port)
    return run_demo(
        settings,
        open_browser=not args.no_browser,
        semantics=not args.no_semantics,
        low_latency=not args.no_low_latency,
        versus=versus,
    )


# gRPC answers that mean the request itself was wrong: exit 2, as for any bad input
_CALLER_FAULTS = (
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
    "NOT_FOUND",
    "OUT_OF_RANGE",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.command not in ("eval", "train"):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        # `m3e eval --help`, `m3e eval --quick fig4`: the harness's (or trainer's) own options
        args.options = [*unknown, *args.options]
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    import grpc

    from m3e.media.sources import SourceError

    try:
        return int(args.func(args))
    except (ValueError, SourceError, ConnectionError) as exc:
        print(f"m3e {args.command}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:  # the far end refused: one line, not a traceback
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        name = code.name if code is not None else "error"
        print(f"m3e {args.command}: error: {name}: {str(details).splitlines()[0]}", file=sys.stderr)
        return 2 if name in _CALLER_FAULTS else 1


if __name__ == "__main__":
    sys.exit(main())
