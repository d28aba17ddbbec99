"""Turn a run directory's latest training checkpoint into model-directory components (EMA)."""

from __future__ import annotations

from pathlib import Path

import torch

from jen1.config import Jen1Config
from jen1.errors import Jen1Error
from jen1.train.loop import latest_checkpoint, load_training_checkpoint

RUN_AUTOENCODER = "autoencoder"  # diffusion runs keep a copy of their autoencoder here


def export_run(run_dir: str | Path) -> tuple[Jen1Config, dict[str, dict[str, torch.Tensor]], int]:
    """Return (config, {component: EMA state dict}, step) of a run's latest checkpoint.

    A diffusion run also exports the autoencoder (with its latent normaliser) it was trained
    on, from the copy kept in ``RUN_DIR/autoencoder``.
    """
    run_dir = Path(run_dir)
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise Jen1Error(f"no checkpoint in {run_dir}")
    state = load_training_checkpoint(ckpt)
    cfg = Jen1Config.from_dict(state["config"])
    if state["stage"] == "autoencoder":
        comps = {"autoencoder": state["ema"]["autoencoder"]["shadow"]}
    elif state["stage"] == "diffusion":
        from jen1.checkpoint import load_model_dir

        ae_dir = run_dir / RUN_AUTOENCODER
        _, ae_state = load_model_dir(ae_dir, ("autoencoder",))
        comps = {"autoencoder": ae_state["autoencoder"], "unet": state["ema"]["unet"]["shadow"]}
    else:
        raise Jen1Error(f"{ckpt} holds an unknown stage '{state['stage']}'")
    return cfg, comps, int(state["step"])
