"""Getting a loaded U-Net ready for inference: precision, oneDNN prepacking and warm-up."""

from __future__ import annotations

import torch
from torch import nn

from jen1.config import Jen1Config
from jen1.inference.windows import num_frames


def prepare_unet(
    unet: nn.Module, cfg: Jen1Config, *, device: str | torch.device, bf16: bool, pack: bool
) -> nn.Module:
    """Frozen, in eval mode on ``device``; bf16 matmul weights when ``bf16``; packed on a CPU.

    With ``bf16`` the conv and linear weights are stored in bf16
    (:func:`jen1.precision.cast_matmul_weights`): the modules are ours, so keep the weights
    autocast would cast on every call. With ``pack`` on a CPU they are also prepacked for oneDNN
    (:func:`jen1.diffusion.ops.pack_for_inference`) and one forward is run at the sampling
    window's shape (:func:`warm_unet`).
    """
    from jen1.diffusion.ops import pack_for_inference
    from jen1.precision import cast_matmul_weights

    if bf16:
        cast_matmul_weights(unet, torch.bfloat16)
    unet = unet.to(device).eval().requires_grad_(False)
    if pack and torch.device(device).type == "cpu" and pack_for_inference(unet):
        warm_unet(unet, cfg, bf16=bf16)  # oneDNN reorders the weights once, not per call
    return unet


@torch.inference_mode()
def warm_unet(unet: nn.Module, cfg: Jen1Config, *, bf16: bool) -> None:
    """One U-Net forward at the sampling window's shape (a CFG pair) on zeros.

    A packed conv serves the output width it first meets and runs unpacked at any other
    (:class:`jen1.diffusion.packing.Packed`): this makes that width the sampling window's,
    the one every generation of ``window_seconds`` or more, every continuation and long
    inpainting run at, whatever length the first request asks for.
    """
    from jen1.conditioning.conditions import Conditions

    device = next(unet.parameters()).device
    c = cfg.autoencoder.latent_dim
    frames = num_frames(cfg.sampling.window_seconds, cfg.autoencoder.frame_rate)
    emb = torch.zeros(2, 1, cfg.text.dim, device=device)
    emb_mask = torch.zeros(2, 1, dtype=torch.bool, device=device)  # the null text
    zeros = torch.zeros(2, c, frames, device=device)
    cond = Conditions(emb, emb_mask, zeros, zeros[:, :1])
    x = torch.zeros(2, 2 * c + 1, frames, device=device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        unet(x, torch.zeros(2, device=device), cond, causal=False)
