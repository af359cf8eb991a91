"""bench.load's pieces that decide its numbers: the copies of a recorded stream and the
real-time verdict."""

from bench.load import Level, _session_copy, first_seconds, judge
from m3e.wire import link_pb2 as pb


def _recording() -> list[tuple[float, bytes]]:
    header = pb.Uplink(header=pb.StreamHeader(session_id="rec", width=320, height=240, fps=30))
    bursts = [
        pb.Uplink(burst=pb.Burst(session_id="rec", seq=i, capture_time=i / 30 - 0.2)) for i in range(90)
    ]
    end = pb.Uplink(end=pb.StreamEnd(session_id="rec", end_pts=3.0))
    return (
        [(0.0, header.SerializeToString())]
        + [(i / 30, b.SerializeToString()) for i, b in enumerate(bursts)]
        + [(3.0, end.SerializeToString())]
    )


def test_a_copy_is_a_session_of_its_own_captured_from_its_start() -> None:
    copy = _session_copy(_recording(), "load-7", wall0=1000.0)
    messages = [pb.Uplink.FromString(raw) for _, raw, _ in copy]
    assert {getattr(m, m.WhichOneof("kind")).session_id for m in messages} == {"load-7"}
    bursts = [m.burst for m in messages if m.WhichOneof("kind") == "burst"]
    assert bursts[0].capture_time == 1000.0 - 0.2  # the recorded sender's lag is kept
    assert [t for t, _, _ in copy] == [t for t, _ in _recording()]
    assert [seq for _, _, seq in copy] == [-1, *range(90), -1]  # the burst seqs, to resend


def test_the_warm_up_is_the_first_seconds_and_an_end() -> None:
    short = first_seconds(_recording(), 1.0)
    last = pb.Uplink.FromString(short[-1][1])
    assert last.WhichOneof("kind") == "end" and last.end.end_pts == 1.0
    assert all(t < 1.0 for t, _ in short[:-1]) and len(short) == 1 + 30 + 1


def test_real_time_means_all_finished_as_good_as_one_alone_and_no_core_saturated() -> None:
    alone = Level("m3e", 1, finished=1, delivered_min=1.0, latency_p95_max_ms=1600.0, receiver_cpu=0.3)
    ok = Level("m3e", 4, finished=4, delivered_min=0.97, latency_p95_max_ms=1950.0, receiver_cpu=0.9)
    assert judge(ok, alone, 4)
    assert not judge(Level("m3e", 4, finished=3, delivered_min=1.0, latency_p95_max_ms=1600.0), alone, 4)
    assert not judge(Level("m3e", 4, finished=4, delivered_min=0.9, latency_p95_max_ms=1600.0), alone, 4)
    assert not judge(Level("m3e", 4, finished=4, delivered_min=1.0, latency_p95_max_ms=2100.0), alone, 4)
    busy = Level("m3e", 4, finished=4, delivered_min=1.0, latency_p95_max_ms=1600.0, receiver_cpu=0.97)
    assert not judge(busy, alone, 4)
