"""The STFT autoencoder's transforms and the phase-aware loss term."""

from __future__ import annotations

import torch

from jen1.autoencoder.losses import complex_stft_distance, mrstft_distance
from jen1.autoencoder.stft_codec import istft_same, stft_same


def test_stft_same_has_one_frame_per_hop_and_inverts_exactly():
    wav = torch.randn(3, 64 * 50)
    spec = stft_same(wav, 256, 64)
    assert spec.shape == (3, 129, 50)
    torch.testing.assert_close(istft_same(spec, 256, 64), wav, atol=1e-4, rtol=1e-4)


def test_istft_same_is_differentiable():
    spec = torch.randn(2, 129, 20, dtype=torch.complex64, requires_grad=True)
    istft_same(spec, 256, 64).pow(2).sum().backward()
    assert spec.grad is not None and spec.grad.abs().sum() > 0


def test_complex_distance_sees_phase_that_magnitudes_miss():
    g = torch.Generator().manual_seed(0)
    ref = 0.1 * torch.randn(1, 2, 48000, generator=g)
    shifted = torch.roll(ref, 6, dims=-1)  # 6 samples late: same magnitudes, other phases
    other = 0.1 * torch.randn(1, 2, 48000, generator=g)
    mag_shift = mrstft_distance(ref, shifted, (2048, 1024))
    assert mag_shift < 0.2 * mrstft_distance(ref, other, (2048, 1024))
    cplx_shift = complex_stft_distance(ref, shifted, 1024)
    assert cplx_shift > 0.5 * complex_stft_distance(ref, other, 1024)
    assert complex_stft_distance(ref, ref, 1024) == 0
