"""Autoencoder losses, metrics and the multi-scale STFT discriminator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jen1.autoencoder import losses as L
from jen1.autoencoder.discriminators import MultiScaleSTFTDiscriminator
from jen1.config import ConfigError, load_config


def _pair(length: int = 6000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = 0.3 * torch.randn(2, 2, length, generator=g)
    b = a + 0.05 * torch.randn(2, 2, length, generator=g)
    return a, b


def test_reconstruction_losses_zero_for_identical_positive_otherwise():
    cfg = load_config("tiny").ae_loss
    a, b = _pair()
    same = L.reconstruction_losses(a, a.clone(), cfg)
    diff = L.reconstruction_losses(a, b, cfg)
    assert set(same) == {"stft", "mel", "l1", "mid_side", "recon"}
    for k in same:
        assert same[k].abs() < 1e-6, k
        assert diff[k] > 1e-3, k
    torch.testing.assert_close(
        diff["recon"], diff["stft"] + diff["mel"] + diff["l1"] + diff["mid_side"]
    )
    # worse reconstruction -> larger loss
    worse = L.reconstruction_losses(a, a + 0.3 * torch.randn_like(a), cfg)
    assert worse["recon"] > diff["recon"]


def test_distances_and_si_sdr():
    a, b = _pair()
    assert L.mrstft_distance(a, a).abs().max() < 1e-6
    assert (L.mrstft_distance(a, b) > 0).all() and L.mrstft_distance(a, b).shape == (2,)
    assert L.mel_distance(a, a).abs().max() < 1e-6
    assert (L.mel_distance(a, b) > 0).all()
    s_same, s_diff = L.si_sdr(a, a), L.si_sdr(a, b)
    assert s_diff.shape == (2,)
    assert (s_same > 60).all()
    # noise at 1/6 of the signal amplitude: SI-SDR about 20 log10(6) = 15.6 dB
    assert ((s_diff - 20 * math.log10(6)).abs() < 1.0).all()
    assert (L.si_sdr(a, 3 * a) > 60).all()  # scale invariant
    mod = L.MultiResolutionSTFTLoss((256, 128))
    assert mod(a, a) < 1e-6 < mod(a, b)


def test_mel_filterbank_shape_and_triangles():
    fb = L.mel_filterbank(48000, 2048, 80).numpy()
    assert fb.shape == (80, 1025)
    assert (fb >= 0).all()
    assert (fb.sum(axis=1) > 0).all()  # no empty filter at this resolution
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()  # centres rise with the mel index


def test_kl_loss():
    z = torch.zeros(2, 4, 5)
    assert L.kl_loss(z, z) == 0
    assert L.kl_loss(z + 1, z) > 0
    assert L.kl_loss(z, z + 1) > 0
    # closed form for mean 1, var 1: 0.5 * 1 per channel, 4 channels
    torch.testing.assert_close(L.kl_loss(z + 1, z), torch.tensor(2.0))


def test_discriminator_outputs_and_adversarial_losses():
    cfg = load_config("tiny").ae_loss
    torch.manual_seed(0)
    disc = MultiScaleSTFTDiscriminator(cfg)
    a, b = _pair(4000)
    real, fake = disc(a), disc(b)
    assert len(real) == len(cfg.disc_windows)
    for logits, feats in real:
        assert logits.dim() == 4 and logits.shape[:2] == (2, 1)
        assert len(feats) == 5 and all(f.shape[0] == 2 for f in feats)
    assert L.feature_matching_loss(real, disc(a)) < 1e-6
    assert L.feature_matching_loss(real, fake) > 0
    d_loss = L.discriminator_loss(real, [(lg.detach(), fs) for lg, fs in fake])
    g_loss = L.generator_adv_loss(fake)
    assert d_loss.dim() == 0 and g_loss.dim() == 0 and d_loss > 0 and g_loss > 0
    g_loss.backward()
    assert all(p.grad is not None for p in disc.parameters())
    # hinge: a perfectly separated pair gives zero discriminator loss
    sep_real = [(torch.full((1, 1, 2, 2), 2.0), [])]
    sep_fake = [(torch.full((1, 1, 2, 2), -2.0), [])]
    assert L.discriminator_loss(sep_real, sep_fake) == 0
    assert L.generator_adv_loss(sep_fake) == 3.0


def test_losses_under_bf16_autocast_are_fp32():
    cfg = load_config("tiny").ae_loss
    a, b = _pair()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = L.reconstruction_losses(a, b.bfloat16(), cfg)
    assert out["recon"].dtype == torch.float32
    ref = L.reconstruction_losses(a, b.bfloat16().float(), cfg)
    torch.testing.assert_close(out["recon"], ref["recon"])


def test_mid_side_term_sees_interchannel_phase():
    """Per-channel spectra match when one channel is phase-shifted; the mid/side term does not."""
    import math

    from jen1.autoencoder.losses import reconstruction_losses
    from jen1.config import load_config

    lc = load_config("tiny").ae_loss
    t = torch.arange(8192) / 48000
    left = torch.sin(2 * math.pi * 750 * t)
    ref = torch.stack([left, left])[None]
    est = torch.stack([left, -left])[None]  # same magnitudes per channel, opposite phase
    out = reconstruction_losses(ref, est, lc)
    assert out["stft"] < 1e-3
    assert out["mid_side"] > 1.0
    assert torch.allclose(out["recon"], out["stft"] + out["mel"] + out["l1"] + out["mid_side"])


def test_shared_spectra_give_the_terms_of_the_separate_distances():
    """One STFT per window serves every term: each equals its distance computed on its own
    (the mid/side spectra from the left/right ones, the complex term from the same STFT)."""
    lc = load_config("small-v2").ae_loss
    assert lc.complex_weight > 0 and lc.mid_side_weight > 0
    a, b = _pair(length=9600)
    out = L.reconstruction_losses(a, b, lc)
    ms = L.mrstft_distance(L.to_mid_side(a), L.to_mid_side(b), lc.stft_windows).mean()
    torch.testing.assert_close(out["mid_side"], lc.mid_side_weight * ms)
    cplx = sum(L.complex_stft_distance(a, b, n) for n in lc.complex_windows).mean()
    torch.testing.assert_close(out["complex"], lc.complex_weight * cplx / len(lc.complex_windows))
    stft = L.mrstft_distance(a, b, lc.stft_windows).mean()
    torch.testing.assert_close(out["stft"], lc.stft_weight * stft)
    mel = L.mel_distance(a, b, n_mels=lc.mel_bins, windows=L.mel_windows(lc)).mean()
    torch.testing.assert_close(out["mel"], lc.mel_weight * mel)


def test_magnitude_ramp_scales_the_magnitude_terms_and_skips_them_at_zero():
    import dataclasses

    lc = dataclasses.replace(load_config("small-v2").ae_loss, magnitude_ramp=(100, 300))
    assert [L.magnitude_scale(lc, s) for s in (0, 99, 100, 200, 300, 10**6)] == [
        0.0, 0.0, 0.0, 0.5, 1.0, 1.0,
    ]  # fmt: skip
    assert L.magnitude_scale(load_config("small").ae_loss, 0) == 1.0  # (0, 0): always full
    a, b = _pair(length=9600)
    full = L.reconstruction_losses(a, b, lc)
    half = L.reconstruction_losses(a, b, lc, magnitude=0.5)
    off = L.reconstruction_losses(a, b, lc, magnitude=0.0)
    for k in ("stft", "mel", "mid_side"):
        torch.testing.assert_close(half[k], 0.5 * full[k])
        assert off[k] == 0
    for k in ("complex", "l1"):  # untouched by the ramp
        torch.testing.assert_close(off[k], full[k])
    torch.testing.assert_close(off["recon"], full["complex"] + full["l1"])


def test_kl_ramp_scales_the_kl_term_of_a_training_step():
    """ae_loss.kl_ramp: no KL in the loss before its start, the ramp's share of it midway."""
    import dataclasses
    import types

    from jen1.train.stages import AutoencoderStage

    fabric = types.SimpleNamespace(
        device=torch.device("cpu"),
        backward=lambda loss: loss.backward(),
        clip_gradients=lambda *a, **k: None,
    )
    wav = 0.1 * torch.randn(2, 2, 4800, generator=torch.Generator().manual_seed(1))

    def step_logs(kl_weight: float, step: int) -> dict[str, float]:
        cfg = load_config("tiny")
        lc = dataclasses.replace(cfg.ae_loss, kl_weight=kl_weight, kl_ramp=(5, 10))
        stage = AutoencoderStage(dataclasses.replace(cfg, ae_loss=lc), "unused")
        torch.manual_seed(0)
        stage.build(torch.device("cpu"))
        batch = {"wav": wav, "sample_id": torch.tensor([0, 1])}
        return stage.training_step(fabric, [batch], step)

    assert [L.kl_scale(load_config("tiny").ae_loss, 0)] == [1.0]  # (0, 0): always full
    before, without = step_logs(1.0, 0), step_logs(0.0, 0)
    assert before["kl"] > 0 and before["loss"] == pytest.approx(without["loss"], rel=1e-6)
    mid, without = step_logs(1.0, 7), step_logs(0.0, 7)
    assert mid["loss"] == pytest.approx(without["loss"] + 0.4 * mid["kl"], rel=1e-4)
    with pytest.raises(ConfigError, match="kl_ramp"):
        dataclasses.replace(load_config("tiny").ae_loss, kl_ramp=(10, 5))


