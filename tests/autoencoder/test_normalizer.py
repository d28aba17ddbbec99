"""LatentNormalizer: incremental statistics, whitening and exact round trip."""

from __future__ import annotations

import pytest
import torch

from jen1.autoencoder.normalizer import LatentNormalizer


def _latents(n_batches: int = 5, c: int = 6, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g) * torch.linspace(0.1, 3.0, c)  # correlated, uneven scales
    offset = torch.randn(c, generator=g) * 2
    out = []
    for _ in range(n_batches):
        n = torch.randn(4, c, 300, generator=g)
        out.append(torch.einsum("dc,bct->bdt", mix, n) + offset[:, None])
    return out


def test_identity_before_finalize():
    norm = LatentNormalizer(6)
    z = torch.randn(2, 6, 10)
    assert not norm.fitted
    assert torch.equal(norm.normalize(z), z)
    assert torch.equal(norm.denormalize(z), z)


def test_whitened_stats_and_round_trip():
    batches = _latents()
    norm = LatentNormalizer(6)
    for z in batches:
        norm.update(z)
    norm.finalize()
    assert norm.fitted and int(norm.count) == 5 * 4 * 300
    data = torch.cat(batches, dim=0)  # (B, C, T)
    w = norm.normalize(data)
    flat = w.permute(1, 0, 2).reshape(6, -1).double()  # (C, B*T)
    assert flat.mean(dim=1).abs().max() < 1e-4
    cov = torch.cov(flat)
    torch.testing.assert_close(cov, torch.eye(6, dtype=torch.float64), atol=1e-3, rtol=0)
    back = norm.denormalize(w)
    assert (back - data).abs().max() < 1e-4
    # raw data is far from white, so the test above can fail
    raw_cov = torch.cov(data.permute(1, 0, 2).reshape(6, -1))
    assert (raw_cov - torch.eye(6)).abs().max() > 0.5


def test_incremental_equals_one_pass():
    batches = _latents(seed=3)
    a, b = LatentNormalizer(6), LatentNormalizer(6)
    for z in batches:
        a.update(z)
    b.update(torch.cat(batches, dim=0))
    a.finalize()
    b.finalize()
    torch.testing.assert_close(a.whiten, b.whiten)
    torch.testing.assert_close(a.mean, b.mean)


def test_state_dict_round_trip():
    norm = LatentNormalizer(6)
    for z in _latents():
        norm.update(z)
    norm.finalize()
    other = LatentNormalizer(6)
    other.load_state_dict(norm.state_dict(), strict=True)
    z = torch.randn(1, 6, 7)
    assert torch.equal(other.normalize(z), norm.normalize(z))
    assert set(norm.state_dict()) == {"mean", "whiten", "unwhiten", "count"}


def test_bf16_input_under_autocast():
    norm = LatentNormalizer(6)
    for z in _latents():
        norm.update(z)
    norm.finalize()
    z = _latents(1)[0].bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        w = norm.normalize(z)
    assert w.dtype == torch.bfloat16


def test_errors():
    norm = LatentNormalizer(6)
    with pytest.raises(ValueError):
        norm.finalize()
    with pytest.raises(ValueError):
        norm.update(torch.zeros(1, 5, 3))
