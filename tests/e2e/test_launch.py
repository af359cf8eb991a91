"""``m3e.launch``: a process is ready when its gRPC health service says SERVING."""

import pytest

from m3e.launch import free_port, is_serving, probe_address, start_process

pytestmark = pytest.mark.slow


def test_a_started_relay_is_serving_and_one_that_exits_first_says_its_code() -> None:
    port = free_port()
    relay = start_process(["relay", "--port", str(port), "--target", "127.0.0.1:1"], port, echo=False)
    try:
        assert is_serving(port) and is_serving(f"0.0.0.0:{port}")
    finally:
        relay.terminate()
        relay.wait(timeout=10)
    assert not is_serving(port)
    with pytest.raises(RuntimeError, match="exited with code 2"):
        start_process(["relay", "--port", str(port), "--snr", "nan"], port, echo=False)


def test_probe_address() -> None:
    assert probe_address(5) == "127.0.0.1:5"
    assert probe_address("0.0.0.0:7") == "127.0.0.1:7"
    assert probe_address("10.0.0.2:7") == "10.0.0.2:7"
    with pytest.raises(ValueError, match="HOST:PORT"):
        probe_address("nowhere")
