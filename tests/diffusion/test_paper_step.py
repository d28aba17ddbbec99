"""The ``paper`` configuration keeps building with v1.0's parts: musical controls, rectified
flow with logit-normal times and per-frame LayerNorms, one CPU training step at a short length."""

from __future__ import annotations

import torch

from jen1.conditioning.control_tensors import controls_to_tensors
from jen1.conditioning.controls import Controls
from jen1.config import apply_overrides, load_config
from jen1.diffusion.train_step import diffusion_train_step
from jen1.models import build_unet


def test_the_paper_unet_takes_a_training_step_with_v1_parts():
    cfg = apply_overrides(
        load_config("paper"),
        [
            "unet.controls={}",
            "unet.groups=1",
            "diffusion.objective=flow",
            "diffusion.schedule=flow",
            "diffusion.train_t=logit_normal",
        ],
    )
    torch.manual_seed(0)
    unet = build_unet(cfg).train()
    assert 690e6 < sum(p.numel() for p in unet.parameters()) < 780e6
    frames = 16  # 0.1 s at the paper's 150 latent frames per second
    z = torch.randn(1, cfg.autoencoder.latent_dim, frames)
    text = torch.randn(1, 8, cfg.text.dim)
    mask = torch.ones(1, 8, dtype=torch.bool)
    rate = cfg.autoencoder.frame_rate
    told = [Controls(bpm=120.0, key="A", mode="minor", meter=(4, 4))]
    controls = controls_to_tensors(told, frames, rate, beat_grid=True)
    gen = torch.Generator().manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = diffusion_train_step(unet, z, text, mask, cfg.diffusion, gen, controls=controls)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    grads = [p.grad for p in unet.parameters() if p.grad is not None]
    assert len(grads) > 0.9 * len(list(unet.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)
