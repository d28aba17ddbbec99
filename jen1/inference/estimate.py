"""Controls estimated from the known audio of a continuation, an inpainting or a remix.

What a request does not set (explicitly or in its prompt) is measured on the audio the model
keeps, with the project's estimators (:mod:`jen1.eval.music`: tempo from the onset envelope's
autocorrelation, key by Krumhansl-Schmuckler), so that the new part keeps the track's tempo and
key unless told otherwise (a remix keeps its input's). Meter and chords are not estimated.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from jen1.conditioning.controls import BPM_RANGE, Controls
from jen1.request import ContinueRequest, InpaintRequest, RemixRequest, Request

MIN_SECONDS = 2.0  # less known audio than this gives no stable tempo or key: estimate nothing
TAIL_SECONDS = 30.0  # a continuation's tempo and key: of the input's last 30 s (the track's now)
REMIX_SECONDS = 60.0  # a remix's: of its input's first minute (the estimators' cost grows with it)


def estimate_controls(wav: np.ndarray, sample_rate: int) -> Controls:
    """Tempo and key of ``wav`` (2, L) or (L,); no controls when it is shorter than
    :data:`MIN_SECONDS` or silent."""
    from jen1.eval.music import estimate_key, estimate_tempo

    if wav.shape[-1] < MIN_SECONDS * sample_rate or not np.any(np.abs(wav) > 1e-4):
        return Controls()
    bpm = float(np.clip(estimate_tempo(wav, sample_rate), *BPM_RANGE))
    tonic, mode, _ = estimate_key(wav, sample_rate)
    return Controls(bpm=round(bpm, 1), key=tonic, mode=mode)


def _known_audio(req: Request, wav: torch.Tensor, sample_rate: int):
    """(B, 2, L') the audio to measure: the end of the input of a continuation (at most
    :data:`TAIL_SECONDS`), the input of a remix (at most :data:`REMIX_SECONDS`), or the audio
    outside an inpainting's gap."""
    if isinstance(req, ContinueRequest):
        return wav[..., -round(TAIL_SECONDS * sample_rate) :]
    if isinstance(req, RemixRequest):
        return wav[..., : round(REMIX_SECONDS * sample_rate)]
    a, e = round(req.start * sample_rate), round(req.end * sample_rate)
    return torch.cat([wav[..., :a], wav[..., e:]], dim=-1)


def complete_from_audio(req: Request, wav: torch.Tensor, sample_rate: int) -> Request:
    """A resolved continuation, inpainting or remix with its unset tempo and key estimated.

    Other requests, requests of a model without controls (``req.told`` None) and requests
    that set both already come back unchanged; so do requests completed before (idempotent).

    Args:
        req: a resolved request.
        wav: (B, 2, L) the input audio.
    """
    if not isinstance(req, (ContinueRequest, InpaintRequest, RemixRequest)) or req.told is None:
        return req
    if all(t.controls.bpm is not None and t.controls.key is not None for t in req.told):
        return req
    known = _known_audio(req, wav, sample_rate)
    told, prev = [], None
    for b, item in enumerate(req.told):
        x = known[b]
        if prev is None or not torch.equal(prev[0], x):  # CLI variations share one input
            prev = (x, estimate_controls(x.float().cpu().numpy(), sample_rate))
        told.append(item.with_estimates(prev[1]))
    return dataclasses.replace(req, told=tuple(told))
