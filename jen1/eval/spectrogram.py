"""One spectrogram panel for the evaluation pictures (matplotlib axes, dB colour scale)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FLOOR_DB = -120.0  # the bottom of the colour scale
RANGE_DB = 60.0  # the least span shown when a signal is quieter than the floor


def draw_specgram(ax: Any, mid: np.ndarray, sample_rate: int, nfft: int = 2048) -> None:
    """Draw the log power spectrogram of the 1-d signal ``mid`` (L,) on ``ax``.

    The colours run from -120 dB to the loudest bin. A signal quieter than -120 dB throughout
    (a near-silent reconstruction) gets the 60 dB below its loudest bin instead, where a fixed
    floor would leave the colour scale upside down.
    """
    # dither far below the floor: digital silence would be -inf dB, drawn blank
    mid = mid + 1e-8 * np.random.default_rng(0).standard_normal(mid.shape[-1])
    spec, _, _, im = ax.specgram(
        mid, NFFT=nfft, Fs=sample_rate, noverlap=nfft * 3 // 4, cmap="magma"
    )
    top = 10 * math.log10(max(float(np.max(spec)), 1e-300))
    im.set_clim(min(FLOOR_DB, top - RANGE_DB), top)
