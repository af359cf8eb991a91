"""Difference information V′ (paper eq 13–16): what the receiver cannot generate from the text.

The sender knows the prediction P the receiver will make (it runs the same generator), so it
sends only what P misses, within a byte budget per keyframe. Two representations, compared by
``bench.m3e`` (see docs/m3e.md for the choice):

- ``VQReplenishment``: the VQ token space. Γ (eq 14–15) weighs each token position by how far
  the real latent lies from P's quantised latent (softmax over positions of that squared
  distance); positions are sent most important first as (position, code) until the budget is
  spent, so a smaller budget cuts the tail. The receiver decodes P's tokens with the received
  ones put in, and blends the decoded patches into P (elsewhere P is kept as generated).
- ``X265Difference``: a conventional codec on what P misses: an H.265 P-frame over P (or an
  intra picture when P is mid-grey), at the best quality (lowest crf) within the budget, but
  never finer than a quality floor, so that what P already shows costs little.

Images are (H, W, 3) uint8 with H, W multiples of 8.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Callable
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


class X265Difference:
    """What P misses, coded by x265 at the best quality (lowest crf, at least ``finest_crf``)
    that fits the budget.

    Over a picture (a keyframe the receiver holds, moved by the motion): one H.265 P-frame
    whose reference is P itself. Both ends code P as a fine intra picture in the same way (the
    receiver re-encodes it: nothing of it is sent), so the P-frame's skip blocks and local
    motion vectors use P where it is right and spend the bits where it is not, and a wrong P
    costs no more than intra coding (the residual real - P as an intra picture instead: SSIM
    0.38 vs 0.76 over another picture's keyframe at 2.5 kB, docs/m3e.md). Over mid-grey
    (nothing known resembles the keyframe): the keyframe as one intra picture, at half or
    quarter size (upsampled at the receiver) when even crf 51 is too big.

    Wire format: one mode byte (0 / 1 / 2: intra at 1 / ½ / ¼ size; 3: P-frame over P); for
    mode 3 also the crf (u8) and the CRC-32 of the reference's bitstream (u32 le), so a receiver
    whose x265 codes P differently rejects V′ instead of showing garbage; then the HEVC data.
    """

    name = "x265"
    SCALES = (1, 2, 4)
    INTER = 3
    # the reference's intra picture 18 QP finer than the P-frame: as good a reference as 36 QP
    # finer (near lossless) over a decoded, moved view (SSIM 0.80 either way), in 44 ms, not 72
    REFERENCE_IPRATIO = 8

    def __init__(self, preset: str = "ultrafast", finest_crf: int = 40) -> None:
        # ultrafast: as good as medium at equal bytes on these pictures, 3× faster (bench.difference)
        self.preset = preset
        # never finer than this: a keyframe of a scene already shown then costs only its
        # change, not the whole budget, which is left to new scenes (docs/m3e.md)
        self.finest_crf = finest_crf
        # the last reference coded, (crf, CRC of P, its bitstream): the sender decodes what it
        # has just encoded, and need not code the reference a second time
        self._last_reference: tuple[int, int, bytes] | None = None

    def encode(self, real: Image, prediction: Image, budget_bytes: int) -> bytes:
        if np.ptp(prediction) > 0:
            tries: dict[int, tuple[bytes, bytes]] = {}

            def p_frame(crf: int) -> bytes:
                tries[crf] = self._inter(prediction, real, crf)
                return tries[crf][1]

            crf, data = fit_crf(p_frame, budget_bytes - 6, finest=self.finest_crf)  # header: mode, crf, CRC
            if not data:
                return b""
            self._last_reference = (crf, zlib.crc32(prediction.tobytes()), tries[crf][0])
            return bytes([self.INTER, crf]) + struct.pack("<I", zlib.crc32(tries[crf][0])) + data
        h, w = real.shape[:2]
        for k, scale in enumerate(self.SCALES):
            size = (w // scale // 8 * 8, h // scale // 8 * 8)
            small = real if scale == 1 else cv2.resize(real, size, interpolation=cv2.INTER_AREA)
            small = np.asarray(small, np.uint8)
            intra = functools.partial(intra_h265, small, preset=self.preset)
            _, data = fit_crf(intra, budget_bytes - 1, finest=self.finest_crf)
            if data:
                return bytes([k]) + data
        return b""

    def decode(self, prediction: Image, data: bytes) -> Image:
        if not data:
            return prediction
        if data[0] == self.INTER:
            if len(data) < 7 or not 0 <= data[1] <= 51:
                raise ValueError("x265 P-frame difference with a malformed header")
            reference = self._reference(prediction, data[1])
            if zlib.crc32(reference) != struct.unpack("<I", data[2:6])[0]:
                raise ValueError("x265 P-frame difference made over another reference")
            frames = VideoDecoder("h265").decode_all([reference, data[6:]])
            if len(frames) != 2:
                raise ValueError("x265 P-frame difference does not decode")
            return frames[-1]
        if data[0] >= len(self.SCALES):
            raise ValueError(f"x265 difference with unknown mode {data[0]}")
        frames = VideoDecoder("h265").decode(data[1:])
        if not frames:
            raise ValueError("x265 difference does not decode")
        h, w = prediction.shape[:2]
        picture = frames[-1]
        if picture.shape[:2] != (h, w):
            if picture.shape[0] * self.SCALES[data[0]] > h + 8:
                raise ValueError("x265 difference larger than the keyframe")
            picture = np.asarray(cv2.resize(picture, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)
        return picture

    def _reference(self, prediction: Image, crf: int) -> bytes:
        """P's intra picture as the P-frames coded at ``crf`` refer to it."""
        last = self._last_reference
        if last is not None and last[:2] == (crf, zlib.crc32(prediction.tobytes())):
            return last[2]
        return self._inter(prediction, None, crf)[0]

    def _inter(self, reference: Image, real: Image | None, crf: int) -> tuple[bytes, bytes]:
        """(the reference's intra picture, the P-frame of ``real`` over it; b"" without real)."""
        h, w = reference.shape[:2]
        enc = VideoEncoder(
            "h265",
            w,
            h,
            30.0,
            gop=250,
            crf=crf,
            preset=self.preset,
            single_thread=True,
            extra=f"ipratio={self.REFERENCE_IPRATIO}",
        )
        pictures = [reference] if real is None else [reference, real]
        packets = [p for im in pictures for p in enc.encode(_frame(im))] + enc.flush()
        return packets[0].data, b"".join(p.data for p in packets[1:])


def _frame(rgb: Image) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")


def fit_crf(
    code: Callable[[int], bytes], budget_bytes: int, first: int = 40, max_tries: int = 6, finest: int = 10
) -> tuple[int, bytes]:
    """(crf, code(crf)) at the lowest crf in [finest, 51] whose data fits the budget; b"" when
    not even crf 51 does. ``first``: the first crf to try. Each try is an encode, and a
    keyframe's picture waits for all of them: the next crf is interpolated in log size between
    the nearest tries that fit and that do not (the size roughly halves every 6 crf), three or
    four tries in all."""
    data: dict[int, bytes] = {}
    crf = max(first, finest)
    for _ in range(max_tries):
        data[crf] = code(crf)
        size = {c: max(1, len(d)) for c, d in data.items()}
        over = max((c for c in data if size[c] > budget_bytes), default=None)  # too big
        fits = min((c for c in data if size[c] <= budget_bytes), default=None)
        if fits is not None and (fits == finest or over == fits - 1):
            break
        if over == 51 and fits is None:
            return 51, b""
        if over is None or fits is None:  # extrapolate from the one side known
            known = over if over is not None else fits
            assert known is not None
            guess = known + 6 * np.log2(size[known] / budget_bytes)
        else:  # interpolate between the two
            t = np.log2(size[over] / budget_bytes) / np.log2(size[over] / size[fits])
            guess = over + t * (fits - over)
        low, high = finest if over is None else over + 1, 51 if fits is None else fits - 1
        crf = int(np.clip(np.ceil(guess), low, high))
        if crf in data:  # no new crf left between the two
            break
    fitting = [c for c, d in data.items() if len(d) <= budget_bytes]
    return (min(fitting), data[min(fitting)]) if fitting else (51, b"")


def intra_h265(rgb: Image, crf: int, preset: str = "ultrafast") -> bytes:
    """One H.265 intra picture (headers included) of an RGB image."""
    h, w = rgb.shape[:2]
    enc = VideoEncoder("h265", w, h, 30.0, gop=1, crf=crf, preset=preset, single_thread=True)
    packets = enc.encode(_frame(rgb)) + enc.flush()
    return b"".join(p.data for p in packets)


DIFFERENCE_CODERS = {"vq": VQReplenishment, "x265": X265Difference}
