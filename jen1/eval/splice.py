"""Seams of inpainting and continuation: is the join audible, and do regenerated regions sound
like the music around them?

- :func:`boundary_jump`: spectral flux at each splice point against the median spectral flux
  elsewhere in the clip. Music has onsets everywhere, so a ratio near the ratio of an ordinary
  onset (a few) is a clean join; a click or an abrupt change of texture stands out far above.
- :func:`regions_fad`: FAD-musicnn of the regenerated regions against reference embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jen1.errors import Jen1Error


def spectral_flux(
    wav: np.ndarray, sr: int = 48000, *, n_fft: int = 2048, hop: int = 512, n_mels: int = 128
) -> tuple[np.ndarray, float]:
    """Spectral flux of the mid channel: mean over mel bands of the positive change in dB
    between consecutive frames (levels floored 80 dB below the clip's peak; frame 0 is 0).
    Mel bands average noise out, so a steady texture has a low, flat flux.

    Args:
        wav: (2, L) or (L,).

    Returns:
        (flux (frames,), frame rate in Hz); frame k is centred at ``k * hop / sr`` seconds.
    """
    from jen1.eval.music import log_mel_flux

    x = np.asarray(wav, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1 or x.size == 0:
        raise Jen1Error(f"expected audio of shape (2, L) or (L,), got {np.shape(wav)}")
    return log_mel_flux(x, sr, n_fft, hop, n_mels, eps=1e-12)


def boundary_jump(
    wav: np.ndarray,
    boundaries: Sequence[float],
    sr: int = 48000,
    *,
    radius_seconds: float = 0.025,
    exclude_seconds: float = 0.1,
    n_fft: int = 2048,
    hop: int = 512,
) -> dict[str, Any]:
    """Flux at splice points relative to the median flux of the rest of the clip.

    Args:
        wav: (2, L) or (L,) spliced audio.
        boundaries: splice times in seconds (e.g. ``[start, end]`` of an inpainted gap, or the
            input's length for a continuation).
        radius_seconds: the flux at a boundary is the maximum over frames within this distance
            (the STFT frames that straddle the join; with hop 512 at 48 kHz about ±2 frames).
        exclude_seconds: frames this close to any boundary are left out of the median.

    Returns:
        ``ratios`` (one per boundary), ``mean_ratio``, ``max_ratio``, ``median_flux``.
    """
    flux, fr = spectral_flux(wav, sr, n_fft=n_fft, hop=hop)
    t = np.arange(flux.size) / fr
    bs = [float(b) for b in boundaries]
    if not bs:
        raise Jen1Error("boundary_jump needs at least one boundary")
    near_any = np.zeros(flux.size, dtype=bool)
    for b in bs:
        near_any |= np.abs(t - b) <= exclude_seconds
    rest = flux[~near_any & (np.arange(flux.size) > 0)]
    if rest.size == 0:
        raise Jen1Error("the clip is too short to measure splice boundaries")
    med = float(np.median(rest))
    ratios = []
    for b in bs:
        sel = np.abs(t - b) <= max(radius_seconds, 0.5 / fr)
        sel[0] = False
        peak = float(flux[sel].max()) if sel.any() else 0.0
        ratios.append(peak / max(med, 1e-12))
    return {
        "ratios": ratios,
        "mean_ratio": float(np.mean(ratios)),
        "max_ratio": float(np.max(ratios)),
        "median_flux": med,
    }


def crop_regions(
    wavs: Sequence[np.ndarray], regions: Sequence[tuple[float, float]], sr: int = 48000
) -> list[np.ndarray]:
    """Cut ``[start, end)`` seconds out of each (2, L) clip (one region per clip)."""
    if len(wavs) != len(regions):
        raise Jen1Error(f"got {len(wavs)} clips for {len(regions)} regions")
    out = []
    for w, (a, e) in zip(wavs, regions):
        i, j = round(a * sr), round(e * sr)
        if not 0 <= i < j <= np.shape(w)[-1]:
            raise Jen1Error(
                f"region [{a}, {e}) s is outside a clip of {np.shape(w)[-1] / sr:.2f} s"
            )
        out.append(np.asarray(w)[..., i:j])
    return out


def regions_fad(
    model: Any,
    wavs: Sequence[np.ndarray],
    regions: Sequence[tuple[float, float]],
    ref_embs: Any,
    sr: int = 48000,
    *,
    hop_seconds: float | None = 1.0,
) -> dict[str, Any]:
    """FAD-musicnn of regenerated regions against reference embeddings.

    Args:
        model: a :class:`jen1.eval.musicnn.MusicnnMTT`.
        wavs: (2, L) clips; ``regions``: the regenerated ``(start, end)`` seconds of each.
        ref_embs: reference features (see :func:`jen1.eval.fad.fad_musicnn`).
        hop_seconds: musicnn patch hop (regions shorter than 3 s are repeat-padded to one patch).
    """
    from jen1.eval.fad import fad_musicnn

    crops = crop_regions(wavs, regions, sr)
    feats = [model.embed(c[None], sr, hop_seconds=hop_seconds)["penultimate"][0] for c in crops]
    return fad_musicnn(np.concatenate(feats), ref_embs)
