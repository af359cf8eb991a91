"""m3e-text across the real processes: the receiver judges each sentence itself (ξ̂), its
NACK crosses the emulator to the sender, and the retransmission (the coded sentence) raises ξ."""

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import grpc

from m3e.codecs.semantic_text import SentenceBurst, TextLink, sentence_rv
from m3e.phy.estimation import PilotLayout
from m3e.semantics.similarity import xi
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.auth import grpc_metadata
from m3e.wire.convert import burst_to_proto, header_to_proto, settings_to_proto
from m3e.wire.grpc_util import client_channel
from m3e.wire.messages import Burst, ChannelSettings, Modality, StreamHeader
from tests.e2e.conftest import Link

PILOTS = PilotLayout(64, 4)
SENTENCES = ["a dog is barking and a car is driving", 'a person is speaking: "look at the train over there"']


def _bursts(link: TextLink) -> list[tuple[Burst, SentenceBurst]]:
    """Each sentence's first transmission, and what its retransmissions are made from."""
    return [
        (
            Burst(
                "t",
                seq,
                float(seq),
                Modality.TEXT,
                "m3e-text",
                "analog",
                0.0,
                sb.difference_bytes,
                PILOTS.insert(sb.symbols),
                pilot_spacing=PILOTS.spacing,
                pilot_count=PILOTS.n_pilots,
                genie=text.encode(),
                index=seq,
            ),
            sb,
        )
        for seq, (text, sb) in enumerate(zip(SENTENCES, link.encode_bursts(SENTENCES), strict=True))
    ]


def _again(link: TextLink, burst: Burst, sb: SentenceBurst) -> Burst:
    """The next transmission of ``burst``, as the sender's m3e-text scheme makes it."""
    attempt = burst.attempt + 1
    iq = PILOTS.insert(link.again(sb, attempt))
    return dataclasses.replace(
        burst, attempt=attempt, rv=sentence_rv(attempt), iq=iq, payload_bytes=len(sb.sentence)
    )


async def _talk(relay: str, token: str) -> tuple[list[pb.Feedback], pb.ChannelStats]:
    """A sender of two sentences: the first crosses a -30 dB channel and is asked for again,
    after which the test improves the channel; a malformed burst sits between them. Returns
    the feedback and the emulator's statistics at the end."""
    link = TextLink()
    (first, first_sb), (second, second_sb) = _bursts(link)
    # twenty data symbols short of a sentence: fingerprint (64) + 8·T + difference can never fit
    malformed = burst_to_proto(dataclasses.replace(second, seq=99, iq=PILOTS.insert(second_sb.symbols[:-20])))
    outgoing: asyncio.Queue[pb.Uplink | None] = asyncio.Queue()
    for m in (
        pb.Uplink(header=header_to_proto(StreamHeader("t", 64, 64, 30.0, text_scheme="m3e-text"))),
        pb.Uplink(burst=burst_to_proto(first)),
        pb.Uplink(burst=malformed),
    ):
        outgoing.put_nowait(m)

    async def uplink() -> AsyncIterator[pb.Uplink]:
        while (m := await outgoing.get()) is not None:
            yield m

    answers: list[pb.Feedback] = []
    async with client_channel(relay) as channel:
        async for fb in rpc.LinkStub(channel).Stream(uplink()):
            answers.append(fb)
            if fb.seq == 0 and fb.kind == pb.Feedback.NACK:
                await rpc.ControlStub(channel).Configure(
                    settings_to_proto(ChannelSettings(snr_db=12.0)), metadata=grpc_metadata(token)
                )
                first = _again(link, first, first_sb)
                outgoing.put_nowait(pb.Uplink(burst=burst_to_proto(first)))
            elif fb.seq == 0:
                outgoing.put_nowait(pb.Uplink(burst=burst_to_proto(second)))
            elif fb.seq == 1:
                outgoing.put_nowait(pb.Uplink(end=pb.StreamEnd(session_id="t")))
                outgoing.put_nowait(None)
        judged = sum(a.kind != pb.Feedback.REJECTED for a in answers)
        for _ in range(100):  # in receiver mode the emulator scores the answers on the side
            stats = await rpc.ControlStub(channel).Stats(pb.StatsRequest(), metadata=grpc_metadata(token))
            if stats.texts_judged >= judged:
                break
            await asyncio.sleep(0.1)
    return answers, stats


def test_nack_crosses_the_emulator_and_the_retransmission_raises_xi(link: Link) -> None:
    link.start_receiver("--stats-json", str(link.tmp / "rx.json"), "--max-retries", "3")
    link.start_relay("--snr", "-30", "--fading", "awgn")  # the first copy drowns in noise
    answers, stats = asyncio.run(_talk(f"127.0.0.1:{link.relay_port}", link.token))
    first = [a for a in answers if a.seq == 0]
    assert first[0].kind == pb.Feedback.NACK and first[0].has_xi and first[0].xi < 0.6
    assert first[-1].kind == pb.Feedback.ACK and first[-1].decoded_text == SENTENCES[0]
    before, after = xi([SENTENCES[0]] * 2, [first[0].decoded_text, first[-1].decoded_text])
    assert after > before + 0.2
    rejected = next(a for a in answers if a.seq == 99)
    assert rejected.kind == pb.Feedback.REJECTED
    assert rejected.status_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert any(a.seq == 1 and a.kind == pb.Feedback.ACK for a in answers)  # the stream went on
    assert link.procs[0].wait(timeout=30) == 0
    texts = json.loads((link.tmp / "rx.json").read_text())["texts"]
    assert [t["text"] for t in texts] == SENTENCES
    assert texts[0]["transmissions"] == len(first) and texts[0]["xi_hat"] >= 0.6
    assert stats.retransmit_by == "receiver" and stats.texts_judged == len(first) + 1
    assert stats.receiver_nacks == len(first) - 1 and not any(a.from_emulator for a in answers)


def test_genie_mode_decides_by_the_true_xi(link: Link) -> None:
    link.start_receiver("--max-retries", "3")
    link.start_relay("--snr", "-30", "--fading", "awgn", "--retransmit-by", "genie")
    answers, stats = asyncio.run(_talk(f"127.0.0.1:{link.relay_port}", link.token))
    first = [a for a in answers if a.seq == 0]
    assert all(a.from_emulator and a.has_true_xi for a in first)
    assert first[0].kind == pb.Feedback.NACK and first[0].true_xi < 0.6
    assert first[-1].kind == pb.Feedback.ACK and first[-1].true_xi > 0.99
    assert stats.retransmit_by == "genie" and stats.genie_nacks == len(first) - 1
    assert stats.texts_judged == len(first) + 1 and stats.true_damaged == len(first) - 1
