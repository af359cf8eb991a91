"""Difference information V′ (paper eq 13–16): what the receiver cannot generate from the text.

The sender knows the prediction P the receiver will make (it runs the same generator), so it
sends only what P misses, within a byte budget per keyframe. Two representations, compared by
``bench.m3e`` (see docs/m3e.md for the choice):

- ``VQReplenishment``: the VQ token space. Γ (eq 14–15) weighs each token position by how far
  the real latent lies from P's quantised latent (softmax over positions of that squared
  distance); positions are sent most important first as (position, code) until the budget is
  spent, so a smaller budget cuts the tail. The receiver decodes P's tokens with the received
  ones put in, and blends the decoded patches into P (elsewhere P is kept as generated).
- ``ResidualX265``: a conventional intra codec on what P misses: the residual real - P + 128
  as one H.265 intra picture, at the best quality (lowest crf of a ladder) within the budget.

Images are (H, W, 3) uint8 with H, W multiples of 8.
"""

from __future__ import annotations

from typing import Protocol

import av
import cv2
import numpy as np
import numpy.typing as npt
import torch

from m3e.codecs.traditional import VideoDecoder, VideoEncoder
from m3e.codecs.vq import DOWNSAMPLE, VQImageCodec, load_vq, to_image, to_tensor

Image = npt.NDArray[np.uint8]


class DifferenceCoder(Protocol):
    name: str

    def encode(self, real: Image, prediction: Image, budget_bytes: int) -> bytes: ...

    def decode(self, prediction: Image, data: bytes) -> Image:
        """ValueError for data this coder did not write."""
        ...


def importance(real_latent: torch.Tensor, predicted_latent: torch.Tensor) -> npt.NDArray[np.float64]:
    """Γ over token positions: softmax of the squared latent distance (D, h, w) -> (h·w,)."""
    d = (real_latent - predicted_latent).pow(2).sum(0).flatten().double()
    return torch.softmax(d / d.std().clamp(min=1e-9), 0).numpy()


