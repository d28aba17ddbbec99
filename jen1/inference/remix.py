"""Remix (audio-to-audio, SDEdit: Meng et al. 2021): the input's latents, partly noised and
sampled back with a prompt, window by window for audio of any length."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from jen1.config import Jen1Config
from jen1.inference.prompts import TextInputs
from jen1.conditioning.control_tensors import ControlTensors
from jen1.inference.rolling import ProgressFn, sample_window
from jen1.inference.windows import num_frames, plan_windows
from jen1.request import SamplingParams


def remix_steps(steps: int, strength: float) -> int:
    """Sampler steps of a remix: the last ``ceil(steps * strength)`` of a ``steps`` grid.

    The step size in t is then that of a whole run (the same accuracy at every strength), and
    the time taken is proportional to the strength; strength 0 runs no step at all.
    """
    return math.ceil(steps * strength - 1e-9) if strength > 0 else 0


def remix_latents(
    unet: nn.Module,
    cfg: Jen1Config,
    z: Tensor,
    strength: float,
    text: TextInputs,
    params: SamplingParams,
    *,
    bf16: bool,
    generator: torch.Generator,
    callback: ProgressFn | None = None,
    controls: ControlTensors | None = None,
) -> Tensor:
    """(B, C, T) normalised latents of the input -> (B, C, T) remixed latents.

    Each window of the sampling plan (:func:`plan_windows`, as long generation slides) is
    ``z`` noised to ``t = strength`` on the model's schedule and sampled back to t = 0 by
    ``params``'s sampler over the last ``remix_steps(steps, strength)`` steps of its grid.

    Long inputs: the first window runs bidirectionally; each later window runs in causal mode
    with the previous window's remixed last ``context_seconds`` as known frames, the rest of it
    started from the input. These are the two masks the model was trained on for this (a
    bidirectional window with only its left part known is not: inpainting masks always have
    context on both sides), the same as long generation uses, and the latent sequence stays
    continuous across seams, so it is decoded in one pass. The alternative, independent
    windows crossfaded over their overlap, would at high strength blend two different
    realisations of the overlap (doubled onsets, phasing) instead of continuing one.

    Args:
        z: (B, C, T) the input's normalised latents.
        strength: 0..1; 0 returns ``z`` unchanged.
        params: a resolved request's sampling settings (``steps`` is a whole run's count).
        callback: ``callback(i, total)`` over the steps of all windows.
        controls: musical controls over all T frames, or None.
    """
    n = remix_steps(params.steps, strength)
    if n == 0:
        return z.clone()
    params = SamplingParams(
        n, params.cfg_scale, params.sampler, params.seed, params.negative_prompt
    )
    b, _, total = z.shape
    rate = cfg.autoencoder.frame_rate
    window = max(2, num_frames(cfg.sampling.window_seconds, rate))
    context = min(window - 1, num_frames(cfg.sampling.context_seconds, rate))
    out = z.clone().float()
    have = torch.zeros(b, 1, total, device=z.device)  # 1 = already remixed
    windows = plan_windows(total, window, context)
    for w, (start, end) in enumerate(windows):
        step_cb = None
        if callback is not None:

            def step_cb(i: int, k: int, w: int = w) -> None:
                callback(w * k + i, len(windows) * k)

        # known frames (the remixed context) are kept; the others start from the input's
        # latents noised to t = strength (sample_latents with t_start < 1)
        out[..., start:end] = sample_window(
            unet,
            cfg,
            out[..., start:end],
            have[..., start:end],
            text,
            params,
            causal=w > 0,
            bf16=bf16,
            generator=generator,
            callback=step_cb,
            t_start=strength,
            controls=None if controls is None else controls.window(start, end),
        )
        have[..., start:end] = 1.0
    return out
