"""Building blocks of the 1D U-Net; each one runs causal or bidirectional, chosen per call.

JEN-1 trains one set of weights in two modes (section 4.2): bidirectional, and unidirectional
where every convolution is padded on the left only and self-attention is lower-triangular.
Every layer here takes ``causal: bool`` in ``forward``. In causal mode output frame k depends on
input frames <= k only. Normalisation is per frame (statistics over channels, never over time),
so it is causal-safe and the same weights serve both modes. Cross-attention to text is never
causally masked (the text is not a time series).

Activations are channels-last, (B, T, C), from the U-Net's input conv to its output conv: the
attention blocks, LayerNorm and the per-frame GroupNorm then need no transposes. Parameters keep
PyTorch's usual shapes (a conv weight is (C_out, C_in, K)), so checkpoints are unchanged.

The kernels (convolution with causal padding, matrix products, attention) are calls into
:mod:`jen1.diffusion.ops`, which picks a fast CPU path where one applies (bf16 convolution as
a matrix product, oneDNN-prepacked weights, padded-key attention) and the plain PyTorch op
otherwise; this file is the network alone.

Shapes: B batch, C channels, T frames, S text tokens, D width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jen1.diffusion import ops


def upcast(x: Tensor) -> Tensor:
    """Return ``x`` in at least float32 (half and bf16 go to float32; float64 stays)."""
    low = x.dtype in (torch.float16, torch.bfloat16) or not x.is_floating_point()
    return x.float() if low else x


class Conv1d(nn.Module):
    """1D convolution with causal (left) or centred zero padding chosen per call.

    With ``stride > 1`` and causal padding, output frame k covers input frames
    ``k*stride - (kernel_size - 1) .. k*stride``: never beyond the first frame it maps back to
    under nearest up-sampling (see :class:`Downsample`). Causal padding is left-only
    (:func:`jen1.diffusion.ops.pad1d`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, bias=bias
        )
        ops.frames_last_(self.conv.weight)

    def forward(self, x: Tensor, causal: bool) -> Tensor:
        """(B, T, C_in) -> (B, ceil(T / stride), C_out)."""
        return ops.conv1d(self.conv, x, causal=causal)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state dict) that runs a valid oneDNN pack if it has one.

    See :func:`jen1.diffusion.ops.linear`; without a pack (training, GPUs) it is ``nn.Linear``.
    """

    def forward(self, x: Tensor) -> Tensor:
        """(..., C_in) -> (..., C_out)."""
        return ops.linear(self, x)


class Downsample(nn.Module):
    """Halve the frame rate with a stride-2 conv (causal-safe).

    In causal mode coarse frame k = f(x[2k-K+1 .. 2k]): it depends on nothing after fine frame 2k,
    the first fine frame that nearest up-sampling maps it back to, so a down/up round trip leaks
    no future frame. Odd T gives ceil(T / 2) frames.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = Conv1d(in_channels, out_channels, kernel_size, stride=2)

    def forward(self, x: Tensor, causal: bool) -> Tensor:
        """(B, T, C_in) -> (B, ceil(T / 2), C_out)."""
        return self.conv(x, causal)


