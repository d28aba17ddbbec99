"""The exactly coded low band of the hybrid STFT codec (``AutoencoderConfig.lowband_mid/side``).

Low-bitrate audio codecs code the low band as a waveform and the high band parametrically (Opus'
hybrid mode, HE-AAC's spectral band replication), because the low band holds most of the energy
and its phase is what a listener and any waveform metric (SI-SDR, a crossfade against the
original) notice. The hybrid codec does the same with a learnt high band: the first latent
channels are the lowest MDCT coefficients of the mid (L+R)/2 and side (L-R)/2 signals, one MDCT
frame per latent frame, and the decoder adds their inverse MDCT to what its network predicts.

The MDCT here is the orthonormal one with a sine window (Princen-Bradley): its frames (2 hop
samples, hop apart) form an orthonormal basis, so keeping the lowest K of its hop coefficients is
an orthogonal projection of the signal and decoding them gives that projection back exactly,
phase included. Frame t is centred on the latent frame's own hop (the same alignment as
:func:`jen1.autoencoder.stft_codec.stft_same`); the half hop at each end of a clip lacks the
neighbouring frame that cancels the MDCT's time-domain aliasing there.

Shapes: wav (B, 2, L) with L a multiple of hop; coefficients (B, K, T), K = mid + side, T = L / hop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jen1.autoencoder.overlap import overlap_add

# Coefficients are scaled so that music at a usual level gives channels of roughly unit spread,
# like the learnt ones beside them (the orthonormal MDCT of a hop of 960 gives about 15 per unit
# of sine amplitude).
COEFF_SCALE = 0.25


def mdct_basis(hop: int, bins: int) -> Tensor:
    """Sine-windowed orthonormal MDCT analysis rows for the lowest ``bins`` coefficients.

    Returns:
        (bins, 1, 2 hop) float32: row k is ``sqrt(2 / hop) w[n] cos(pi / hop (n + 1/2 + hop/2)
        (k + 1/2))`` with ``w[n] = sin(pi (n + 1/2) / (2 hop))``.
    """
    n = torch.arange(2 * hop, dtype=torch.float64)
    k = torch.arange(bins, dtype=torch.float64)
    window = torch.sin(math.pi * (n + 0.5) / (2 * hop))
    phase = math.pi / hop * (n[None, :] + 0.5 + hop / 2) * (k[:, None] + 0.5)
    rows = math.sqrt(2.0 / hop) * window[None, :] * torch.cos(phase)
    return rows[:, None, :].float()


class LowbandCodec(nn.Module):
    """Fixed (parameter-free) MDCT coding of the low band of mid and side.

    ``mid`` and ``side``: how many of the hop MDCT coefficients of each are kept (the lowest
    ones; coefficient k covers (k, k + 1) * sample_rate / (2 hop) Hz).
    """

    basis: Tensor

    def __init__(self, hop: int, mid: int, side: int) -> None:
        super().__init__()
        if not 0 <= mid <= hop or not 0 <= side <= hop:
            raise ValueError(f"lowband coefficients must be in [0, {hop}], got {mid} and {side}")
        self.hop, self.mid, self.side = hop, mid, side
        self.register_buffer("basis", mdct_basis(hop, max(mid, side, 1)), persistent=False)

    @property
    def channels(self) -> int:
        """Latent channels the low band takes: mid + side."""
        return self.mid + self.side

    def _analyse(self, x: Tensor, bins: int) -> Tensor:
        """(B, L) -> (B, bins, L / hop)."""
        h = self.hop
        x = F.pad(x[:, None], (h // 2, h - h // 2))
        return F.conv1d(x, self.basis[:bins].to(x.dtype), stride=h)

    def _synthesise(self, coeffs: Tensor) -> Tensor:
        """(B, bins, T) -> (B, T hop): each frame's waveform, then overlap-add.

        A matmul and an overlap-add rather than a transposed convolution: oneDNN builds a new
        kernel for each input length of that one, which cost 0.25 s per new length (measured).
        """
        h, (bins, t) = self.hop, coeffs.shape[1:]
        frames = torch.einsum("bkt,kn->bnt", coeffs, self.basis[:bins, 0].to(coeffs.dtype))
        return overlap_add(frames, h)[:, h // 2 : h // 2 + t * h]

    def encode(self, wav: Tensor) -> Tensor:
        """(B, 2, L), L a multiple of hop -> (B, mid + side, L / hop) scaled coefficients."""
        with torch.autocast(wav.device.type, enabled=False):
            wav = wav.float()
            mid = (wav[:, 0] + wav[:, 1]) / 2
            side = (wav[:, 0] - wav[:, 1]) / 2
            parts = []
            if self.mid:
                parts.append(self._analyse(mid, self.mid))
            if self.side:
                parts.append(self._analyse(side, self.side))
            return torch.cat(parts, dim=1) * COEFF_SCALE

    def decode(self, coeffs: Tensor) -> Tensor:
        """(B, mid + side, T) -> (B, 2, T hop) float32: the low band as left and right."""
        with torch.autocast(coeffs.device.type, enabled=False):
            c = coeffs.float() / COEFF_SCALE
            b, t = c.shape[0], c.shape[-1]
            zero = c.new_zeros(b, t * self.hop)
            mid = self._synthesise(c[:, : self.mid]) if self.mid else zero
            side = self._synthesise(c[:, self.mid :]) if self.side else zero
            return torch.stack([mid + side, mid - side], dim=1)
