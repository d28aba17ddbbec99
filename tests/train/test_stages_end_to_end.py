"""The real path once, on tiny configs: synth -> train AE -> export -> encode -> train diffusion
-> export -> generate from the exported model (CLI all the way)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


def jen1(*args):
    r = subprocess.run(
        [sys.executable, "-m", "jen1.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r


@pytest.mark.skipif(not TIMGM.exists(), reason="needs timgm6mb-soundfont (scripts/install.sh)")
def test_train_both_stages_and_generate(tmp_path):
    data, ae_run, ae_model = tmp_path / "data", tmp_path / "ae-run", tmp_path / "ae-model"
    jen1(
        "data", "synth", data, "--clips", 6, "--seconds", 1.5, "--soundfont", TIMGM, "--no-progress"
    )
    jen1(
        "train",
        "autoencoder",
        "--config",
        "tiny",
        "--data",
        data,
        "--out",
        ae_run,
        "--max-steps",
        3,
        "--no-progress",
    )
    jen1("export", ae_run, ae_model)
    r = jen1("data", "encode", data, "--autoencoder", ae_model, "--config", "tiny", "--no-progress")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert sum(summary["clips"].values()) == 6
    dif_run, model = tmp_path / "dif-run", tmp_path / "model"
    jen1(
        "train",
        "diffusion",
        "--config",
        "tiny",
        "--data",
        data / "latents",
        "--out",
        dif_run,
        "--max-steps",
        3,
        "--no-progress",
    )
    csv_text = next((dif_run / "logs").glob("version_*/metrics.csv")).read_text()
    assert "loss" in csv_text
    jen1("export", dif_run, model, "--dtype", "bfloat16")
    out = tmp_path / "out.wav"
    jen1("generate", "a jazz trio", "--seconds", 1.0, "--model", model, "-o", out, "--seed", 0)
    assert sf.info(str(out)).frames == 48000
    r = jen1("reconstruct", out, "-o", tmp_path / "rec.wav", "--model", ae_model)
    assert "SI-SDR" in r.stdout
    # improve the shipped decoder later without retraining the U-Net: frozen encoder
    ft_run, ft_model = tmp_path / "ft-run", tmp_path / "ft-model"
    jen1(
        "train",
        "autoencoder",
        "--config",
        "tiny",
        "--data",
        data,
        "--out",
        ft_run,
        "--init",
        model,
        "--set",
        "ae_loss.freeze_encoder=true",
        "--max-steps",
        2,
        "--no-progress",
    )
    jen1("export", ft_run, ft_model, "--unet-from", model)
    ft_cfg = json.loads((ft_model / "config.json").read_text())
    assert ft_cfg["ae_loss"]["freeze_encoder"] is True  # the decoder's recipe is recorded
    assert ft_cfg["unet"] == json.loads((model / "config.json").read_text())["unet"]
    jen1(
        "generate", "a jazz trio", "--seconds", 0.5, "--model", ft_model, "-o", tmp_path / "ft.wav"
    )
