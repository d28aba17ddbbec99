"""Overlap-add by shifted slices equals ``F.fold``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from jen1.autoencoder.overlap import overlap_add


@pytest.mark.parametrize(
    ("width", "hop", "frames"), [(16, 4, 9), (12, 6, 5), (8, 8, 3), (10, 4, 6)]
)
def test_overlap_add_matches_fold(width: int, hop: int, frames: int):
    x = torch.randn(3, width, frames, dtype=torch.float64, requires_grad=True)
    size = (frames - 1) * hop + width
    ref = F.fold(x, output_size=(1, size), kernel_size=(1, width), stride=(1, hop))[:, 0, 0]
    out = overlap_add(x, hop)
    assert out.shape == (3, size)
    torch.testing.assert_close(out, ref)
    (g,) = torch.autograd.grad(out.square().sum(), x)
    (g_ref,) = torch.autograd.grad(ref.square().sum(), x)
    torch.testing.assert_close(g, g_ref)
