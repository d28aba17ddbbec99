"""The STFT autoencoder's transforms and the phase-aware loss term."""

from __future__ import annotations

import torch

from jen1.autoencoder.losses import complex_stft_distance, mrstft_distance
from jen1.autoencoder.stft_codec import istft_same, stft_same


def test_stft_same_has_one_frame_per_hop_and_inverts_exactly():
    wav = torch.randn(3, 64 * 50)
    spec = stft_same(wav, 256, 64)
    assert spec.shape == (3, 129, 50)
    torch.testing.assert_close(istft_same(spec, 256, 64), wav, atol=1e-4, rtol=1e-4)


def test_istft_same_is_differentiable():
    spec = torch.randn(2, 129, 20, dtype=torch.complex64, requires_grad=True)
    istft_same(spec, 256, 64).pow(2).sum().backward()
    assert spec.grad is not None and spec.grad.abs().sum() > 0


def test_complex_distance_sees_phase_that_magnitudes_miss():
    g = torch.Generator().manual_seed(0)
    ref = 0.1 * torch.randn(1, 2, 48000, generator=g)
    shifted = torch.roll(ref, 6, dims=-1)  # 6 samples late: same magnitudes, other phases
    other = 0.1 * torch.randn(1, 2, 48000, generator=g)
    mag_shift = mrstft_distance(ref, shifted, (2048, 1024))
    assert mag_shift < 0.2 * mrstft_distance(ref, other, (2048, 1024))
    cplx_shift = complex_stft_distance(ref, shifted, 1024)
    assert cplx_shift > 0.5 * complex_stft_distance(ref, other, 1024)
    assert complex_stft_distance(ref, ref, 1024) == 0


def _decoder(phase: str):
    import dataclasses

    from jen1.autoencoder.stft_codec import StftDecoder
    from jen1.config import load_config

    cfg = dataclasses.replace(
        load_config("tiny").autoencoder, arch="stft", strides=(2,), stft_hop=64, n_fft=256,
        stft_dim=32, stft_mlp_ratio=2.0, stft_blocks=(1, 1), stft_phase=phase,
    )
    return StftDecoder(cfg).eval()


def test_vector_phase_head_takes_the_phase_from_a_direction_and_the_magnitude_apart():
    dec = _decoder("vector")
    with torch.no_grad():
        dec.head.weight.zero_()
        bias = dec.head.bias.view(2, 3, -1)  # (audio channels, log-mag/re/im, bins)
        bias[:, 0] = torch.log(torch.tensor(0.5))
        bias[:, 1] = -3.0  # the vector (-3, 3): phase 3 pi / 4, whatever its length
        bias[:, 2] = 3.0
    spec = dec.spectrum(torch.randn(1, dec.cfg.latent_dim, 4))
    assert spec.shape == (2, 129, 8) and spec.is_complex()
    torch.testing.assert_close(spec.abs(), torch.full((2, 129, 8), 0.5))
    torch.testing.assert_close(spec.angle(), torch.full((2, 129, 8), 3 * torch.pi / 4))
    assert dec(torch.randn(3, dec.cfg.latent_dim, 4)).shape == (3, 2, 8 * 64)


def test_scalar_phase_head_is_kept_for_existing_checkpoints():
    dec = _decoder("scalar")
    assert dec.head.out_channels == 2 * 2 * 129  # (log-mag, angle) per bin and channel
    assert _decoder("vector").head.out_channels == 3 * 2 * 129


def test_spectrum_loss_is_zero_for_the_exact_spectrum_and_sees_phase():
    from jen1.autoencoder.losses import spectrum_loss

    g = torch.Generator().manual_seed(0)
    wav = 0.1 * torch.randn(2, 2, 64 * 40, generator=g)
    exact = stft_same(wav.reshape(4, -1), 256, 64)
    assert spectrum_loss(wav, exact, 256, 64) < 1e-6
    turned = exact * torch.exp(1j * torch.rand(exact.shape, generator=g) * 6.28)
    silent = spectrum_loss(wav, torch.zeros_like(exact), 256, 64)
    assert spectrum_loss(wav, turned, 256, 64) > 0.3 * silent
    # a shorter waveform is padded to the spectrum's frames
    assert spectrum_loss(wav[..., :-10], exact, 256, 64) < 0.01