class VQReplenishment:
    """Token replenishment in the VQ codec's space. Wire format: u16 count, then per token a
    u16 position (row-major over the h×w grid) and a u16 code, most important first."""

    name = "vq"
    BYTES_PER_TOKEN = 4

    def __init__(self, model: VQImageCodec | None = None, min_distance: float = 0.0) -> None:
        self.model = model or load_vq()
        self.min_distance = min_distance  # latent distance below which a token is good enough

    @torch.no_grad()
    def encode(self, real: Image, prediction: Image, budget_bytes: int) -> bytes:
        m = self.model
        z_real = m.latents(to_tensor(real))[0]
        zq_pred, idx_pred = m.quantize(m.latents(to_tensor(prediction)))
        idx_real = m.quantize(z_real[None])[1][0].flatten()
        gamma = importance(z_real, zq_pred[0])
        distance = (z_real - zq_pred[0]).pow(2).sum(0).flatten().numpy()
        differs = (idx_real != idx_pred[0].flatten()).numpy() & (distance > self.min_distance)
        order = [int(i) for i in np.argsort(-gamma) if differs[i]]
        n = max(0, min(len(order), (budget_bytes - 2) // self.BYTES_PER_TOKEN))
        chosen = np.array(order[:n], dtype="<u2")
        codes = idx_real.numpy()[chosen.astype(np.int64)].astype("<u2")
        return np.array([n], "<u2").tobytes() + np.stack([chosen, codes], 1).astype("<u2").tobytes()

    @torch.no_grad()
    def decode(self, prediction: Image, data: bytes) -> Image:
        m = self.model
        if len(data) < 2:
            raise ValueError("VQ difference shorter than its header")
        n = int(np.frombuffer(data[:2], "<u2")[0])
        if len(data) != 2 + n * self.BYTES_PER_TOKEN:
            raise ValueError(f"VQ difference of {len(data)} bytes does not hold {n} tokens")
        if n == 0:
            return prediction
        pairs = np.frombuffer(data[2:], "<u2").reshape(n, 2).astype(np.int64)
        _, idx = m.quantize(m.latents(to_tensor(prediction)))
        h, w = idx.shape[1:]
        if pairs[:, 0].max() >= h * w or pairs[:, 1].max() >= m.config.codes:
            raise ValueError("VQ difference names a token outside the grid or the codebook")
        flat = idx.flatten().clone()
        flat[pairs[:, 0]] = torch.from_numpy(pairs[:, 1])
        patched = to_image(m.decode_latents(m.embed(flat.view(1, h, w))))
        mask = np.zeros(h * w, np.float32)
        mask[pairs[:, 0]] = 1.0
        # feathered mask at pixel resolution: replaced tokens show the decoded patches
        soft = cv2.resize(
            mask.reshape(h, w), (w * DOWNSAMPLE, h * DOWNSAMPLE), interpolation=cv2.INTER_LINEAR
        )
        soft = np.clip(cv2.GaussianBlur(soft, (0, 0), 2.0) * 1.5, 0, 1)[..., None]
        return (prediction * (1 - soft) + patched * soft + 0.5).astype(np.uint8)


class ResidualX265:
    """The residual real - P + 128 as one H.265 intra picture, at the best quality that fits
    the budget: full size first, then half and quarter size (upsampled at the receiver) when
    even crf 51 is too big. Wire format: one byte log2(scale), then the HEVC access unit."""

    name = "x265"
    SCALES = (1, 2, 4)

    def __init__(self, preset: str = "ultrafast") -> None:
        # ultrafast: as good as medium at equal bytes on these residuals, 3× faster (bench.difference)
        self.preset = preset

    def encode(self, real: Image, prediction: Image, budget_bytes: int) -> bytes:
        residual = np.clip(real.astype(np.int16) - prediction + 128, 0, 255).astype(np.uint8)
        h, w = residual.shape[:2]
        for k, scale in enumerate(self.SCALES):
            size = (w // scale // 8 * 8, h // scale // 8 * 8)
            small = residual if scale == 1 else cv2.resize(residual, size, interpolation=cv2.INTER_AREA)
            data = _fit_crf(np.asarray(small, np.uint8), budget_bytes - 1, self.preset)
            if data:
                return bytes([k]) + data
        return b""

    def decode(self, prediction: Image, data: bytes) -> Image:
        if not data:
            return prediction
        if data[0] >= len(self.SCALES):
            raise ValueError(f"x265 difference with unknown scale code {data[0]}")
        frames = VideoDecoder("h265").decode(data[1:])
        if not frames:
            raise ValueError("x265 difference does not decode")
        h, w = prediction.shape[:2]
        residual = frames[-1]
        if residual.shape[:2] != (h, w):
            if residual.shape[0] * self.SCALES[data[0]] > h + 8:
                raise ValueError("x265 difference larger than the keyframe")
            residual = np.asarray(cv2.resize(residual, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)
        return np.clip(prediction.astype(np.int16) + residual - 128, 0, 255).astype(np.uint8)


def _fit_crf(image: Image, budget_bytes: int, preset: str, probe: int = 40) -> bytes:
    """The picture at the lowest crf (steps of 2) that fits the budget, b"" if not even 51:
    a probe at crf 40 gives a first guess (the size roughly halves every 6 crf). Each try is
    an encode, and a keyframe's picture waits for all of them: two or three in all."""
    size = len(intra_h265(image, probe, preset))
    crf = int(np.clip(probe + 6 * np.log2(max(1, size) / max(1, budget_bytes)), 10, 51))
    data = intra_h265(image, crf, preset)
    while len(data) > budget_bytes:  # too big: coarser until it fits
        if crf >= 51:
            return b""
        crf = min(51, crf + 2)
        data = intra_h265(image, crf, preset)
    # fits: finer while it still does (a step of 2 makes it ~1.26× bigger: skip a hopeless try)
    while crf > 10 and len(data) * 1.2 < budget_bytes:
        finer = intra_h265(image, crf - 2, preset)
        if len(finer) > budget_bytes:
            break
        crf, data = crf - 2, finer
    return data


def intra_h265(rgb: Image, crf: int, preset: str = "ultrafast") -> bytes:
    """One H.265 intra picture (headers included) of an RGB image."""
    h, w = rgb.shape[:2]
    enc = VideoEncoder("h265", w, h, 30.0, gop=1, crf=crf, preset=preset, single_thread=True)
    packets = enc.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24"))
    packets += enc.flush()
    return b"".join(p.data for p in packets)


DIFFERENCE_CODERS = {"vq": VQReplenishment, "x265": ResidualX265}
