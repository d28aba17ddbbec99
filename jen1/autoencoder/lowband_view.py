"""The low band as the diffusion model sees it: smooth log-magnitudes instead of MDCT coefficients.

The hybrid codec's first latent channels are exact MDCT coefficients of the low band
(:mod:`jen1.autoencoder.lowband`). They keep the phase, which reconstruction and splices need,
but frame to frame they swing in sign like a waveform, and a U-Net trained on them learnt little
more there than to shrink the noise (its x0 estimates at mid noise levels barely beat a plain
Wiener shrink on those channels while the learnt channels were well fitted; the generated low
band was loud noise). Generative models of spectra keep magnitudes and rebuild the phase instead
(GANSynth's magnitudes, any Griffin-Lim vocoder); this module does that for the low band:

- :func:`to_magnitudes`: coefficients -> the low band's waveform (the inverse MDCT, exact) ->
  its STFT log-magnitudes, one frame per latent frame, on the same bins (25 Hz apart for a hop
  of 960 at 48 kHz): as many channels as coefficients, smooth in time.
- :func:`from_magnitudes`: log-magnitudes -> a waveform by fast Griffin-Lim (Perraudin et al.
  2013) -> its MDCT coefficients, which the decoder takes as before.

The low band is band-limited (below ``max(mid, side) * sample_rate / (2 hop)``), so both run on
the waveform taken every d-th sample (:func:`decimation`: 10 for the hop of 960): ten times fewer
samples, the same bins.
``AutoencoderConfig.lowband_view = "magnitude"`` turns this on for the latents of the latent
cache and of the pipeline (:class:`jen1.inference.codec.LatentCodec`); the autoencoder itself,
its training and ``jen1 eval autoencoder`` keep the exact coefficients.

Shapes: coefficients and log-magnitudes (B, K, T), K = mid + side; mid first.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from jen1.autoencoder.lowband import LowbandCodec
from jen1.autoencoder.stft_codec import istft_same, stft_same

MAX_DECIMATE = 10  # the low band (below 1.2 kHz for 48 bins of hop 960) fits 4.8 kHz sampling
MAG_FLOOR = 1e-3  # log(|X| + floor): about 90 dB below a full-scale sine's peak bin
GL_ITERS = 32  # fast Griffin-Lim iterations (momentum 0.99 converges in tens)
GL_MOMENTUM = 0.99
GL_OVERSAMPLE = 4  # Griffin-Lim runs at hop / 4 (75% more frames than overlap needs)


def _split(codec: LowbandCodec, coeffs: Tensor, d: int) -> tuple[Tensor, Tensor]:
    """(B, K, T) coefficients -> mid and side waveforms, every d-th sample, (B, T hop / d)."""
    wav = codec.decode(coeffs)  # (B, 2, T hop): left, right
    mid, side = (wav[:, 0] + wav[:, 1]) / 2, (wav[:, 0] - wav[:, 1]) / 2
    return mid[:, ::d], side[:, ::d]


def decimation(hop: int, bins: int) -> int | None:
    """The largest d <= MAX_DECIMATE that divides ``hop`` with ``hop / d`` a multiple of
    GL_OVERSAMPLE and the low band (``bins`` coefficients) within half the decimated Nyquist
    frequency (a guard band for the windows' leakage); None if there is none."""
    for d in range(MAX_DECIMATE, 0, -1):
        if hop % d == 0 and (hop // d) % GL_OVERSAMPLE == 0 and 2 * bins <= hop // d:
            return d
    return None


def check_view(cfg) -> None:
    """Refuse an ``AutoencoderConfig`` the magnitude view cannot serve (one-line ConfigError)."""
    from jen1.config import ConfigError

    if not cfg.lowband_channels:
        raise ConfigError("autoencoder.lowband_view 'magnitude' needs a low band (lowband_mid)")
    if decimation(cfg.hop, max(cfg.lowband_mid, cfg.lowband_side)) is None:
        raise ConfigError(
            f"autoencoder.lowband_view 'magnitude' needs a hop divisible by {GL_OVERSAMPLE} with "
            f"the low band below a quarter of the sample rate / {GL_OVERSAMPLE}, got hop {cfg.hop}"
        )


def _sizes(codec: LowbandCodec) -> tuple[int, int, int]:
    """(decimation, n_fft, hop) of the decimated analysis: two latent hops of window, one of
    hop."""
    d = decimation(codec.hop, max(codec.mid, codec.side))
    if d is None:
        raise ValueError(f"no magnitude view for a hop of {codec.hop} and {codec.mid} bins")
    return d, 2 * (codec.hop // d), codec.hop // d


@torch.no_grad()
def to_magnitudes(codec: LowbandCodec, coeffs: Tensor) -> Tensor:
    """(B, K, T) MDCT coefficients -> (B, K, T) float32 log-magnitudes of the same bins."""
    with torch.autocast(coeffs.device.type, enabled=False):
        d, n_fft, hop = _sizes(codec)
        mid, side = _split(codec, coeffs.float(), d)
        parts = []
        for x, bins in ((mid, codec.mid), (side, codec.side)):
            if bins:
                parts.append(stft_same(x, n_fft, hop)[:, :bins].abs())
        return torch.log(torch.cat(parts, dim=1) + MAG_FLOOR)


@torch.no_grad()
def from_magnitudes(
    codec: LowbandCodec,
    logmag: Tensor,
    iters: int = GL_ITERS,
    seed: int = 0,
    known: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """(B, K, T) log-magnitudes -> (B, K, T) float32 MDCT coefficients of a waveform with those
    magnitudes (fast Griffin-Lim from phases drawn with ``seed``: deterministic).

    ``known``: (coefficients (B, K, T), mask (B, 1, T), 1 on frames the caller has exactly, as
    inpainting and continuation have their context). Those frames keep their coefficients, and
    Griffin-Lim holds their spectrum fixed, so the rebuilt phase of the other frames runs on
    from theirs (no jump at the join).
    """
    with torch.autocast(logmag.device.type, enabled=False):
        d, n_fft, hop = _sizes(codec)
        b, _, t = logmag.shape
        # no bin of audio in [-1, 1] exceeds a full-scale sine's peak, n_fft / 4 with a hann
        # window: a generated log-magnitude above it (a U-Net early in training overshoots)
        # is clipped to it rather than rebuilt as a clipping, deafening low band
        top = math.log(n_fft / 4 + MAG_FLOOR)
        mag = (logmag.float().clamp(max=top).exp() - MAG_FLOOR).clamp(min=0.0)
        fine, up = hop // GL_OVERSAMPLE, GL_OVERSAMPLE
        length = t * hop
        exact = hold = None
        if known is not None:
            coeffs, mask = known[0].float(), known[1].float()
            exact = _split(codec, coeffs * mask, d)  # the known frames' waveform
            # a fine frame is held when every latent frame it overlaps is known
            m = mask[:, 0].repeat_interleave(up, dim=-1)  # (B, T up)
            span = n_fft // fine // 2  # fine frames on each side a window reaches
            hold = -F.max_pool1d(-m[:, None], 2 * span + 1, 1, span)[:, 0] > 0.5
        # frame k of the fine grid is centred at (k + 1/2) fine: interpolate between the
        # coarse frames' centres ((t + 1/2) hop), holding the ends
        pos = ((torch.arange(t * up, device=mag.device) + 0.5) / up - 0.5).clamp(0, t - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=t - 1)
        w = (pos - lo).to(mag.dtype)
        out = []
        parts = ((mag[:, : codec.mid], codec.mid, 0), (mag[:, codec.mid :], codec.side, 1))
        for part, bins, which in parts:
            if not bins:
                out.append(logmag.new_zeros(b, length))
                continue
            # (B, bins, T up); the bins above are silent (irfft pads them with zeros)
            target = part[..., lo] * (1 - w) + part[..., hi] * w
            gen = torch.Generator(device="cpu").manual_seed(seed)
            phase = torch.rand(target.shape, generator=gen).to(target.device) * (2 * math.pi)
            spec = torch.polar(target, phase)
            fixed = None
            if exact is not None:
                fixed = stft_same(exact[which], n_fft, fine)[:, :bins]
                spec = torch.where(hold[:, None], fixed, spec)
            prev = spec
            for _ in range(iters):
                proj = stft_same(istft_same(spec, n_fft, fine), n_fft, fine)[:, :bins]
                acc = proj + GL_MOMENTUM * (proj - prev)  # fast Griffin-Lim
                prev = proj
                spec = acc * (target / (acc.abs() + 1e-12))  # |target|, the phase of acc
                if fixed is not None:
                    spec = torch.where(hold[:, None], fixed, spec)
            out.append(istft_same(spec, n_fft, fine))
        mid, side = out
        # back to the full rate: the band-limited signal's spectrum, zero-padded
        lr = torch.stack([mid + side, mid - side], dim=1)  # (B, 2, length)
        wav = torch.fft.irfft(torch.fft.rfft(lr, dim=-1), n=length * d, dim=-1) * d
        coeffs_out = codec.encode(wav)
        if known is not None:
            coeffs_out = mask * known[0].float() + (1 - mask) * coeffs_out
        return coeffs_out


def to_view(cfg, z: Tensor) -> Tensor:
    """(B, C, T) autoencoder latents -> the latents the diffusion model sees (``cfg``: the
    ``AutoencoderConfig``): the low band's channels as log-magnitudes for ``lowband_view``
    "magnitude", unchanged for "mdct"."""
    if getattr(cfg, "lowband_view", "mdct") != "magnitude":
        return z
    codec = LowbandCodec(cfg.hop, cfg.lowband_mid, cfg.lowband_side).to(z.device)
    k = codec.channels
    return torch.cat([to_magnitudes(codec, z[:, :k]).to(z.dtype), z[:, k:]], dim=1)


CHUNK_FRAMES = 1500  # Griffin-Lim windows of the magnitude view (30 s at 50 Hz): flat memory
MARGIN_FRAMES = 50  # frames each side a window also sees (its start holds its left neighbour's)


def from_view(cfg, z: Tensor, known: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Inverse of :func:`to_view` (the phase rebuilt, so not bit-exact): what the decoder takes.

    ``known``: (autoencoder latents (B, C, T), mask (B, 1, T)) of frames known exactly: their
    low band is kept and the rebuilt phase continues from it (:func:`from_magnitudes`). Long
    latents are rebuilt window by window (``CHUNK_FRAMES``), each window holding the frames the
    one before it rebuilt in its left margin, so the phase runs on and memory stays flat.
    """
    if getattr(cfg, "lowband_view", "mdct") != "magnitude":
        return z
    codec = LowbandCodec(cfg.hop, cfg.lowband_mid, cfg.lowband_side).to(z.device)
    k = codec.channels
    b, _, t = z.shape
    coeffs = z.new_zeros(b, k, t, dtype=torch.float32)
    mask = z.new_zeros(b, 1, t, dtype=torch.float32)
    if known is not None:
        coeffs, mask = known[0][:, :k].float().clone(), known[1].float().clone()
    low = torch.empty(b, k, t, dtype=torch.float32, device=z.device)
    for s in range(0, t, CHUNK_FRAMES):
        a, e = max(0, s - MARGIN_FRAMES), min(t, s + CHUNK_FRAMES + MARGIN_FRAMES)
        held = mask[..., a:e].clone()
        ref = coeffs[..., a:e].clone()
        if s > a:  # the left margin: as the previous window rebuilt it
            held[..., : s - a] = 1.0
            ref[..., : s - a] = low[..., a:s]
        any_held = bool(held.any())
        part = from_magnitudes(codec, z[:, :k, a:e], known=(ref, held) if any_held else None)
        n = min(CHUNK_FRAMES, t - s)
        low[..., s : s + n] = part[..., s - a : s - a + n]
    return torch.cat([low.to(z.dtype), z[:, k:]], dim=1)
