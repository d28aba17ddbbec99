"""Classifier-free guidance (Ho & Salimans 2022) around a conditional model function.

``guided = uncond + scale * (cond - uncond)``, with both branches evaluated in one batch.
The combination is applied to whatever ``model_fn`` returns;
:func:`jen1.diffusion.sampling.sample_latents` passes an x0 predictor. Because x0 is an affine
function of the raw v or eps prediction with the same x_t in both branches, guiding x0 equals
guiding the raw prediction.

A negative prompt is an unconditional branch whose text is the negative prompt instead of the
learned null text: pass ``uncond_cond`` built from it.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from jen1.conditioning.conditions import Conditions, concat_conditions

ModelFn = Callable[[Tensor, Tensor, Conditions], Tensor]


def cfg_denoiser(
    model_fn: ModelFn, cond: Conditions, uncond_cond: Conditions, scale: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """Wrap ``model_fn`` into a guided ``denoise(x_t, t)``.

    Args:
        model_fn: ``model_fn(x_t (B, C, T), t (B,), cond) -> (B, C, T)`` prediction.
        cond: conditional branch (B samples).
        uncond_cond: unconditional branch (B samples): ``cond.with_null_text()`` or a
            negative prompt.
        scale: guidance scale w; 1 runs the conditional branch only, 0 the unconditional only.

    Returns:
        ``denoise(x_t, t) -> (B, C, T)`` guided prediction.
    """
    if scale == 1.0:
        return lambda x_t, t: model_fn(x_t, t, cond)
    if scale == 0.0:
        return lambda x_t, t: model_fn(x_t, t, uncond_cond)
    both = concat_conditions([cond, uncond_cond])

    def denoise(x_t: Tensor, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, device=x_t.device).float().expand(x_t.shape[0])
        out = model_fn(torch.cat([x_t, x_t], dim=0), torch.cat([t, t], dim=0), both)
        out_c, out_u = out.float().chunk(2, dim=0)
        return out_u + scale * (out_c - out_u)

    return denoise
