"""STFT-domain encoder and decoder (``AutoencoderConfig.arch == "stft"``).

The decoder follows Vocos (Siuzdak 2023, arXiv 2306.00814): ConvNeXt blocks at a low frame rate
predict a complex STFT (log-magnitude and phase) that an inverse STFT turns into the waveform,
instead of transposed convolutions up to the sample rate. The encoder mirrors it: the complex STFT
of each channel (power-law compressed magnitude, real and imaginary parts, so phase and the
left/right relation are in the input) goes through ConvNeXt blocks to the latent rate.

Rates: STFT frames every ``stft_hop`` samples (window ``n_fft``, Hann); ``strides`` go from the
frame rate to the latent rate (strided conv in, transposed conv out), so
``hop = stft_hop * prod(strides)``. Blocks: ``stft_blocks[0]`` at the latent rate, ``[1]`` at the
frame rate, on each side. Convolutions are non-causal with zero padding, as in the waveform model,
so chunked coding with context margins matches one-shot coding inside the margins.

With ``lowband_mid``/``lowband_side`` (the hybrid codec) the first K = mid + side latent
channels are the low band's MDCT coefficients (:mod:`jen1.autoencoder.lowband`): the encoder's
network gives the other C - K, and the decoder's output is its network's inverse STFT plus the
low band's inverse MDCT. The decoder's network reads all C channels, so it can fill what the low
band leaves out (the band edge, latent frames masked in training).

Shapes: wav (B, A, L) with A audio channels and L a multiple of hop; frames N = L / stft_hop;
latent (B, C, T) with T = L / hop.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from jen1.autoencoder.lowband import LowbandCodec
from jen1.autoencoder.overlap import overlap_add
from jen1.config import AutoencoderConfig

_MAG_COMPRESS = 0.3  # |X|^0.3: the dynamic range of music spectra in a range a network likes
_LOG_MAG_MAX = math.log(1e2)  # Vocos clips exp(log-magnitude) at 100


# The cached tensors below are built outside inference mode: one built under
# ``torch.inference_mode`` (evaluation, generation) cannot be saved for backward by training in
# the same process afterwards.


@functools.lru_cache(maxsize=8)
def _window(n_fft: int) -> Tensor:
    with torch.inference_mode(False):
        return torch.hann_window(n_fft)


def stft_same(wav: Tensor, n_fft: int, hop: int) -> Tensor:
    """Complex STFT with "same" padding: exactly L / hop frames.

    Args:
        wav: (B, L) float, L a multiple of ``hop``.

    Returns:
        (B, F, N) complex64, F = n_fft // 2 + 1, N = L / hop.
    """
    pad = (n_fft - hop) // 2
    x = F.pad(wav.float(), (pad, pad))
    return torch.stft(
        x,
        n_fft,
        hop_length=hop,
        window=_window(n_fft).to(x.device),
        center=False,
        return_complex=True,
    )


def istft_same(spec: Tensor, n_fft: int, hop: int) -> Tensor:
    """Inverse of :func:`stft_same` by windowed overlap-add (Vocos' "same" padding).

    Args:
        spec: (B, F, N) complex.

    Returns:
        (B, N * hop) float32.
    """
    pad = (n_fft - hop) // 2
    n = spec.shape[-1]
    win = _window(n_fft).to(spec.device)
    frames = torch.fft.irfft(spec, n_fft, dim=1, norm="backward") * win[None, :, None]
    y = overlap_add(frames, hop)
    size = y.shape[-1]
    env = _window_envelope(n_fft, hop, n, str(spec.device))
    y = y[:, pad : size - pad]
    return y / env


@functools.lru_cache(maxsize=8)
def _window_envelope(n_fft: int, hop: int, frames: int, device: str) -> Tensor:
    """The summed squared windows :func:`istft_same` divides by, trimmed like its output:
    (frames * hop,) float32, clamped away from 0 (kept: chunked decoding repeats lengths)."""
    pad = (n_fft - hop) // 2
    with torch.inference_mode(False), torch.no_grad():
        sq = _window(n_fft).square().to(device)[None, :, None].expand(1, n_fft, frames)
        env = overlap_add(sq.contiguous(), hop)[0]
        return env[pad : env.shape[-1] - pad].clamp_min(1e-11)


def carrier(
    bins: int, frames: int, n_fft: int, hop: int, device: torch.device, frame_major: bool = False
) -> Tensor:
    """exp(2 pi i k hop n / n_fft) for bins k and frames n: (bins, frames) complex64, the phase
    a bin-centred steady partial advances by (exact: the angle is taken modulo n_fft in
    integers, so it does not drift over long audio); ``frame_major`` gives (frames, bins). It
    repeats every n_fft / gcd(n_fft, hop) frames: one period is computed (and kept) and tiled."""
    period = n_fft // math.gcd(n_fft, hop)
    block = _carrier_period(bins, period, n_fft, hop, frame_major).to(device)
    reps = -(-frames // period)
    if frame_major:
        return block.repeat(reps, 1)[:frames]
    return block.repeat(1, reps)[:, :frames]


@functools.lru_cache(maxsize=8)
def _carrier_period(bins: int, period: int, n_fft: int, hop: int, frame_major: bool) -> Tensor:
    with torch.inference_mode(False):
        k = torch.arange(bins, dtype=torch.int64)[:, None]
        n = torch.arange(period, dtype=torch.int64)[None, :]
        angle = ((k * hop * n) % n_fft).to(torch.float64) * (2 * math.pi / n_fft)
        block = torch.polar(torch.ones_like(angle), angle).to(torch.complex64)
        return block.T.contiguous() if frame_major else block


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k=7) -> LayerNorm -> Linear -> GELU -> Linear, scaled, plus the input."""

    def __init__(self, dim: int, hidden: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, hidden)
        self.pw2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: Tensor) -> Tensor:
        """(B, D, T) -> (B, D, T)."""
        h = rearrange(self.dwconv(x), "b d t -> b t d")
        h = self.pw2(F.gelu(self.pw1(self.norm(h)))) * self.gamma
        return x + rearrange(h, "b t d -> b d t")


