"""The latents of one request: guided sampling of a window, and of long audio window by window."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor, nn

from jen1.conditioning.control_tensors import ControlTensors
from jen1.config import Jen1Config
from jen1.inference.prompts import TextInputs, null_text
from jen1.inference.windows import num_frames, plan_windows
from jen1.request import SamplingParams

ProgressFn = Callable[[int, int], None]  # callback(done_steps, total_steps), 1-based


def sample_window(
    unet: nn.Module,
    cfg: Jen1Config,
    known: Tensor,
    mask: Tensor,
    text: TextInputs,
    params: SamplingParams,
    *,
    causal: bool,
    bf16: bool,
    generator: torch.Generator,
    callback: ProgressFn | None = None,
    t_start: float = 1.0,
    controls: ControlTensors | None = None,
) -> Tensor:
    """(B, C, T) float32 latents for ``known``/``mask`` (B, C, T)/(B, 1, T), 1 = known.

    Without a prompt (``text.dropped``) the U-Net's null text is used, without the negative
    prompt, and without guidance unless ``controls`` (frames (B, K, T)) are given: guidance then
    steers towards them. ``t_start < 1`` starts from ``known`` noised to that time (SDEdit; see
    :func:`jen1.diffusion.sampling.sample_latents`).
    """
    from jen1.diffusion.sampling import sample_latents

    emb, emb_mask, neg = text.emb, text.mask, text.neg
    if text.dropped:
        neg = None
        if controls is None:
            params = dataclasses.replace(params, cfg_scale=1.0)
        emb, emb_mask = null_text(emb.shape[0], cfg.text.dim, known.device)
    with torch.autocast(known.device.type, dtype=torch.bfloat16, enabled=bf16):
        return sample_latents(
            unet,
            cfg.diffusion,
            known=known,
            mask=mask,
            text_emb=emb,
            text_mask=emb_mask,
            neg_text_emb=None if neg is None else neg[0],
            neg_text_mask=None if neg is None else neg[1],
            params=params,
            causal=causal,
            generator=generator,
            callback=callback,
            t_start=t_start,
            controls=controls,
        ).float()


def sample_rolling(
    unet: nn.Module,
    cfg: Jen1Config,
    known: Tensor,
    mask: Tensor,
    total_frames: int,
    text: TextInputs,
    params: SamplingParams,
    *,
    first_causal: bool,
    bf16: bool,
    generator: torch.Generator,
    callback: ProgressFn | None = None,
    controls: ControlTensors | None = None,
) -> Tensor:
    """Fill ``total_frames`` latents window by window (:func:`plan_windows`) -> (B, C, total).

    ``known``/``mask`` (B, C, T0)/(B, 1, T0) give the frames known at the start (T0 may be
    0); ``controls`` span all ``total_frames`` (each window gets its frames). The first
    window is sampled with ``first_causal``; later windows are continuations
    in causal mode with the previous ``context_seconds`` as known frames. ``callback`` counts
    the steps of all windows.
    """
    b, c, t0 = known.shape[0], cfg.autoencoder.latent_dim, known.shape[-1]
    rate = cfg.autoencoder.frame_rate
    window = max(2, num_frames(cfg.sampling.window_seconds, rate))
    context = min(window - 1, num_frames(cfg.sampling.context_seconds, rate))
    out = torch.zeros(b, c, total_frames, device=known.device)
    have = torch.zeros(b, 1, total_frames, device=known.device)
    out[..., :t0] = known
    have[..., :t0] = mask
    windows = plan_windows(total_frames, window, context, t0)
    for w, (start, end) in enumerate(windows):
        step_cb = None
        if callback is not None:

            def step_cb(i: int, n: int, w: int = w) -> None:
                callback(w * n + i, len(windows) * n)

        out[..., start:end] = sample_window(
            unet,
            cfg,
            out[..., start:end],
            have[..., start:end],
            text,
            params,
            causal=first_causal if w == 0 else True,
            bf16=bf16,
            generator=generator,
            callback=step_cb,
            controls=None if controls is None else controls.window(start, end),
        )
        have[..., start:end] = 1.0
    return out
