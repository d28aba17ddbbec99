"""jen1.train.export: a run's latest checkpoint's EMA weights as a model directory."""

import pytest
import torch

from jen1.checkpoint import load_model_dir, save_model_dir
from jen1.errors import Jen1Error
from jen1.models import build_autoencoder, build_unet
from jen1.train.ema import EMA
from jen1.train.export import export_model, export_run
from jen1.train.loop import CKPT_PREFIX


def _ae_run(run, cfg, step, shift):
    """A run directory holding an autoencoder checkpoint whose EMA differs from its weights."""
    ae = build_autoencoder(cfg.autoencoder)
    ema = EMA(ae, 0.9)
    with torch.no_grad():
        for p in ema.shadow.parameters():
            p.add_(shift)
    state = {
        "stage": "autoencoder",
        "config": cfg.to_dict(),
        "step": step,
        "modules": {"autoencoder": ae.state_dict()},
        "ema": {"autoencoder": ema.state_dict()},
    }
    run.mkdir(exist_ok=True)
    torch.save(state, run / f"{CKPT_PREFIX}{step:08d}.pt")
    return ema.shadow.state_dict()


def test_the_latest_checkpoints_ema_is_exported(tmp_path, tiny_config):
    run = tmp_path / "run"
    _ae_run(run, tiny_config, 5, 0.0)
    shadow = _ae_run(run, tiny_config, 12, 0.5)
    cfg, comps, step = export_run(run)
    assert step == 12 and cfg == tiny_config and set(comps) == {"autoencoder"}
    assert all(torch.equal(comps["autoencoder"][k], v) for k, v in shadow.items())
    summary = export_model(run, tmp_path / "m", dtype="bfloat16", card="# card\n")
    assert summary["step"] == 12 and summary["parameters"]["autoencoder"] > 0
    _, state = load_model_dir(tmp_path / "m")
    k = next(k for k, v in shadow.items() if v.is_floating_point())
    assert torch.equal(state["autoencoder"][k], shadow[k].bfloat16().float())
    assert (tmp_path / "m" / "model_card.md").read_text() == "# card\n"
    with pytest.raises(Jen1Error, match="already holds a model"):
        export_model(run, tmp_path / "m")
    export_model(run, tmp_path / "m", overwrite=True)


def test_unet_from_takes_a_models_unet_when_the_encoder_matches(tmp_path, tiny_config):
    run = tmp_path / "run"
    shadow = _ae_run(run, tiny_config, 3, 0.0)  # encoder equal to the base model's
    unet = build_unet(tiny_config).state_dict()
    save_model_dir(tmp_path / "base", tiny_config, {"autoencoder": shadow, "unet": unet})
    export_model(run, tmp_path / "m", unet_from=tmp_path / "base")
    _, state = load_model_dir(tmp_path / "m")
    assert all(torch.equal(state["unet"][k], v) for k, v in unet.items())
    changed = _ae_run(run, tiny_config, 4, 0.1)  # now the encoder differs
    assert changed
    with pytest.raises(Jen1Error, match="encoder of .* differs"):
        export_model(run, tmp_path / "m2", unet_from=tmp_path / "base")


def test_unet_from_keeps_the_base_models_latent_normaliser(tmp_path, tiny_config):
    # a decoder run started from an autoencoder exported before the latent cache fitted the
    # normaliser: the merged model must scale latents as the U-Net was trained
    run = tmp_path / "run"
    shadow = _ae_run(run, tiny_config, 3, 0.0)
    norm_keys = [k for k in shadow if k.startswith("normalizer.")]
    assert norm_keys
    base_ae = {k: (v + 1.5 if k in norm_keys and v.is_floating_point() else v)
               for k, v in shadow.items()}  # fmt: skip
    unet = build_unet(tiny_config).state_dict()
    save_model_dir(tmp_path / "base", tiny_config, {"autoencoder": base_ae, "unet": unet})
    export_model(run, tmp_path / "m", unet_from=tmp_path / "base")
    _, state = load_model_dir(tmp_path / "m")
    for k in norm_keys:
        assert torch.equal(state["autoencoder"][k], base_ae[k].float()), k


def test_unet_from_accepts_a_base_stored_in_bfloat16(tmp_path, tiny_config):
    # the U-Net model exported with --dtype bfloat16 holds the rounded copy of the encoder the
    # decoder run keeps in float32: the same encoder
    run = tmp_path / "run"
    shadow = _ae_run(run, tiny_config, 3, 0.0)
    unet = build_unet(tiny_config).state_dict()
    save_model_dir(
        tmp_path / "base", tiny_config, {"autoencoder": shadow, "unet": unet}, dtype=torch.bfloat16
    )
    export_model(run, tmp_path / "m", unet_from=tmp_path / "base", dtype="bfloat16")
    _, state = load_model_dir(tmp_path / "m")
    _, base = load_model_dir(tmp_path / "base")
    assert all(torch.equal(state["autoencoder"][k], v) for k, v in base["autoencoder"].items())


def test_a_run_without_checkpoints_is_a_clear_error(tmp_path):
    with pytest.raises(Jen1Error, match="no checkpoint in"):
        export_run(tmp_path)
