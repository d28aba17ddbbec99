"""Fréchet Audio Distance between Gaussian fits of embeddings (Kilgour et al. 2019).

    FD = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2})

With musicnn MTT features (:mod:`jen1.eval.musicnn`, 200-d penultimate layer, one sample per
3 s patch) the number is called **FAD-musicnn** everywhere it is printed or stored; it is not
comparable with the VGGish FAD that papers (JEN-1 included) report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jen1.errors import Jen1Error

NAME = "FAD-musicnn"


def _samples(emb: Any) -> np.ndarray:
    """(N, D), (B, P, D), a list of B (P_i, D) arrays (clips of different lengths) or a
    musicnn ``embed`` dict -> float64 (N, D) samples."""
    if isinstance(emb, dict):
        emb = emb["penultimate"]
    if isinstance(emb, (list, tuple)) and emb and np.ndim(emb[0]) == 2:
        emb = np.concatenate([np.asarray(e, dtype=np.float64) for e in emb])
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim == 3:
        x = x.reshape(-1, x.shape[-1])
    if x.ndim != 2 or x.shape[0] < 2:
        raise Jen1Error(f"FAD needs at least 2 embeddings of shape (N, D), got {np.shape(emb)}")
    if not np.isfinite(x).all():
        raise Jen1Error("FAD: the embeddings contain NaN or inf")
    return x


def gaussian_fit(emb: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) embeddings, float64."""
    x = _samples(emb)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^{1/2}) for covariance matrices, computed stably.

    S1 S2 is not symmetric, and when the covariances are singular (fewer samples than
    dimensions, the usual case for a few hundred 200-d patches) ``scipy.linalg.sqrtm(S1 @ S2)``
    returns large spurious imaginary parts. S1 S2 is similar to the symmetric PSD matrix
    M = S1^{1/2} S2 S1^{1/2} (same eigenvalues), so the trace is the sum of the square roots of
    M's eigenvalues, clipped at 0. For well-conditioned inputs this equals the reference
    ``trace(sqrtm(S1 @ S2))`` (checked in the tests).
    """
    r = _psd_sqrt(sigma1)
    m = r @ sigma2 @ r
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    The cross term uses :func:`trace_sqrt_product`; the result is clipped at 0 (round-off can
    make identical fits come out at -1e-12).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise Jen1Error(
            f"FAD: shapes do not match: {mu1.shape} {s1.shape} vs {mu2.shape} {s2.shape}"
        )
    diff = mu1 - mu2
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))
    return max(fd, 0.0)


def fad(emb_a: Any, emb_b: Any) -> float:
    """Fréchet distance between the Gaussian fits of two embedding sets (N, D) and (M, D)."""
    return frechet_distance(*gaussian_fit(emb_a), *gaussian_fit(emb_b))


def fad_musicnn(gen_embs: Any, ref_embs: Any) -> dict[str, Any]:
    """FAD-musicnn of generated against reference audio.

    Args:
        gen_embs, ref_embs: musicnn penultimate features, (N, 200) or (B, P, 200), or the dicts
            returned by :meth:`jen1.eval.musicnn.MusicnnMTT.embed`.

    Returns:
        ``{"metric": "FAD-musicnn", "value": float, "n_gen": N, "n_ref": M, "dim": 200}``
        (N and M count patches).
    """
    g, r = _samples(gen_embs), _samples(ref_embs)
    return {
        "metric": NAME,
        "value": fad(g, r),
        "n_gen": int(g.shape[0]),
        "n_ref": int(r.shape[0]),
        "dim": int(g.shape[1]),
    }


def split_half_fad(ref_embs: Any, *, repeats: int = 10, seed: int = 0) -> dict[str, Any]:
    """FAD between two random halves of a reference set, averaged over ``repeats`` splits.

    This is the floor a perfect generator would reach with half as many clips; FAD is biased
    upwards for small sets, so the floor at the full size is somewhat lower.

    Args:
        ref_embs: per-clip patch features: (B, P, D), a list of B (P_i, D) arrays, or a musicnn
            ``embed`` dict. The split is by clip, so patches of one clip never land on both sides.
        repeats: number of random splits averaged.

    Returns:
        ``{"metric": "FAD-musicnn", "value": mean, "std": ..., "clips_per_half": B // 2, ...}``.
    """
    x = ref_embs["penultimate"] if isinstance(ref_embs, dict) else ref_embs
    clips = [np.atleast_2d(np.asarray(c, dtype=np.float64)) for c in x]
    b = len(clips)
    if b < 4:
        raise Jen1Error(f"split-half FAD needs at least 4 reference clips, got {b}")
    rng = np.random.default_rng(seed)
    vals = []
    half = b // 2
    for _ in range(repeats):
        perm = rng.permutation(b)
        a = np.concatenate([clips[i] for i in perm[:half]])
        c = np.concatenate([clips[i] for i in perm[half : 2 * half]])
        vals.append(fad(a, c))
    return {
        "metric": NAME,
        "value": float(np.mean(vals)),
        "std": float(np.std(vals)),
        "clips_per_half": half,
        "repeats": repeats,
    }
