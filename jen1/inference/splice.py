"""Splicing generated audio into the given audio, with linear crossfades. Shapes (B, 2, L)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor


def fade_in(n: int) -> Tensor:
    """(n,) weights rising from just above 0 to just below 1 (both ends excluded)."""
    return torch.linspace(0, 1, n + 2)[1:-1]


def splice_gap(wav: Tensor, generated: Tensor, offset: int, a: int, e: int, xf: int) -> Tensor:
    """``wav`` with samples ``[a, e)`` taken from ``generated``, crossfaded inside the gap.

    Args:
        wav: (B, 2, L) the input; kept exactly outside ``[a, e)``.
        generated: (B, 2, L') audio whose sample 0 is the input's sample ``offset``.
        a, e: the gap in input samples.
        xf: crossfade length in samples at each end of the gap, at most ``(e - a) // 2``.
    """
    out = wav.clone()
    out[..., a:e] = generated[..., a - offset : e - offset]
    if xf > 0:
        ramp = fade_in(xf)
        out[..., a : a + xf] = (
            wav[..., a : a + xf] * (1 - ramp) + generated[..., a - offset : a - offset + xf] * ramp
        )
        out[..., e - xf : e] = (
            generated[..., e - xf - offset : e - offset] * (1 - ramp) + wav[..., e - xf : e] * ramp
        )
    return out


def splice_continuation(wav: Tensor, pieces: Iterator[Tensor], j: int, xf: int) -> Iterator[Tensor]:
    """The input ``wav`` (B, 2, L), then the decoded pieces from their sample ``j`` on.

    The decoded audio starts ``L - j`` samples into the input, so its sample ``j`` is the first
    one after the input. The input's last ``xf`` samples fade into the model's own decoding of
    them, which runs seamlessly into the continuation (decoded in the same pass).
    """
    length = wav.shape[-1]
    yield wav[..., : length - xf]
    ramp = fade_in(xf)
    pos = 0  # samples of decoded audio seen so far
    for piece in pieces:
        piece = piece.to(wav.device)
        a, e = pos, pos + piece.shape[-1]
        pos = e
        lo, hi = max(a, j - xf), min(e, j)
        if lo < hi:  # inside the crossfade
            r = ramp[lo - (j - xf) : hi - (j - xf)]
            old = wav[..., length - (j - lo) : length - (j - hi)]
            yield old * (1 - r) + piece[..., lo - a : hi - a] * r
        if e > j:
            yield piece[..., max(a, j) - a :]
