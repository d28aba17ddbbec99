"""Sample latents from a UNet1D: denoiser (U-Net -> objective -> x0, with CFG) + a sampler.

Covers all JEN-1 tasks through ``known``/``mask`` (1 = known): text-to-music (mask 0),
inpainting (1 outside the gaps) and continuation (1 on the prefix, ``causal=True``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from jen1.conditioning.conditions import Conditions
from jen1.conditioning.control_tensors import ControlTensors
from jen1.conditioning.tasks import build_unet_input
from jen1.config import DiffusionConfig, SamplingConfig
from jen1.diffusion.guidance import cfg_denoiser
from jen1.diffusion.objective import draw_noise, prediction_to_x0_eps
from jen1.diffusion.samplers import get_sampler
from jen1.diffusion.schedule import alpha_sigma, make_timesteps
from jen1.diffusion.unet import TextContext, UNet1D
from jen1.errors import Jen1Error
from jen1.request import SamplingParams


def x0_model_fn(
    unet: nn.Module, dcfg: DiffusionConfig, causal: bool
) -> Callable[[Tensor, Tensor, Conditions], Tensor]:
    """``model_fn(x_t, t, cond) -> x0_hat``: U-Net raw prediction turned into x0.

    Frames known in ``cond`` (mask == 1) are set to ``cond.known`` in x0_hat, so the samplers
    keep them on the forward-noising path of the known latent (the network is never trained to
    predict them).

    A :class:`~jen1.diffusion.unet.UNet1D` gets the text of each ``cond`` (the same object at
    every step) projected once, its cross-attention keys, values and mask bias made at the
    first step and reused (:class:`~jen1.diffusion.unet.TextContext`): the text is the same at
    every step, so that work is done once per run, not once per step. So the weights must not
    change while one ``model_fn`` is in use.
    """
    texts: dict[int, tuple[Conditions, TextContext]] = {}  # by id(cond); holds cond alive

    def text_of(cond: Conditions) -> TextContext | None:
        if not isinstance(unet, UNet1D):
            return None
        entry = texts.get(id(cond))
        if entry is None or entry[0] is not cond:
            entry = texts[id(cond)] = (cond, unet.text_context(cond))
        return entry[1]

    def model_fn(x_t: Tensor, t: Tensor, cond: Conditions) -> Tensor:
        unet_in = build_unet_input(x_t, cond.known, cond.mask)
        text = text_of(cond)
        if text is None:
            raw = unet(unet_in, t, cond, causal=causal)
        else:
            raw = unet(unet_in, t, cond, causal=causal, text=text)
        alpha, sigma = alpha_sigma(t.float(), dcfg)
        x0, _ = prediction_to_x0_eps(raw, x_t, alpha, sigma, dcfg.objective)
        mask = cond.mask.float()
        return mask * cond.known.float() + (1 - mask) * x0

    return model_fn


@torch.no_grad()
def sample_latents(
    unet: nn.Module,
    dcfg: DiffusionConfig,
    *,
    known: Tensor,
    mask: Tensor,
    text_emb: Tensor,
    text_mask: Tensor,
    neg_text_emb: Tensor | None = None,
    neg_text_mask: Tensor | None = None,
    params: SamplingParams | None = None,
    causal: bool = False,
    generator: torch.Generator | None = None,
    callback: Callable[[int, int], None] | None = None,
    x_init: Tensor | None = None,
    t_start: float = 1.0,
    controls: ControlTensors | None = None,
) -> Tensor:
    """Generate normalised latents with classifier-free guidance.

    Args:
        unet: the diffusion network (its mode is the caller's: call ``.eval()``).
        dcfg: schedule and objective.
        known: (B, C, T) normalised latent; frames with mask == 1 are kept.
        mask: (B, 1, T) float, 1 = known, 0 = generate (all 0 for text-to-music).
        text_emb: (B, S, D) prompt tokens.
        text_mask: (B, S) bool.
        neg_text_emb: (B, S', D) negative prompt for the unconditional branch (default: null text).
        neg_text_mask: (B, S') bool, required with ``neg_text_emb``.
        params: the request's sampler, steps and guidance scale (1 = no guidance, one network
            pass per step); unset fields take :class:`jen1.config.SamplingConfig`'s defaults.
            Its seed and negative prompt are the caller's to turn into ``generator`` and
            ``neg_text_emb``.
        causal: run the U-Net unidirectionally (continuation).
        generator: source of the initial noise (and DDIM eta noise); draws happen on its device.
        callback: progress hook ``callback(i, total)``.
        x_init: (B, C, T) the sample at ``t_start`` instead of drawing it.
        t_start: the first time of the grid (1 = pure noise). Below 1 (SDEdit, remix) the
            sampler starts from ``x_init``, or by default from ``known`` (every frame, known or
            not) noised to ``t_start``: ``alpha * known + sigma * noise``.
        controls: musical controls for the B samples, frames (B, K, T); guidance's
            unconditional branch drops them with the text.

    Returns:
        (B, C, T) float32 latent; frames with mask == 1 equal ``known``.
    """
    p = SamplingParams() if params is None else params
    d = SamplingConfig()
    sample_fn = get_sampler(d.sampler if p.sampler is None else p.sampler)
    steps = d.steps if p.steps is None else p.steps
    cfg_scale = d.cfg_scale if p.cfg_scale is None else p.cfg_scale
    if (neg_text_emb is None) != (neg_text_mask is None):
        raise Jen1Error("neg_text_emb and neg_text_mask must be given together")
    known = known.float()
    mask = mask.float().expand(known.shape[0], 1, known.shape[2])
    cond = Conditions(
        text_emb=text_emb,
        text_mask=text_mask.to(torch.bool),
        known=known,
        mask=mask,
        controls=controls,
    )
    if neg_text_emb is not None and neg_text_mask is not None:
        batch = known.shape[0]
        uncond = Conditions(
            text_emb=neg_text_emb.expand(batch, -1, -1),
            text_mask=neg_text_mask.to(torch.bool).expand(batch, -1),
            known=known,
            mask=mask,
            controls=None if controls is None else controls.all_dropped(),
        )
    else:
        uncond = cond.with_null_text()
    denoise = cfg_denoiser(x0_model_fn(unet, dcfg, causal), cond, uncond, cfg_scale)

    if x_init is not None:
        x = x_init.float()
    elif t_start < 1.0:
        alpha, sigma = alpha_sigma(torch.tensor(t_start, dtype=torch.float64), dcfg)
        noise = draw_noise(known.shape, generator, known.device)
        x = float(alpha) * known + float(sigma) * noise
    else:
        x = draw_noise(known.shape, generator, known.device)
    ts = make_timesteps(steps, dcfg, start=t_start)
    x = sample_fn(denoise, x, ts, dcfg=dcfg, generator=generator, callback=callback)
    return mask * known + (1 - mask) * x