def test_spectrum_log_magnitude_loss_ignores_phase_and_sees_level():
    from jen1.autoencoder.losses import spectrum_log_magnitude_loss

    g = torch.Generator().manual_seed(0)
    wav = 0.1 * torch.randn(2, 2, 64 * 40, generator=g)
    exact = stft_same(wav.reshape(4, -1), 256, 64)
    turned = exact * torch.exp(1j * torch.rand(exact.shape, generator=g) * 6.28)
    assert spectrum_log_magnitude_loss(wav, exact, 256, 64) < 1e-5
    assert spectrum_log_magnitude_loss(wav, turned, 256, 64) < 1e-4  # the phase is not its job
    quiet = spectrum_log_magnitude_loss(wav, 0.1 * exact, 256, 64)
    assert abs(quiet - torch.log(torch.tensor(10.0))) < 1e-3  # a level 10x too low: log 10


def test_demodulation_makes_a_steady_partial_steady():
    """A bin-centred sine's raw STFT phase turns by 2 pi k hop / n_fft per frame; demodulated
    by the carrier it stays put, and the carrier is exact far into long audio."""
    import math

    from jen1.autoencoder.stft_codec import carrier

    n_fft, hop, k = 256, 64, 10
    t = torch.arange(64 * 40, dtype=torch.float64)
    wav = torch.cos(2 * math.pi * k * t / n_fft).float()[None]
    spec = stft_same(wav, n_fft, hop)[0, k]  # (N,)
    raw_turn = (spec[1:] / spec[:-1]).angle()
    assert raw_turn.abs().min() > 1.0  # pi / 2 per frame for k = 10
    steady = spec * carrier(129, spec.shape[-1], n_fft, hop, spec.device)[k].conj()
    inner = steady[4:-4]  # away from the zero padding at the ends
    assert (inner / inner[0]).angle().abs().max() < 1e-3
    far = carrier(129, 10**5, n_fft, hop, spec.device)[:, -8:]  # frame ~1e5: no drift
    torch.testing.assert_close(far, carrier(129, 8, n_fft, hop, spec.device))  # period 4 divides


def test_logvar_init_starts_the_posterior_narrow():
    import dataclasses

    import pytest

    from jen1.autoencoder.model import AudioAutoencoder
    from jen1.config import ConfigError, load_config

    base = dataclasses.replace(
        load_config("tiny").autoencoder, arch="stft", strides=(2,), stft_hop=64, n_fft=256,
        stft_dim=32, stft_mlp_ratio=2.0, stft_blocks=(1, 1),
    )  # fmt: skip
    wav = 0.1 * torch.randn(1, 2, 64 * 32)
    for init in (0.0, -6.0):
        ae = AudioAutoencoder(dataclasses.replace(base, logvar_init=init))
        _, logvar = ae.encode_dist(wav)
        if init:
            torch.testing.assert_close(logvar, torch.full_like(logvar, init))
        else:
            assert logvar.std() > 0.01  # free from the first step
    with pytest.raises(ConfigError, match="arch 'stft' only"):
        dataclasses.replace(load_config("tiny").autoencoder, logvar_init=-6.0)


def test_transforms_cached_under_inference_mode_still_train():
    # an evaluation (inference mode) first fills the caches of windows, envelopes, carriers and
    # mel filterbanks; training in the same process must be able to save them for backward
    from jen1.autoencoder.losses import mel_filterbank, stft_magnitude
    from jen1.autoencoder.stft_codec import carrier

    args = (1152, 288)  # sizes no other test uses, so this test fills the caches itself
    with torch.inference_mode():
        wav = torch.randn(1, 288 * 8)
        istft_same(stft_same(wav, *args) * carrier(577, 8, *args, wav.device), *args)
        stft_magnitude(wav[None], 1152)
        mel_filterbank(48000, 1152, 40)
    wav = torch.randn(1, 288 * 8, requires_grad=True)
    spec = stft_same(wav, *args) * carrier(577, 8, *args, wav.device)
    out = istft_same(spec, *args)
    mel = mel_filterbank(48000, 1152, 40) @ stft_magnitude(out[None], 1152)[0, 0]
    (out.square().sum() + mel.sum()).backward()
    assert wav.grad is not None and wav.grad.abs().sum() > 0
