"""Fréchet distance properties on Gaussian samples with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from jen1.errors import Jen1Error
from jen1.eval.fad import fad, fad_musicnn, frechet_distance, gaussian_fit, split_half_fad


def _gauss(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


def test_identical_sets_give_zero():
    x = _gauss(500, 16, 0)
    assert fad(x, x) == pytest.approx(0.0, abs=1e-8)


def test_symmetric():
    a, b = _gauss(400, 8, 1), _gauss(300, 8, 2, shift=0.3, scale=1.5)
    assert fad(a, b) == pytest.approx(fad(b, a), rel=1e-8)


def test_grows_with_mean_shift():
    a = _gauss(2000, 8, 3)
    vals = [fad(a, _gauss(2000, 8, 4, shift=s)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(x < y for x, y in zip(vals, vals[1:]))
    # a pure shift s in all 8 dims adds |mu diff|^2 = 8 s^2 (up to sampling noise)
    assert vals[3] - vals[0] == pytest.approx(8 * 4.0, rel=0.1)


def test_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])
    # |dmu|^2 + sum (sqrt(a) - sqrt(b))^2 = 5 + (1 + 0 + 4)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(10.0, rel=1e-10)


def test_cross_term_matches_scipy_sqrtm_when_well_conditioned():
    import scipy.linalg

    from jen1.eval.fad import trace_sqrt_product

    a, b = _gauss(400, 12, 11), _gauss(300, 12, 12, scale=2.0) @ _gauss(12, 12, 13)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert trace_sqrt_product(s1, s2) == pytest.approx(ref, rel=1e-8)


def test_fewer_samples_than_dimensions_stays_finite():
    a, b = _gauss(30, 64, 5), _gauss(30, 64, 6, shift=0.5)
    v = fad(a, b)
    assert np.isfinite(v) and v > fad(a, _gauss(30, 64, 7))
    # two samples in 200 dims (rank-1 covariances) - where sqrtm(S1 @ S2) breaks down
    x, y = _gauss(2, 200, 14), _gauss(2, 200, 15)
    assert fad(x, x) == pytest.approx(0.0, abs=1e-8)
    assert fad(x, y) == pytest.approx(fad(y, x), rel=1e-8) and fad(x, y) > 0


def test_gaussian_fit_and_inputs():
    x = _gauss(100, 4, 8)
    mu, sigma = gaussian_fit(x[None].repeat(2, 0))  # (B, P, D) is flattened to (B*P, D)
    np.testing.assert_allclose(mu, x.mean(0))
    assert sigma.shape == (4, 4)
    with pytest.raises(Jen1Error, match="NaN"):
        fad(np.full((4, 2), np.nan), x[:, :2])
    with pytest.raises(Jen1Error, match="at least 2"):
        fad(x[:1], x)


def test_fad_musicnn_is_named_and_counts_patches():
    a, b = _gauss(60, 200, 9), _gauss(80, 200, 10)
    out = fad_musicnn({"penultimate": a.reshape(20, 3, 200)}, b)
    assert out["metric"] == "FAD-musicnn"
    assert out["n_gen"] == 60 and out["n_ref"] == 80 and out["dim"] == 200
    assert out["value"] == pytest.approx(fad(a, b))


def test_clips_of_different_lengths_pool_their_patches():
    """A real-music test split ends tracks with shorter segments: fewer patches per clip."""
    a, b = _gauss(40, 200, 11), _gauss(70, 200, 12)
    ragged = [b[:7], b[7:10], b[10:70]]  # clips of 7, 3 and 60 patches
    out = fad_musicnn(a.reshape(8, 5, 200), ragged)
    assert out["n_ref"] == 70 and out["value"] == pytest.approx(fad(a, b))


def test_split_half_floor_is_below_a_shifted_set():
    clips = [_gauss(3, 8, 100 + i) for i in range(40)]
    floor = split_half_fad(clips, repeats=5)
    assert floor["clips_per_half"] == 20 and floor["metric"] == "FAD-musicnn"
    shifted = fad(np.concatenate(clips[:20]), np.concatenate(clips[20:]) + 1.0)
    assert 0 < floor["value"] < shifted
    assert split_half_fad(clips, repeats=5)["value"] == floor["value"]  # seeded
    with pytest.raises(Jen1Error, match="at least 4"):
        split_half_fad(clips[:3])
