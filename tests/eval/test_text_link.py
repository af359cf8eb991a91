from m3e.eval.text_link import SENTENCES, transmit
from m3e.phy.channels import BlockFadingChannel
from m3e.phy.link import TransportCoder


def test_clean_channel_delivers_every_sentence() -> None:
    for scheme in ("utf8", "huffman", "brotli"):
        decoded, symbols = transmit(SENTENCES, scheme, 30.0)
        assert decoded == list(SENTENCES) and symbols > 0


def test_low_snr_garbles_instead_of_failing() -> None:
    decoded, _ = transmit(SENTENCES[:2], "utf8", 2.0)
    assert all(isinstance(d, str) for d in decoded) and decoded != list(SENTENCES[:2])


def test_best_effort_payload_keeps_damaged_blocks() -> None:
    coder = TransportCoder("16qam", 0.75)
    payload = bytes(range(200))
    out = BlockFadingChannel("awgn", seed=1)(coder.encode(payload), 3.0)
    rx = coder.receiver(len(payload))
    assert rx.receive(out.y, out.no) is None
    damaged = rx.best_effort()
    assert len(damaged) == len(payload) and damaged != payload