def _blocks(cfg: AutoencoderConfig, n: int) -> nn.Sequential:
    hidden = round(cfg.stft_dim * cfg.stft_mlp_ratio)
    scale = 1.0 / max(1, sum(cfg.stft_blocks))
    return nn.Sequential(*(ConvNeXtBlock(cfg.stft_dim, hidden, scale) for _ in range(n)))


class _ChannelNorm(nn.Module):
    """LayerNorm over channels of a (B, D, T) tensor."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        return rearrange(self.norm(rearrange(x, "b d t -> b t d")), "b t d -> b d t")


def num_bins(cfg: AutoencoderConfig) -> int:
    return cfg.n_fft // 2 + 1


class StftEncoder(nn.Module):
    """(B, A, L) -> (B, 2C, L / hop): posterior mean and log-variance stacked on channels
    (the low band's coefficients and fixed log-variance first, when there is one)."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lowband = LowbandCodec(cfg.hop, cfg.lowband_mid, cfg.lowband_side)
        learnt = cfg.latent_dim - cfg.lowband_channels
        d = cfg.stft_dim
        self.proj = nn.Conv1d(2 * cfg.audio_channels * num_bins(cfg), d, 1)
        self.frame_blocks = _blocks(cfg, cfg.stft_blocks[1])
        down: list[nn.Module] = []
        for s in cfg.strides:
            down += [_ChannelNorm(d), nn.Conv1d(d, d, 2 * s, stride=s, padding=(s + 1) // 2)]
        self.down = nn.Sequential(*down)
        self.latent_blocks = _blocks(cfg, cfg.stft_blocks[0])
        self.out = nn.Sequential(_ChannelNorm(d), nn.Conv1d(d, 2 * learnt, 1))
        if cfg.logvar_init != 0.0:  # the log-variance rows: a constant to start from
            with torch.no_grad():
                self.out[-1].weight[learnt:].zero_()
                self.out[-1].bias[learnt:].fill_(cfg.logvar_init)

    def features(self, wav: Tensor) -> Tensor:
        """(B, A, L) -> (B, 2 A F, N): compressed complex spectra, real and imaginary parts."""
        b = wav.shape[0]
        cfg = self.cfg
        spec = stft_same(rearrange(wav, "b a l -> (b a) l"), cfg.n_fft, cfg.stft_hop)
        if cfg.stft_demodulate:
            spec = spec * carrier(*spec.shape[-2:], cfg.n_fft, cfg.stft_hop, spec.device).conj()
        spec = spec * spec.abs().clamp_min(1e-7).pow(_MAG_COMPRESS - 1)
        x = torch.cat([spec.real, spec.imag], dim=1)  # (B A, 2F, N)
        return rearrange(x, "(b a) f n -> b (a f) n", b=b)

    def forward(self, wav: Tensor) -> Tensor:
        """(B, A, L), L a multiple of hop -> (B, 2C, L / hop)."""
        x = self.features(wav).to(self.proj.weight.dtype)
        x = self.frame_blocks(self.proj(x))
        h = self.out(self.latent_blocks(self.down(x)))
        if not self.lowband.channels:
            return h
        coeffs = self.lowband.encode(wav).to(h.dtype)
        mean, logvar = h.chunk(2, dim=1)
        fixed = torch.full_like(coeffs, self.cfg.lowband_logvar)
        return torch.cat([coeffs, mean, fixed, logvar], dim=1)


class StftDecoder(nn.Module):
    """(B, C, T) -> (B, A, T * hop) through a predicted complex STFT and its inverse."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lowband = LowbandCodec(cfg.hop, cfg.lowband_mid, cfg.lowband_side)
        d = cfg.stft_dim
        self.embed = nn.Conv1d(cfg.latent_dim, d, 7, padding=3)
        self.latent_blocks = _blocks(cfg, cfg.stft_blocks[0])
        up: list[nn.Module] = []
        for s in reversed(cfg.strides):
            up += [
                _ChannelNorm(d),
                nn.ConvTranspose1d(
                    d, d, 2 * s, stride=s, padding=(s + 1) // 2, output_padding=s % 2
                ),
            ]
        self.up = nn.Sequential(*up)
        self.frame_blocks = _blocks(cfg, cfg.stft_blocks[1])
        self.norm = _ChannelNorm(d)
        # per bin: log-magnitude, then the phase (one angle, or a 2-d vector)
        self.per_bin = 3 if cfg.stft_phase == "vector" else 2
        self.head = nn.Conv1d(d, self.per_bin * cfg.audio_channels * num_bins(cfg), 1)
        # start quiet: exp(-5) per bin, so the first steps learn what sounds rather than
        # silencing a loud noise floor
        with torch.no_grad():
            self.head.bias.view(cfg.audio_channels, self.per_bin, -1)[:, 0].fill_(-5.0)

    def spectrum(self, z: Tensor) -> Tensor:
        """(B, C, T) -> (B A, F, N) complex64 spectrum, N = T * prod(strides).

        Computed frame-major (the head as a matmul on (B, N, D), the spectrum laid out as
        (B A, N, F) in memory and returned as its (B A, F, N) view), so that the inverse FFT
        and the overlap-add read it without transposing copies.
        """
        cfg = self.cfg
        x = self.frame_blocks(self.up(self.latent_blocks(self.embed(z))))
        x = self.norm.norm(rearrange(x, "b d n -> b n d"))
        h = F.linear(x, self.head.weight[..., 0], self.head.bias).float()  # (B, N, A K F)
        h = rearrange(h, "b n (a k f) -> b a k n f", a=cfg.audio_channels, k=self.per_bin)
        h = h.reshape(-1, *h.shape[2:])  # (B A, K, N, F): a view when B = 1
        mag = h[:, 0].clamp(max=_LOG_MAG_MAX).exp()
        if self.per_bin == 2:
            spec = torch.polar(mag, h[:, 1])
        else:
            re, im = h[:, 1], h[:, 2]
            scale = mag * torch.rsqrt(re.square() + im.square() + 1e-12)
            spec = torch.complex(re * scale, im * scale)
        if cfg.stft_demodulate:
            bins, frames = spec.shape[-1], spec.shape[-2]
            spec = spec * carrier(bins, frames, cfg.n_fft, cfg.stft_hop, spec.device, True)
        return spec.transpose(1, 2)

    def synthesize(self, spec: Tensor, batch: int, lowband: Tensor | None = None) -> Tensor:
        """(B A, F, N) complex spectrum (plus the (B, A, N * stft_hop) low band, if any) ->
        (B, A, N * stft_hop) float32, clipped to [-1, 1]."""
        with torch.autocast(spec.device.type, enabled=False):
            wav = istft_same(spec, self.cfg.n_fft, self.cfg.stft_hop)
            wav = rearrange(wav, "(b a) l -> b a l", b=batch)
            if lowband is not None:
                wav = wav + lowband
        return wav.clamp(-1.0, 1.0)

    def low(self, z: Tensor) -> Tensor | None:
        """(B, C, T) -> the low band its first channels code, (B, 2, T * hop), or None."""
        return self.lowband.decode(z[:, : self.lowband.channels]) if self.lowband.channels else None

    def forward(self, z: Tensor) -> Tensor:
        """(B, C, T) -> (B, A, T * hop) float32, clipped to [-1, 1]."""
        return self.synthesize(self.spectrum(z), z.shape[0], self.low(z))
