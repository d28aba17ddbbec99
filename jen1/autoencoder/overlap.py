"""Overlap-add of frames a whole number of hops long, without ``F.fold``.

``F.fold`` (col2im) walks the output once per frame sample; when the frame is r hops long the
same sum is r shifted slice additions of (hop, N) blocks, which vectorise (benchmarks/README.md,
"decode speed"). Both inverse transforms of the STFT codec use it: the inverse STFT of the
decoder's spectrum and the low band's inverse MDCT.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def overlap_add(frames: Tensor, hop: int) -> Tensor:
    """Sum frames placed ``hop`` apart.

    Args:
        frames: (B, W, N), frame n's samples in column n.

    Returns:
        (B, (N - 1) * hop + W): sample ``n * hop + i`` gets ``frames[:, i, n]`` for every n.
    """
    b, width, n = frames.shape
    if width % hop:
        size = (n - 1) * hop + width
        y = F.fold(frames, output_size=(1, size), kernel_size=(1, width), stride=(1, hop))
        return y[:, 0, 0]
    r = width // hop
    if frames.stride(1) == 1:  # frame-major in memory: (B, N, W) transposed
        parts = frames.transpose(1, 2).reshape(b, n, r, hop)
        out = parts.new_zeros(b, n + r - 1, hop)
        for m in range(r):  # part m of frame j lands in output block j + m
            out[:, m : m + n] += parts[:, :, m]
        return out.reshape(b, -1)
    parts = frames.reshape(b, r, hop, n)
    out = parts.new_zeros(b, hop, n + r - 1)
    for m in range(r):
        out[:, :, m : m + n] += parts[:, m]
    return out.transpose(1, 2).reshape(b, -1)
