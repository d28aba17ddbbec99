"""jen1 eval autoencoder / reconstruct on a tiny random model (metrics, JSON, PNG)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import soundfile as sf
import torch

from jen1.eval.autoencoder import clip_metrics


def test_metrics_identical_vs_noisy():
    rng = np.random.default_rng(0)
    ref = torch.from_numpy(rng.uniform(-0.5, 0.5, (1, 2, 24000)).astype(np.float32))
    same = clip_metrics(ref, ref.clone())
    noisy = clip_metrics(ref, ref + 0.1 * torch.randn_like(ref))
    assert same["si_sdr/stereo"] > 60 and same["mrstft/stereo"] < 1e-3
    assert 5 < noisy["si_sdr/stereo"] < 20 and noisy["mel/mid"] > same["mel/mid"]
    assert {"si_sdr/left", "si_sdr/right", "si_sdr/mid", "si_sdr/side"} <= set(same)


def test_eval_autoencoder_cli(tiny_model_dir, tmp_path):
    rng = np.random.default_rng(1)
    for i in range(2):
        sf.write(
            str(tmp_path / f"c{i}.wav"),
            rng.uniform(-0.3, 0.3, (12000, 2)).astype(np.float32),
            48000,
        )
    out = tmp_path / "res.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "jen1.cli",
            "eval",
            "autoencoder",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(tmp_path),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "SI-SDR" in r.stdout and "mid" in r.stdout
    res = json.loads(out.read_text())
    assert res["clips"] == 2 and "si_sdr/side" in res["mean"]
    if shutil.which("ffmpeg"):  # the Opus reference rows, on the same clips
        assert set(res["rows"]) == {"model", "opus 6", "opus 12", "opus 24"}
        assert "opus 12" in r.stdout and "splice dip" in r.stdout
        assert res["rows"]["opus 24"]["mel/stereo"] < res["rows"]["opus 6"]["mel/stereo"]
    assert (tmp_path / "res.png").stat().st_size > 1000
    lat = res["latent"]
    assert lat["channels"] > 0 and 0 <= lat["channels_above_0db"] <= 1
    assert np.isfinite(lat["posterior_snr_db_median"]) and "posterior SNR" in r.stdout


def test_posterior_snr_sees_a_latent_drowned_in_its_noise():
    from jen1.config import load_config
    from jen1.eval.autoencoder import posterior_snr_db
    from jen1.models import build_autoencoder

    torch.manual_seed(0)
    ae = build_autoencoder(load_config("tiny").autoencoder).eval()
    wav = 0.3 * torch.randn(1, 2, 64 * ae.hop)
    with torch.no_grad():
        mean, _ = ae.encode_dist(wav)

    class Fixed(torch.nn.Module):  # a posterior with the same mean and a chosen variance
        def __init__(self, logvar):
            super().__init__()
            self.logvar = logvar

        def encode_dist(self, w):
            return mean, torch.full_like(mean, self.logvar)

    spread = mean.var(dim=-1)[0]
    quiet = posterior_snr_db(Fixed(float(torch.log(spread.min()) - 4.6)), wav)  # var / 100
    loud = posterior_snr_db(Fixed(float(torch.log(spread.max()) + 4.6)), wav)  # var x 100
    assert (quiet > 19).all() and (loud < -19).all()


def test_width_hf_and_splice_metrics_react():
    from jen1.eval.autoencoder import hf_energy_ratio, lr_correlation, splice_dip_db

    rng = np.random.default_rng(2)
    wide = torch.from_numpy(rng.standard_normal((1, 2, 48000)).astype(np.float32)) * 0.1
    mono = wide[:, :1].repeat(1, 2, 1)
    assert abs(lr_correlation(wide)) < 0.05 and lr_correlation(mono) > 0.999
    m = clip_metrics(wide, mono)
    assert m["width_error"] > 0.9 and clip_metrics(wide, wide)["width_error"] < 1e-9
    # a 4 kHz low-pass keeps almost nothing above 8 kHz
    spec = torch.fft.rfft(wide, dim=-1)
    spec[..., 4000:] = 0
    low = torch.fft.irfft(spec, n=48000, dim=-1)
    assert hf_energy_ratio(wide, low) < 0.01 and abs(hf_energy_ratio(wide, wide) - 1) < 1e-9
    # in phase: no dip; unrelated phase (other noise, same level): the powers add, ~1.8 dB
    other = torch.from_numpy(rng.standard_normal((1, 2, 48000)).astype(np.float32)) * 0.1
    assert abs(splice_dip_db(wide, wide)) < 1e-9
    assert 1.2 < splice_dip_db(wide, other) < 2.5


def test_flatness_sees_harmonics_turned_into_noise():
    from jen1.eval.autoencoder import flatness_db

    t = torch.arange(48000) / 48000
    tone = sum(torch.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 36))
    ref = 0.1 * torch.stack([tone, tone])[None].float()
    noise = 0.01 * torch.randn(1, 2, 48000, generator=torch.Generator().manual_seed(0))
    assert abs(flatness_db(ref, ref)) < 1e-9 and abs(flatness_db(ref, 0.5 * ref)) < 1e-6
    assert flatness_db(ref, noise) > 20  # the texture that replaced the harmonics
    assert np.isnan(flatness_db(torch.zeros(1, 2, 48000), noise))
    assert "flatness_db" in clip_metrics(ref, noise)


def test_opus_rows_and_ffmpeg_errors(monkeypatch, tmp_path):
    import shutil

    import pytest

    from jen1.errors import Jen1Error
    from jen1.eval import opus

    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg (scripts/install.sh installs it)")
    t = np.arange(48000) / 48000
    wav = (0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 550 * t)])).astype(
        np.float32
    )
    lo, hi = opus.opus_roundtrip(wav, 6), opus.opus_roundtrip(wav, 64)
    assert lo.shape == hi.shape == wav.shape
    ref = torch.from_numpy(wav)[None]
    m_lo = clip_metrics(ref, torch.from_numpy(lo)[None])
    m_hi = clip_metrics(ref, torch.from_numpy(hi)[None])
    assert m_hi["mel/stereo"] < m_lo["mel/stereo"]  # more bits, closer
    assert m_hi["si_sdr/stereo"] > 10  # aligned: no pre-skip offset
    # a failing ffmpeg is one clear error, and a missing one says what to install
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'Unknown encoder libopus' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(opus.shutil, "which", lambda name: str(fake))
    with pytest.raises(Jen1Error, match="ffmpeg could not encode Opus.*Unknown encoder"):
        opus.opus_roundtrip(wav, 12)
    monkeypatch.setattr(opus.shutil, "which", lambda name: None)
    with pytest.raises(Jen1Error, match="apt-get install ffmpeg"):
        opus.opus_roundtrip(wav, 12)


def test_fad_of_reconstructions_per_row(tiny_model_dir, tmp_path):
    """--fad: every row gets the FAD between the clips and its reconstructions; the tiny random
    autoencoder's is far above Opus at 24 kbit/s, which keeps these clips nearly intact."""
    from jen1.eval.autoencoder import evaluate_autoencoder, format_table

    t = np.arange(4 * 48000) / 48000
    files = []
    for i, f0 in enumerate((220.0, 330.0, 440.0)):
        tone = sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 6))
        tone = tone * (1 + 0.5 * np.sin(2 * np.pi * (i + 1) * t))  # a slow swell
        files.append(tmp_path / f"t{i}.wav")
        sf.write(str(files[-1]), np.stack([tone, tone], axis=1).astype(np.float32), 48000)
    opus = (24.0,) if shutil.which("ffmpeg") else ()
    res = evaluate_autoencoder(
        tiny_model_dir, files, seconds=4.0, progress=False, opus=opus, fad=True
    )
    rows = res["rows"]
    assert all(np.isfinite(r["fad"]) and r["fad"] >= 0 for r in rows.values())
    if opus:
        assert rows["opus 24"]["fad"] < rows["model"]["fad"]
    assert "FAD" in format_table(res)
