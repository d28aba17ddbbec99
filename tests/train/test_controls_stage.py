"""Controls end to end on tiny configs: a synthetic corpus's labels reach the latent cache, a
diffusion run with unet.controls trains on them, and its export follows --bpm (CLI)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


def jen1(*args):
    r = subprocess.run(
        [sys.executable, "-m", "jen1.cli", *map(str, args)], capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r


@pytest.mark.skipif(not TIMGM.exists(), reason="needs timgm6mb-soundfont (scripts/install.sh)")
def test_train_with_controls_and_generate_with_them(tmp_path):
    data, ae_run, ae_model = tmp_path / "data", tmp_path / "ae-run", tmp_path / "ae-model"
    jen1("data", "synth", data, "--clips", 4, "--seconds", 1.5, "--soundfont", TIMGM,
         "--no-progress", "--music21-share", 0)  # fmt: skip
    jen1("train", "autoencoder", "--config", "tiny", "--data", data, "--out", ae_run,
         "--max-steps", 1, "--no-progress")  # fmt: skip
    jen1("export", ae_run, ae_model)
    jen1("data", "encode", data, "--autoencoder", ae_model, "--config", "tiny", "--no-progress")
    index = json.loads((data / "latents" / "index.json").read_text())
    labels = [c for s in index["splits"].values() for c in s["controls"]]
    assert len(labels) == 4 and all(c["bpm"] and c["beats"] and c["chords"] for c in labels)
    run, model = tmp_path / "run", tmp_path / "model"
    jen1("train", "diffusion", "--config", "tiny", "--set", "unet.controls={}", "--data",
         data / "latents", "--out", run, "--max-steps", 2, "--no-progress")  # fmt: skip
    jen1("export", run, model)
    assert json.loads((model / "config.json").read_text())["unet"]["controls"]["dropout"] == 0.3
    out = tmp_path / "out.wav"
    r = jen1("generate", "a jazz trio in 3/4", "--bpm", 140, "--chords", "Dm G", "--seconds", 1.0,
             "--steps", 2, "--model", model, "-o", out, "--no-progress")  # fmt: skip
    assert "controls: tempo 140 BPM, meter 3/4 (from the prompt), chords Dm G" in r.stderr
    assert sf.info(str(out)).frames == 48000
