"""The hybrid codec's exactly coded low band: the MDCT projection, and the autoencoder around it."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from jen1.autoencoder.losses import si_sdr
from jen1.autoencoder.lowband import LowbandCodec
from jen1.autoencoder.model import AudioAutoencoder
from jen1.config import ConfigError, load_config
from tests.autoencoder.test_model import tiny_ae_config

HOP = 128


def _tone(hz: float, frames: int, hop: int = HOP, sr: int = 48000) -> torch.Tensor:
    """(1, 2, frames * hop): a tone, the right channel phase-shifted and quieter."""
    t = torch.arange(frames * hop) / sr
    left = 0.4 * torch.sin(2 * math.pi * hz * t)
    right = 0.2 * torch.sin(2 * math.pi * hz * t + 1.0)
    return torch.stack([left, right])[None]


def test_all_coefficients_reconstruct_exactly_inside_the_clip():
    codec = LowbandCodec(HOP, HOP, HOP)
    wav = 0.3 * torch.randn(2, 2, 40 * HOP, generator=torch.Generator().manual_seed(0))
    coeffs = codec.encode(wav)
    assert coeffs.shape == (2, 2 * HOP, 40)
    out = codec.decode(coeffs)
    assert out.shape == wav.shape
    # the half hop at each end lacks the neighbouring frame that cancels the aliasing
    inner = slice(HOP // 2, -HOP // 2)
    torch.testing.assert_close(out[..., inner], wav[..., inner], atol=1e-5, rtol=0)


def test_kept_coefficients_are_an_orthogonal_projection():
    codec = LowbandCodec(HOP, 10, 4)
    wav = 0.3 * torch.randn(1, 2, 60 * HOP, generator=torch.Generator().manual_seed(1))
    low = codec.decode(codec.encode(wav))
    inner = slice(2 * HOP, -2 * HOP)  # the ends' aliasing spreads over the frames there
    # projecting twice changes nothing, and the residual is orthogonal to what was kept
    again = codec.decode(codec.encode(low))
    torch.testing.assert_close(again[..., inner], low[..., inner], atol=1e-4, rtol=0)
    resid = (wav - low)[..., inner]
    assert abs(float((resid * low[..., inner]).sum())) < 1e-3 * float(wav.pow(2).sum())
    assert 0 < low.pow(2).sum() < wav.pow(2).sum()


def test_a_tone_inside_the_band_passes_with_its_phase_and_one_above_does_not():
    # coefficient k covers (k, k + 1) * 48000 / (2 * 128) = 187.5 Hz each
    codec = LowbandCodec(HOP, 8, 8)  # both mid and side up to 1.5 kHz
    inner = slice(HOP, -HOP)
    low = _tone(500.0, 60)
    assert si_sdr(low[..., inner], codec.decode(codec.encode(low))[..., inner]) > 30
    high = _tone(6000.0, 60)
    assert codec.decode(codec.encode(high)).pow(2).sum() < 1e-3 * high.pow(2).sum()


def test_side_coefficients_carry_the_difference_of_the_channels():
    wav = _tone(500.0, 60)
    inner = slice(HOP, -HOP)
    mono = LowbandCodec(HOP, 8, 0).decode(LowbandCodec(HOP, 8, 0).encode(wav))
    torch.testing.assert_close(mono[:, 0], mono[:, 1])  # mid only: both channels alike
    stereo = LowbandCodec(HOP, 8, 8)
    assert si_sdr(wav[..., inner], stereo.decode(stereo.encode(wav))[..., inner]) > 30


def test_hybrid_autoencoder_keeps_the_low_band_before_any_training():
    """The feature: an untrained hybrid codec already returns a bass line with its phase,
    where the same codec without the low band returns noise."""
    torch.manual_seed(0)
    wav = _tone(150.0, 60)  # inside both bands of the tiny hybrid (mid 562 Hz, side 375 Hz)
    inner = slice(HOP, -HOP)
    hybrid = AudioAutoencoder(tiny_ae_config("stft-hybrid")).eval()
    plain = AudioAutoencoder(tiny_ae_config("stft-demod")).eval()
    with torch.no_grad():
        assert si_sdr(wav[..., inner], hybrid.decode(hybrid.encode(wav))[..., inner]) > 20
        assert si_sdr(wav[..., inner], plain.decode(plain.encode(wav))[..., inner]) < 0


def test_hybrid_latent_layout_and_training_outputs():
    cfg = tiny_ae_config("stft-hybrid")
    ae = AudioAutoencoder(cfg)
    wav = _tone(300.0, 16)
    low = cfg.lowband_channels
    mean, logvar = ae.encode_dist(wav)
    assert mean.shape[1] == cfg.latent_dim
    torch.testing.assert_close(mean[:, :low], ae.encoder.lowband.encode(wav))
    torch.testing.assert_close(logvar[:, :low], torch.full_like(logvar[:, :low], -14.0))
    ae.train()
    out = ae(wav, generator=torch.Generator().manual_seed(0))
    assert out.lowband is not None and out.lowband.shape == wav.shape
    # masked frames silence the low band there too (JEN-1's masking covers every channel)
    assert out.masked.any()
    assert (out.z[:, :, out.masked[0]] == 0).all()


def test_eval_posterior_snr_covers_the_learnt_channels_only():
    from jen1.eval.autoencoder import posterior_snr_db

    cfg = tiny_ae_config("stft-hybrid")
    ae = AudioAutoencoder(cfg).eval()
    snr = posterior_snr_db(ae, 0.1 * torch.randn(1, 2, 32 * HOP))
    assert snr.shape == (cfg.latent_dim - cfg.lowband_channels,)


def test_lowband_config_is_checked():
    base = tiny_ae_config("stft-demod")
    with pytest.raises(ConfigError, match="arch 'stft' only"):
        dataclasses.replace(load_config("tiny").autoencoder, lowband_mid=2)
    with pytest.raises(ConfigError, match="below latent_dim"):
        dataclasses.replace(base, lowband_mid=6, lowband_side=2)
    with pytest.raises(ConfigError, match=">= 0"):
        dataclasses.replace(base, lowband_mid=-1)
    v3 = load_config("small-v3").autoencoder
    assert (v3.latent_dim, v3.lowband_channels, v3.hop) == (128, 64, 960)
