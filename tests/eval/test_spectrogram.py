"""The evaluation pictures' spectrogram panels, loud and near-silent."""

from __future__ import annotations

import numpy as np
import torch

from jen1.eval.autoencoder import plot_spectrograms
from jen1.eval.spectrogram import FLOOR_DB, draw_specgram


def _clim(mid: np.ndarray) -> tuple[float, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    draw_specgram(ax, mid, 48000)
    clim = ax.images[0].get_clim()
    plt.close(fig)
    return clim


def test_a_loud_signal_is_drawn_from_the_floor_to_its_peak():
    t = np.arange(48000) / 48000
    lo, hi = _clim(0.5 * np.sin(2 * np.pi * 440 * t))
    assert lo == FLOOR_DB and hi > lo + 60


def test_a_reconstruction_quieter_than_the_floor_still_gets_a_picture(tmp_path):
    """A near-silent output (early in training) once made the colour scale upside down."""
    t = torch.arange(48000) / 48000
    ref = 0.5 * torch.sin(2 * torch.pi * 440 * t).expand(2, -1)
    est = 1e-9 * ref
    lo, hi = _clim(est.mean(0).numpy())
    assert lo < hi < FLOOR_DB
    plot_spectrograms(ref, est, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000