def test_posterior_health_tells_collapse_and_silence_from_a_working_latent():
    """A collapsed posterior (means at 0, variance 1) reads far below 0 dB, a silent output ~0."""
    g = torch.Generator().manual_seed(0)
    wav = 0.1 * torch.randn(2, 2, 4800, generator=g)
    working = L.posterior_health(
        torch.randn(2, 8, 10, generator=g), torch.full((2, 8, 10), -6.0), wav, wav
    )
    assert working["latent_snr_db"] > 20 and working["out_in_energy"] == pytest.approx(1.0)
    assert working["post_var"] == pytest.approx(float(torch.tensor(-6.0).exp()), rel=1e-5)
    collapsed = L.posterior_health(
        1e-3 * torch.randn(2, 8, 10, generator=g), torch.zeros(2, 8, 10), wav, 0 * wav
    )
    assert collapsed["latent_snr_db"] < -40 and collapsed["out_in_energy"] == 0.0


def test_autoencoder_training_step_logs_posterior_health():
    """The step's logs carry the posterior variance, latent SNR and output energy."""
    import types

    from jen1.train.stages import AutoencoderStage

    fabric = types.SimpleNamespace(
        device=torch.device("cpu"), backward=lambda loss: loss.backward(),
        clip_gradients=lambda *a, **k: None,
    )
    stage = AutoencoderStage(load_config("tiny"), "unused")
    torch.manual_seed(0)
    stage.build(torch.device("cpu"))
    wav = 0.1 * torch.randn(2, 2, 4800, generator=torch.Generator().manual_seed(1))
    logs = stage.training_step(fabric, [{"wav": wav, "sample_id": torch.tensor([0, 1])}], 0)
    assert {"post_var", "latent_snr_db", "out_in_energy"} <= logs.keys()
    assert logs["post_var"] > 0 and logs["out_in_energy"] > 0


