import numpy as np
import pytest
import torch

from m3e.phy.analog import complex_to_real, fading_channel, power_normalize, real_to_complex
from m3e.phy.channels import BlockFadingChannel
from m3e.phy.theory import capacity_awgn, capacity_rayleigh, shannon_symbols


def test_real_complex_roundtrip_and_power() -> None:
    t = torch.randn(3, 64)
    x = real_to_complex(t)
    assert x.shape == (3, 32) and x.is_complex()
    assert torch.equal(complex_to_real(x), t)
    p = power_normalize(x).abs().pow(2).mean(-1)
    assert torch.allclose(p, torch.ones(3), atol=1e-5)
    with pytest.raises(ValueError, match="even"):
        real_to_complex(torch.randn(3))


def test_analog_channel_statistics_and_gradient() -> None:
    g = torch.Generator().manual_seed(0)
    t = torch.randn(64, 2000, requires_grad=True)
    x = power_normalize(real_to_complex(t))
    y, h, _ = fading_channel(x, 5.0, "rayleigh", coherence=10, generator=g)
    assert h.abs().pow(2).mean().item() == pytest.approx(1.0, rel=0.05)
    noise = (y - h * x).abs().pow(2).mean().item()
    assert noise == pytest.approx(10**-0.5, rel=0.05)
    y.abs().sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all()
    _, ha, _ = fading_channel(x.detach(), torch.tensor([0.0] * 64), "awgn", generator=g)
    assert torch.all(ha == 1)


def test_capacity_values() -> None:
    assert capacity_awgn(0.0) == pytest.approx(1.0)
    assert capacity_awgn(10 * np.log10(3)) == pytest.approx(2.0)
    snr = np.array([-5.0, 0.0, 10.0, 20.0])
    assert np.all(capacity_rayleigh(snr) < capacity_awgn(snr))  # Jensen
    h2 = np.abs(BlockFadingChannel("rayleigh", coherence=1, seed=0).gains(400_000)) ** 2
    mc = np.mean(np.log2(1 + h2 * 10.0))
    assert capacity_rayleigh(10.0) == pytest.approx(mc, rel=0.01)
    assert shannon_symbols(1000, 0.0) == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="finite"):
        capacity_awgn(float("nan"))
