"""Window planning for inference: which latent frames each sampling run covers. Pure functions.

Units: frames are latent frames (``hop`` samples each at ``frame_rate`` frames per second);
samples are waveform samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def num_frames(seconds: float, frame_rate: float) -> int:
    """Latent frames that cover ``seconds`` (at least one; a hair over a whole frame is not two)."""
    return max(1, math.ceil(seconds * frame_rate - 1e-9))


def plan_windows(
    total_frames: int, window: int, context: int, known_frames: int = 0
) -> list[tuple[int, int]]:
    """Sampling windows ``[start, end)`` that fill ``total_frames`` left to right.

    The first window starts at 0, or, when the first ``known_frames`` are given (continuation),
    ``context`` frames before the first unknown one; each later window starts ``window -
    context`` frames after the previous one, so it sees the last ``context`` frames of it as
    known. The last window ends at ``total_frames``.

    Args:
        total_frames: frames to cover, > 0.
        window: frames per sampling run, > ``context``.
        context: known frames each later window keeps from the one before, >= 0.
        known_frames: frames given at the start (0 for text-to-music).
    """
    if window <= context or total_frames <= 0:
        raise ValueError(
            f"need window > context and frames > 0, got {window}, {context}, {total_frames}"
        )
    starts = []
    pos = 0 if known_frames == 0 else max(0, known_frames - context)
    while True:
        starts.append(pos)
        if pos + window >= total_frames:
            break
        pos = pos + window - context
    return [(s, min(s + window, total_frames)) for s in starts]


@dataclass(frozen=True)
class InpaintWindow:
    """One sampling window around an inpainting gap.

    Attributes:
        first: the window's first frame; its audio is samples ``[first * hop, sample_end)``.
        gap: the gap's frames ``(start, end)``, relative to ``first``.
        sample_start, sample_end: the audio the window covers (samples of the input).
    """

    first: int
    gap: tuple[int, int]
    sample_start: int
    sample_end: int


def plan_inpaint(
    start: float, end: float, num_samples: int, frame_rate: float, hop: int, window: int
) -> InpaintWindow:
    """The ``window``-frame span around the gap ``[start, end)`` seconds, the gap centred in it.

    The gap's frames are every frame it touches, within the audio; the rest of the window
    (context on both sides) is split evenly, less on the left at the audio's start and cut at
    its end.
    """
    f_start = int(math.floor(start * frame_rate))
    f_end = min(int(math.ceil(end * frame_rate)), math.ceil(num_samples / hop))
    spare = max(0, window - (f_end - f_start))
    first = max(0, f_start - spare // 2)
    return InpaintWindow(
        first,
        (f_start - first, f_end - first),
        first * hop,
        min(num_samples, (first + window) * hop),
    )


@dataclass(frozen=True)
class ContinuePlan:
    """The frames a continuation encodes and samples.

    Attributes:
        first: first input frame encoded as context (its audio starts at ``first * hop``).
        known: whole input frames encoded (``first`` up to the last frame fully in the input).
        total: frames to sample from ``first`` on, context included.
    """

    first: int
    known: int
    total: int


def plan_continuation(num_samples: int, new_samples: int, hop: int, context: int) -> ContinuePlan:
    """Context from the last ``context`` whole input frames, then frames up to the new end."""
    whole = num_samples // hop  # frames fully inside the input
    first = max(0, whole - context)
    return ContinuePlan(first, whole - first, math.ceil((num_samples + new_samples) / hop) - first)