def test_mel_power_term_sees_the_energy_a_smoothed_spectrum_loses():
    """Harmonics against noise with the same log-mel magnitudes would pass the magnitude terms
    alike; the power term is what tells a spectrum with the band energies right from one without.
    Off by default, logged only when on."""
    import dataclasses

    from jen1.autoencoder.losses import reconstruction_losses
    from jen1.config import load_config

    lc = load_config("small").ae_loss
    assert load_config("small-v3").ae_loss.mel_power_weight > 0
    t = torch.arange(24000) / 48000
    ref = 0.01 * sum(torch.sin(2 * math.pi * f * t) for f in range(200, 16000, 400))
    ref = ref[None, None].repeat(1, 2, 1)
    assert "mel_power" not in reconstruction_losses(ref, 0.5 * ref, lc)
    on = dataclasses.replace(lc, mel_power_weight=1.0)
    assert float(reconstruction_losses(ref, ref, on)["mel_power"]) == 0.0
    # half the amplitude: a quarter of the energy, log10(4) = 0.60 in every band
    half = reconstruction_losses(ref, 0.5 * ref, on)
    assert abs(float(half["mel_power"]) - math.log10(4)) < 0.02
    assert abs(float(half["mel"]) - math.log10(2)) < 0.02
    torch.testing.assert_close(
        half["recon"], sum(v for k, v in half.items() if k not in ("recon",))
    )


def test_band_energy_term_sees_the_segment_balance_that_frames_hide():
    """One loud attack among quiet frames: missing it moves the median frame (what the
    per-frame log terms weigh) hardly at all, and the segment's band energy a lot."""
    import dataclasses

    from jen1.autoencoder.losses import reconstruction_losses
    from jen1.config import load_config

    g = torch.Generator().manual_seed(0)
    quiet = 0.003 * torch.randn(1, 2, 48000, generator=g)
    burst = quiet.clone()
    burst[..., 24000:24480] += 0.5 * torch.randn(1, 2, 480, generator=g)
    assert load_config("small-v3").ae_loss.band_energy_weight > 0
    lc = dataclasses.replace(load_config("small-v3").ae_loss, band_energy_weight=0.0)
    assert "band_energy" not in reconstruction_losses(burst, quiet, lc)
    on = dataclasses.replace(lc, band_energy_weight=1.0)
    missed = reconstruction_losses(burst, quiet, on)
    assert float(missed["band_energy"]) > 1.0  # the segment holds 10x the energy and more
    per_frame = float(missed["mel_power"]) / on.mel_power_weight
    assert per_frame < 0.5 * float(missed["band_energy"])
    assert float(reconstruction_losses(burst, burst, on)["band_energy"]) == 0.0
