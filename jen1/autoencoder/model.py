"""Masked convolutional VAE: 48 kHz stereo waveform (B, 2, L) <-> continuous latent (B, C, T).

JEN-1 (arXiv 2308.04729, section 4.1) trains its autoencoder with a share of latent frames masked
before the decoder, which makes the decoder robust to imperfect latents from diffusion. Here a
masked frame is replaced by **zeros** (no learned mask vector), only in training mode.

Architecture: DAC / Oobleck-style strided conv encoder and transposed-conv decoder with Snake
activations. Channel widths follow stable-audio-tools' convention ``c = [1, *mults] * width``:
encoder block i maps ``c[i] -> c[i+1]`` downsampling by ``strides[i]``; the decoder mirrors it.
The decoder ends in ``tanh``, so decoded audio is always inside (-1, 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jen1 import rng
from jen1.autoencoder.blocks import (
    DecoderBlock,
    EncoderBlock,
    from_channels_last,
    make_activation,
    run,
    to_channels_last,
    wn_conv1d,
)
from jen1.autoencoder.normalizer import LatentNormalizer
from jen1.config import AutoencoderConfig

LOGVAR_MIN = -20.0
LOGVAR_MAX = 5.0


@dataclass
class AutoencoderOutput:
    """Result of :meth:`AudioAutoencoder.forward`.

    Attributes:
        recon: (B, 2, L) reconstruction, same length as the input.
        mean: (B, C, T) posterior mean.
        logvar: (B, C, T) posterior log-variance (clamped to [-20, 5]).
        z: (B, C, T) latent fed to the decoder (sampled and masked in training; ``mean`` in eval).
        masked: (B, T) bool, True where a latent frame was replaced by zeros (all False in eval).
        spectrum: arch "stft" only: (B A, F, N) complex spectrum the decoder predicted, before
            its inverse STFT (for ``ae_loss.spectrum_weight``); None for arch "conv".
        lowband: hybrid codec only: (B, 2, L) the low band decoded from ``z``'s first channels,
            which ``recon`` includes and ``spectrum`` does not; None otherwise.
    """

    recon: Tensor
    mean: Tensor
    logvar: Tensor
    z: Tensor
    masked: Tensor
    spectrum: Tensor | None = None
    lowband: Tensor | None = None


def _layers(layers: nn.Sequential, x: Tensor) -> Tensor:
    """Run the encoder's or decoder's layers on (B, D, L); channels-last inside when training.

    With autograd recording, the layers run on channels-last (B, D, 1, L), which makes the
    training step markedly faster. Inference keeps (B, D, L): oneDNN's primitive cache holds
    the buffers of channels-last kernels over many samples for the rest of the process, a cost
    in resident memory larger than the gain of a slightly faster decode (figures in
    ``benchmarks/README.md``).
    """
    if not torch.is_grad_enabled():
        return layers(x)
    return from_channels_last(run(layers, to_channels_last(x)))


class Encoder(nn.Module):
    """(B, 2, L) -> (B, 2C, L / hop): posterior mean and log-variance stacked on channels."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        c = [cfg.encoder_channels * m for m in (1, *cfg.encoder_mults)]
        layers: list[nn.Module] = [wn_conv1d(cfg.audio_channels, c[0], cfg.kernel_size)]
        for i, stride in enumerate(cfg.strides):
            layers.append(
                EncoderBlock(c[i], c[i + 1], stride, cfg.dilations, cfg.kernel_size, cfg.activation)
            )
        layers += [make_activation(cfg.activation, c[-1]), wn_conv1d(c[-1], 2 * cfg.latent_dim, 3)]
        self.layers = nn.Sequential(*layers)

    def forward(self, wav: Tensor) -> Tensor:
        """(B, 2, L) with L a multiple of hop -> (B, 2C, L / hop); see :func:`_layers`."""
        return _layers(self.layers, wav)


