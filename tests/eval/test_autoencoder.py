"""jen1 eval autoencoder / reconstruct on a tiny random model (metrics, JSON, PNG)."""

import json
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
    assert (tmp_path / "res.png").stat().st_size > 1000