class Upsample(nn.Module):
    """Double the frame rate: nearest repeat (fine frame j <- coarse frame j // 2), then a conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = Conv1d(in_channels, out_channels, kernel_size)

    def forward(self, x: Tensor, causal: bool) -> Tensor:
        """(B, T, C_in) -> (B, 2T, C_out)."""
        return self.conv(torch.repeat_interleave(x, 2, dim=1), causal)


class FrameGroupNorm(nn.Module):
    """GroupNorm over channel groups, computed separately for every frame (causal-safe).

    Plain GroupNorm on (B, C, T) pools statistics over all frames, so in causal mode frame k would
    see the future through the mean and variance. Here each frame is normalised on its own: a
    LayerNorm over the (C / G) channels of each group of channels-last (B, T, G, C / G) frames
    (statistics in float32, also for bf16 input). A bf16 input (autocast) gives a bf16 output,
    so the following activation and conv need no extra cast.
    """

    def __init__(self, groups: int, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"channels {channels} not divisible by groups {groups}")
        self.groups = groups
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def normalize(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, T, C) standardised per frame and group, without the affine."""
        groups = x.unflatten(-1, (self.groups, -1))  # (B, T, G, C/G)
        return F.layer_norm(groups, groups.shape[-1:], eps=self.eps).flatten(-2)

    def forward(
        self, x: Tensor, scale: Tensor | None = None, shift: Tensor | None = None
    ) -> Tensor:
        """(B, T, C) -> (B, T, C); optional (B, 1, C) ``scale`` / ``shift`` applied after.

        ``norm(x) * (1 + scale) + shift`` is folded into one multiply-add: the per-channel
        affine and the time modulation combine on (B, C) numbers before touching the frames.
        """
        weight, bias = self.weight, self.bias
        if scale is not None:
            weight = weight * (1 + scale)  # (B, 1, C)
            bias = bias * (1 + scale)
        if shift is not None:
            bias = bias + shift
        h = self.normalize(x)
        return torch.addcmul(bias.to(h.dtype), h, weight.to(h.dtype))


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of continuous time (scaled by 1000 so t in [0, 1] spans DDPM's range).

    Args:
        t: (B,) time in [0, 1].
        dim: embedding width D (even).

    Returns:
        (B, D) in t's dtype, at least float32.
    """
    t = upcast(t)
    half = dim // 2
    steps = torch.arange(half, dtype=t.dtype, device=t.device)
    freqs = torch.exp(-math.log(max_period) * steps / half)
    args = 1000.0 * t[:, None] * freqs[None]  # (B, D/2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t followed by a two-layer MLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(Linear(dim, dim), nn.SiLU(), Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        """(B,) -> (B, D)."""
        return self.mlp(timestep_embedding(t, self.dim))


class ResBlock(nn.Module):
    """Residual block: norm-SiLU-conv, time scale/shift, norm-SiLU-dropout-conv (+1x1 skip).

    The second conv starts at zero, so a new block is the identity (ADM, Dhariwal & Nichol 2021).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        time_dim: int,
        *,
        kernel_size: int = 3,
        groups: int = 8,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = FrameGroupNorm(groups, in_channels)
        self.conv1 = Conv1d(in_channels, out_channels, kernel_size)
        self.time = Linear(time_dim, 2 * out_channels)
        self.norm2 = FrameGroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = Conv1d(out_channels, out_channels, kernel_size)
        nn.init.zeros_(self.conv2.conv.weight)
        nn.init.zeros_(self.conv2.conv.bias)
        self.skip = (
            nn.Conv1d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor, temb: Tensor, causal: bool) -> Tensor:
        """x (B, T, C_in), temb (B, D_time) -> (B, T, C_out)."""
        h = self.conv1(F.silu(self.norm1(x)), causal)
        scale, shift = self.time(F.silu(temb))[:, None, :].chunk(2, dim=-1)  # (B, 1, C_out) each
        h = self.norm2(h, scale, shift)
        h = self.conv2(self.dropout(F.silu(h)), causal)
        skip = x if isinstance(self.skip, nn.Identity) else ops.conv1d(self.skip, x, causal=causal)
        return skip + h


# cross-attention keys, values and mask per layer, reused across sampling steps
KeyCache = dict[nn.Module, tuple[Tensor, Tensor, Tensor]]


class SelfAttention(nn.Module):
    """Multi-head self-attention over frames; lower-triangular (causal) on request."""

    def __init__(self, channels: int, head_dim: int) -> None:
        super().__init__()
        self.heads = max(channels // head_dim, 1)
        self.norm = nn.LayerNorm(channels)
        self.qkv = Linear(channels, 3 * channels)
        self.out = Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, causal: bool) -> Tensor:
        """x (B, T, C) -> residual update (B, T, C)."""
        qkv = self.qkv(self.norm(x)).unflatten(-1, (3, self.heads, -1))  # (B, T, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # (B, H, T, D) each
        h = ops.attention(q, k, v, is_causal=causal)
        return self.out(h.transpose(1, 2).flatten(2))


class CrossAttention(nn.Module):
    """Multi-head attention from frames to text tokens with the text padding mask (never causal)."""

    def __init__(self, channels: int, context_dim: int, head_dim: int) -> None:
        super().__init__()
        self.heads = max(channels // head_dim, 1)
        self.norm = nn.LayerNorm(channels)
        self.q = Linear(channels, channels)
        self.kv = Linear(context_dim, 2 * channels)
        self.out = Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, x: Tensor, context: Tensor, context_mask: Tensor, cache: KeyCache | None = None
    ) -> Tensor:
        """x (B, T, C), context (B, S, D), context_mask (B, S) bool -> update (B, T, C).

        Every row of ``context_mask`` must hold at least one True. With a ``cache`` the keys,
        values and mask bias this layer makes of the context are kept there on the first call
        and reused on later ones (sampling: the text is the same at every step; the cache is
        valid while the weights and the context do not change).
        """
        q = self.q(self.norm(x)).unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (B, H, T, D)
        use_cache = cache is not None and not torch.compiler.is_compiling()
        keys = cache.get(self) if use_cache else None
        if keys is None:
            keys = self.keys(context, context_mask, q)
            if use_cache:
                cache[self] = keys
        h = ops.attention(q, *keys)
        return self.out(h.transpose(1, 2).flatten(2))

    def keys(
        self, context: Tensor, context_mask: Tensor, q: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(B, H, S', D) keys and values of the context and the (B, 1, 1, S') bool mask or bias.

        On a CPU in bf16 (:func:`jen1.diffusion.ops.padded_keys`) the keys come padded with
        masked zero keys and the mask as an additive bias, so a cached entry needs no work per
        call.
        """
        kv = self.kv(context).unflatten(-1, (2, self.heads, -1))  # (B, S, 2, H, D)
        k, v = kv.permute(2, 0, 3, 1, 4)  # (B, H, S, D) each
        s = k.shape[-2]
        length = ops.padded_keys(s, q)
        if length == s:
            return k, v, context_mask[:, None, None, :]  # (B, 1, 1, S), True = attend
        k, v = (F.pad(a, (0, 0, 0, length - s)) for a in (k, v))  # (B, H, S', D), contiguous
        return k, v, ops.key_padding_bias(context_mask, k.dtype, length)


class FeedForward(nn.Module):
    """Per-frame MLP (pre-LayerNorm, GELU), zero-initialised output."""

    def __init__(self, channels: int, mult: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(channels),
            Linear(channels, mult * channels),
            nn.GELU(),
            Linear(mult * channels, channels),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C) -> update (B, T, C).

        The GELU runs inside the first matrix product when its weight is packed (one rounding
        to bf16 instead of two; one pass over the (B, T, mult * C) activations fewer).
        """
        norm, up, _, down = self.net
        return down(ops.linear(up, norm(x), activation="gelu"))


class AttentionBlock(nn.Module):
    """Transformer block on (B, T, C): self-attention, cross-attention to text, feed-forward."""

    def __init__(self, channels: int, context_dim: int, head_dim: int, ff_mult: int = 2) -> None:
        super().__init__()
        self.self_attn = SelfAttention(channels, head_dim)
        self.cross_attn = CrossAttention(channels, context_dim, head_dim)
        self.ff = FeedForward(channels, ff_mult)

    def forward(
        self,
        x: Tensor,
        context: Tensor,
        context_mask: Tensor,
        causal: bool,
        cache: KeyCache | None = None,
    ) -> Tensor:
        """x (B, T, C), context (B, S, D), context_mask (B, S) -> (B, T, C).

        ``cache``: see :meth:`CrossAttention.forward`.
        """
        h = x + self.self_attn(x, causal)
        h = h + self.cross_attn(h, context, context_mask, cache)
        return h + self.ff(h)