class Decoder(nn.Module):
    """(B, C, T) -> (B, 2, T * hop) in (-1, 1)."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        c = [cfg.decoder_channels * m for m in (1, *cfg.decoder_mults)]
        layers: list[nn.Module] = [wn_conv1d(cfg.latent_dim, c[-1], cfg.kernel_size)]
        for i in reversed(range(len(cfg.strides))):
            layers.append(
                DecoderBlock(
                    c[i + 1], c[i], cfg.strides[i], cfg.dilations, cfg.kernel_size, cfg.activation
                )
            )
        layers += [
            make_activation(cfg.activation, c[0]),
            wn_conv1d(c[0], cfg.audio_channels, cfg.kernel_size),
            nn.Tanh(),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """(B, C, T) -> (B, 2, T * hop); see :func:`_layers`."""
        return _layers(self.layers, z)


class AudioAutoencoder(nn.Module):
    """JEN-1 masked autoencoder with a VAE bottleneck and a latent normaliser.

    State dict keys: ``encoder.*``, ``decoder.*`` and ``normalizer.{mean,whiten,unwhiten,count}``
    (the :class:`LatentNormalizer` statistics travel with the autoencoder weights; they are the
    identity until ``normalizer.finalize()`` has run).
    """

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        if cfg.arch == "conv" and (
            len(cfg.encoder_mults) != len(cfg.strides) or len(cfg.decoder_mults) != len(cfg.strides)
        ):
            raise ValueError("encoder_mults and decoder_mults need one entry per stride")
        self.cfg = cfg
        if cfg.arch == "stft":
            from jen1.autoencoder.stft_codec import StftDecoder, StftEncoder

            self.encoder: nn.Module = StftEncoder(cfg)
            self.decoder: nn.Module = StftDecoder(cfg)
        else:
            self.encoder = Encoder(cfg)
            self.decoder = Decoder(cfg)
        self.normalizer = LatentNormalizer(cfg.latent_dim)

    # --- properties ------------------------------------------------------------------------
    @property
    def hop(self) -> int:
        """Waveform samples per latent frame."""
        return self.cfg.hop

    @property
    def latent_dim(self) -> int:
        """Latent channels C."""
        return self.cfg.latent_dim

    @property
    def sample_rate(self) -> int:
        """Audio sample rate in Hz."""
        return self.cfg.sample_rate

    def num_frames(self, num_samples: int) -> int:
        """Latent frames T = ceil(num_samples / hop)."""
        return -(-num_samples // self.hop)

    # --- encode / decode -------------------------------------------------------------------
    def _check_wav(self, wav: Tensor) -> None:
        if wav.dim() != 3 or wav.shape[1] != self.cfg.audio_channels:
            raise ValueError(
                f"expected wav of shape (B, {self.cfg.audio_channels}, L), got {tuple(wav.shape)}"
            )

    def encode_dist(self, wav: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior of the latent.

        Args:
            wav: (B, 2, L); right-padded with zeros to a multiple of hop.

        Returns:
            mean, logvar: each (B, C, T) with T = ceil(L / hop), dtype of ``wav``.
        """
        self._check_wav(wav)
        pad = self.num_frames(wav.shape[-1]) * self.hop - wav.shape[-1]
        if pad:
            wav = F.pad(wav, (0, pad))
        h = self.encoder(wav).to(wav.dtype)
        mean, logvar = h.chunk(2, dim=1)  # (B, C, T) each
        return mean, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def encode(self, wav: Tensor) -> Tensor:
        """Deterministic latent: the posterior mean. (B, 2, L) -> (B, C, ceil(L / hop))."""
        return self.encode_dist(wav)[0]

    def decode(self, z: Tensor, length: int | None = None) -> Tensor:
        """Latent to waveform.

        Args:
            z: (B, C, T) raw (un-normalised) latent.
            length: trim the output to exactly this many samples (<= T * hop); default T * hop.

        Returns:
            wav: (B, 2, L) in (-1, 1), dtype of ``z``.
        """
        if z.dim() != 3 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}, T), got {tuple(z.shape)}")
        wav = self.decoder(z).to(z.dtype)
        if length is not None:
            if length > wav.shape[-1]:
                raise ValueError(f"length {length} exceeds T * hop = {wav.shape[-1]}")
            wav = wav[..., :length]
        return wav

    def forward(self, wav: Tensor, *, generator: rng.Generators = None) -> AutoencoderOutput:
        """Encode, (training: sample and mask), decode.

        In training mode z = mean + std * eps and ``round(mask_ratio * T)`` randomly chosen frames
        per item are set to zero before the decoder; in eval mode z = mean, nothing is masked.

        Args:
            wav: (B, 2, L).
            generator: optional RNG for the noise and the mask (on wav's device), or one
                generator per item (``jen1.rng``), which makes each item's draws independent
                of the batch it is in.

        Returns:
            AutoencoderOutput with recon (B, 2, L).
        """
        mean, logvar = self.encode_dist(wav)
        b, _, t = mean.shape
        masked = torch.zeros(b, t, dtype=torch.bool, device=mean.device)
        if self.training:
            eps = rng.randn(mean.shape, generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
            num_masked = round(self.cfg.mask_ratio * t)
            if num_masked > 0:
                scores = rng.rand((b, t), generator, device=mean.device)
                idx = scores.argsort(dim=1)[:, :num_masked]  # (B, k) frames to mask
                masked.scatter_(1, idx, True)
                z = z.masked_fill(masked[:, None, :], 0.0)
        else:
            z = mean
        spectrum = lowband = None
        if self.cfg.arch == "stft":
            spectrum = self.decoder.spectrum(z)
            lowband = self.decoder.low(z)
            recon = self.decoder.synthesize(spectrum, b, lowband)[..., : wav.shape[-1]]
            recon = recon.to(wav.dtype)
            if lowband is not None:
                lowband = lowband[..., : wav.shape[-1]]
        else:
            recon = self.decode(z, length=wav.shape[-1]).to(wav.dtype)
        return AutoencoderOutput(
            recon=recon,
            mean=mean,
            logvar=logvar,
            z=z,
            masked=masked,
            spectrum=spectrum,
            lowband=lowband,
        )

    # --- long audio ------------------------------------------------------------------------
    def _chunk_frames(
        self, chunk_seconds: float | None, overlap_seconds: float | None
    ) -> tuple[int, int]:
        chunk_s = self.cfg.chunk_seconds if chunk_seconds is None else chunk_seconds
        overlap_s = self.cfg.overlap_seconds if overlap_seconds is None else overlap_seconds
        if chunk_s <= 0 or overlap_s < 0:
            raise ValueError("chunk_seconds must be > 0 and overlap_seconds >= 0")
        window = max(1, round(chunk_s * self.cfg.frame_rate))
        margin = math.ceil(overlap_s * self.cfg.frame_rate)
        q = self.cfg.frame_quantum  # windows start where the demodulation carrier repeats
        return -(-window // q) * q, -(-margin // q) * q

    def encode_chunked(
        self,
        wav: Tensor,
        chunk_seconds: float | None = None,
        overlap_seconds: float | None = None,
    ) -> Tensor:
        """:meth:`encode` in windows of ``chunk_seconds``, ``overlap_seconds`` of context each side.

        Each window is encoded with its context margins and the margin frames are discarded, so
        activation memory depends on the window, not on L. With margins wider than the encoder's
        receptive field the result equals :meth:`encode` up to float rounding.

        Args:
            wav: (B, 2, L).

        Returns:
            mean: (B, C, ceil(L / hop)).
        """
        self._check_wav(wav)
        window, margin = self._chunk_frames(chunk_seconds, overlap_seconds)
        t = self.num_frames(wav.shape[-1])
        if t <= window + 2 * margin:
            return self.encode(wav)
        wav = F.pad(wav, (0, t * self.hop - wav.shape[-1]))
        out = []
        for s in range(0, t, window):
            a, e = max(0, s - margin), min(t, s + window + margin)
            mean = self.encode(wav[..., a * self.hop : e * self.hop])  # (B, C, e - a)
            out.append(mean[..., s - a : s - a + min(window, t - s)])
        return torch.cat(out, dim=-1)

    def decode_chunked(
        self,
        z: Tensor,
        length: int | None = None,
        chunk_seconds: float | None = None,
        overlap_seconds: float | None = None,
    ) -> Tensor:
        """:meth:`decode` in windows of latent frames with context margins that are discarded.

        The window is ``round(chunk_seconds * frame_rate)`` frames and the margin
        ``ceil(overlap_seconds * frame_rate)`` frames each side.

        Args:
            z: (B, C, T).
            length: trim to this many samples (default T * hop).

        Returns:
            wav: (B, 2, L).
        """
        return torch.cat(list(self.decode_stream(z, length, chunk_seconds, overlap_seconds)), -1)

    def decode_stream(
        self,
        z: Tensor,
        length: int | None = None,
        chunk_seconds: float | None = None,
        overlap_seconds: float | None = None,
    ) -> Iterator[Tensor]:
        """:meth:`decode_chunked` one window at a time: yields (B, 2, n) pieces in order.

        Their concatenation is ``decode_chunked``'s output, and memory holds one window's
        decoding at a time, whatever the length of ``z``.
        """
        window, margin = self._chunk_frames(chunk_seconds, overlap_seconds)
        t = z.shape[-1]
        if length is not None and length > t * self.hop:
            raise ValueError(f"length {length} exceeds T * hop = {t * self.hop}")
        if t <= window + 2 * margin:
            yield self.decode(z, length=length)
            return
        left = t * self.hop if length is None else length  # samples still to yield
        for s in range(0, t, window):
            if left <= 0:
                return
            a, e = max(0, s - margin), min(t, s + window + margin)
            wav = self.decode(z[..., a:e])  # (B, 2, (e - a) * hop)
            n = min(window, t - s) * self.hop
            piece = wav[..., (s - a) * self.hop : (s - a) * self.hop + min(n, left)]
            left -= piece.shape[-1]
            yield piece
