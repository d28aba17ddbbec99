"""The real path once, on tiny configs: synth -> train AE -> export -> encode -> train diffusion
-> export -> generate from the exported model (CLI all the way)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import soundfile as sf
from safetensors.torch import load_file

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
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a jazz trio\nsolo piano\n")
    r = jen1(
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
        # the in-training evaluation: FAD of 2 generated clips against the corpus' test split
        *("--eval-every", 2, "--eval-prompts", prompts, "--eval-reference", data / "audio"),
        *("--eval-n", 2, "--eval-seconds", 1.0, "--eval-steps", 2),
    )
    assert "step 2: eval fad" in r.stdout
    import csv

    rows = list(csv.DictReader(next((dif_run / "logs").glob("version_*/metrics.csv")).open()))
    assert any(row.get("loss") for row in rows)
    fads = [(int(row["step"]), float(row["eval_fad"])) for row in rows if row.get("eval_fad")]
    assert len(fads) == 1 and fads[0][0] == 2 and np.isfinite(fads[0][1]) and fads[0][1] > 0
    lufs = [float(row["eval_lufs"]) for row in rows if row.get("eval_lufs")]
    assert len(lufs) == 1 and -70 < lufs[0] < 10  # the generated clips' loudness beside it
    assert (dif_run / "eval_reference.npz").exists()  # embedded once, reused on resume
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
    # fine-tune the exported model's U-Net on a cache encoded with its autoencoder: the run
    # trains in (and exports) that model's latent normaliser, not the one refit on the cache
    data2, cache = tmp_path / "data2", tmp_path / "cache2"  # another corpus: user music
    jen1("data", "synth", data2, "--clips", 4, "--seconds", 1.5, "--seed", 1, "--soundfont", TIMGM)
    jen1("data", "encode", data2, "--autoencoder", model, "--out", cache, "--config", "tiny")
    refit = load_file(str(cache / "autoencoder" / "model.safetensors"))
    tune_run, tuned = tmp_path / "tune-run", tmp_path / "tuned"
    jen1(
        "train",
        "diffusion",
        "--config",
        model,
        "--init",
        model,
        "--data",
        cache,
        "--out",
        tune_run,
        "--max-steps",
        1,
        "--no-progress",
    )
    jen1("export", tune_run, tuned)
    base, new = (
        load_file(str(model / "model.safetensors")),
        load_file(str(tuned / "model.safetensors")),
    )
    norm = [k for k in base if k.startswith("autoencoder.normalizer.")]
    assert norm and all(torch.equal(base[k].float(), new[k].float()) for k in norm)
    assert not all(torch.equal(base[k].float(), refit[k].float()) for k in norm)  # it differs
    unet = [k for k in base if k.startswith("unet.")]
    deltas = [(new[k].float() - base[k].float()).abs().max().item() for k in unet]
    assert 0 < max(deltas) < 0.05  # one small step away from the model it started from
    # a cache of another encoder, or another U-Net config, is refused with a clear error
    from jen1.checkpoint import load_model_dir, save_model_dir
    from jen1.config import load_config, parse_override
    from jen1.errors import Jen1Error
    from jen1.train.stages import DiffusionStage

    cfg = load_config(model)
    ae_cfg, ae_state = load_model_dir(cache / "autoencoder", ("autoencoder",))
    key = next(k for k in ae_state["autoencoder"] if k.startswith("encoder."))
    ae_state["autoencoder"][key] = ae_state["autoencoder"][key] + 0.01
    save_model_dir(cache / "autoencoder", ae_cfg, ae_state)
    with pytest.raises(Jen1Error, match="another encoder"):
        DiffusionStage(cfg, cache, init=model)
    with pytest.raises(Jen1Error, match="--config"):
        DiffusionStage(parse_override(cfg, "unet.dropout=0.1"), cache, init=model)


@pytest.mark.skipif(not TIMGM.exists(), reason="needs timgm6mb-soundfont (scripts/install.sh)")
def test_flow_objective_trains_and_generates_from_the_cli(tmp_path):
    """``--set diffusion.objective=flow`` (with its schedule) trains, is recorded in the exported
    config, and ``jen1 generate`` samples it with the model's default sampler and with others."""
    data, ae_run, ae_model = tmp_path / "data", tmp_path / "ae-run", tmp_path / "ae-model"
    jen1("data", "synth", data, "--clips", 4, "--seconds", 1.5, "--soundfont", TIMGM)
    jen1("train", "autoencoder", "--config", "tiny", "--data", data, "--out", ae_run,
         "--max-steps", 2, "--no-progress")  # fmt: skip
    jen1("export", ae_run, ae_model)
    jen1("data", "encode", data, "--autoencoder", ae_model, "--config", "tiny", "--no-progress")
    run, model = tmp_path / "flow-run", tmp_path / "flow-model"
    flow = ["diffusion.objective=flow", "diffusion.schedule=flow", "diffusion.train_t=logit_normal"]
    args = ["train", "diffusion", "--config", "tiny", "--data", data / "latents", "--out", run]
    jen1(*args, "--max-steps", 3, "--no-progress", *[a for o in flow for a in ("--set", o)])
    jen1("export", run, model)
    dcfg = json.loads((model / "config.json").read_text())["diffusion"]
    assert (dcfg["objective"], dcfg["schedule"]) == ("flow", "flow")
    assert dcfg["train_t"] == "logit_normal"
    for extra in ([], ["--sampler", "heun"], ["--sampler", "euler"]):
        out = tmp_path / f"flow{len(extra)}{''.join(extra)}.wav"
        jen1("generate", "a jazz trio", "--seconds", 0.5, "--model", model, "-o", out, *extra)
        wav, _ = sf.read(str(out))
        assert wav.shape[0] == 24000 and np.isfinite(wav).all() and np.abs(wav).max() > 0
    # a refused combination is one line, naming both keys
    r = subprocess.run(
        [sys.executable, "-m", "jen1.cli", *map(str, args), "--set", "diffusion.objective=flow"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode != 0
    assert "objective 'flow' and schedule 'flow' go together" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
