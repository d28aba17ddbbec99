"""Building blocks of the 1D U-Net; each one runs causal or bidirectional, chosen per call.

JEN-1 trains one set of weights in two modes (section 4.2): bidirectional, and unidirectional
where every convolution is padded on the left only and self-attention is lower-triangular.
Every layer here takes ``causal: bool`` in ``forward``. In causal mode output frame k depends on
input frames <= k only. Normalisation is per frame (statistics over channels, never over time),
so it is causal-safe and the same weights serve both modes. Cross-attention to text is never
causally masked (the text is not a time series).

Activations are channels-last, (B, T, C), from the U-Net's input conv to its output conv: the
attention blocks, LayerNorm and the per-frame GroupNorm then need no transposes, and a bf16
convolution is one matrix product over concatenated shifted frames (see :func:`conv1d_frames`).
Parameters keep PyTorch's usual shapes (a conv weight is (C_out, C_in, K)), so checkpoints are
unchanged.

Shapes: B batch, C channels, T frames, S text tokens, D width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from jen1.diffusion import packing


def upcast(x: Tensor) -> Tensor:
    """Return ``x`` in at least float32 (half and bf16 go to float32; float64 stays)."""
    low = x.dtype in (torch.float16, torch.bfloat16) or not x.is_floating_point()
    return x.float() if low else x


def pad1d(x: Tensor, kernel_size: int, dilation: int = 1, *, causal: bool) -> Tensor:
    """Zero-pad the time axis of channels-last frames for a convolution of ``kernel_size``.

    Causal padding puts all ``dilation * (kernel_size - 1)`` frames on the LEFT, so a stride-1
    conv's output frame k sees input frames k - dilation*(kernel_size-1) .. k only (no future).
    Centred padding splits them, the extra frame (even kernels) going to the right. Either way a
    stride-1 conv keeps the length T, and a stride-s conv gives ceil(T / s) frames.

    Args:
        x: (B, T, C).
        kernel_size: conv kernel size.
        dilation: conv dilation.
        causal: left-only padding if True, centred otherwise.

    Returns:
        (B, T + dilation * (kernel_size - 1), C).
    """
    total = dilation * (kernel_size - 1)
    if total == 0:
        return x
    left = total if causal else total // 2
    return F.pad(x, (0, 0, left, total - left))


def conv1d_frames(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    *,
    stride: int = 1,
    dilation: int = 1,
    causal: bool,
) -> Tensor:
    """1D convolution of channels-last frames, causal (left) or centred zero padding.

    A stride-1 conv of kernel 1 is a Linear. In bf16 (or fp16) on a CPU the K shifted copies of
    the padded frames are concatenated into (B, T', K * C_in) windows and multiplied by the
    weight viewed as (C_out, K * C_in): one matrix product, its backward plain matrix products.
    Otherwise (float32, CUDA, dilation) it is ``conv2d`` on a channels-last view of the frames.
    Measured on 2 cores with the small U-Net's shapes: in bf16 the matrix product took 0.5-0.9x
    the time of oneDNN's conv1d on (B, C, T); in float32 it took up to 2x, while the
    channels-last conv took 0.65-0.85x (one shape, 125 frames x 384 channels, 1.9x).

    The weight viewed as (C_out, K * C_in) is free when its memory is (C_out, K, C_in), as
    :class:`Conv1d` keeps it (:func:`frames_last_`); any other layout works at the cost of a copy.

    Args:
        x: (B, T, C_in).
        weight: (C_out, C_in, K); bias: (C_out,) or None.

    Returns:
        (B, ceil(T / stride), C_out).
    """
    k = weight.shape[-1]
    if k == 1 and stride == 1:
        return F.linear(x, weight.flatten(1), bias)
    frames = x.shape[1]
    x = pad1d(x, k, dilation, causal=causal)
    if dilation == 1 and x.device.type == "cpu" and _low_precision(x):
        span = stride * ((frames - 1) // stride) + 1  # input frames one shifted copy covers
        windows = torch.cat([x[:, i : i + span : stride] for i in range(k)], dim=-1)
        return F.linear(windows, weight.transpose(1, 2).flatten(1), bias)  # (B, T', K * C_in)
    y = F.conv2d(  # (B, C_in, 1, T) view of (B, T, C_in) memory: channels-last
        x.transpose(1, 2).unsqueeze(2),
        weight.unsqueeze(2),
        bias,
        stride=(1, stride),
        dilation=(1, dilation),
    )
    return y.squeeze(2).transpose(1, 2)


def frames_last_(weight: nn.Parameter) -> nn.Parameter:
    """Keep a (C_out, C_in, K) conv weight's memory as (C_out, K, C_in), in place; returns it.

    Shape, values and state-dict entries are unchanged (``load_state_dict`` copies into this
    layout, ``.to(dtype)`` and autocast keep it); :func:`conv1d_frames` then reads the weight as
    a (C_out, K * C_in) matrix without a copy, and ``conv2d`` sees a channels-last kernel.
    """
    weight.data = weight.data.transpose(1, 2).contiguous().transpose(1, 2)
    return weight


def _low_precision(x: Tensor) -> bool:
    """Whether a matrix product on ``x`` runs in bf16 / fp16 (its dtype, or autocast's)."""
    low = (torch.bfloat16, torch.float16)
    if x.dtype in low:
        return True
    dev = x.device.type
    return torch.is_autocast_enabled(dev) and torch.get_autocast_dtype(dev) in low


class Conv1d(nn.Module):
    """1D convolution with causal (left) or centred zero padding chosen per call.

    With ``stride > 1`` and causal padding, output frame k covers input frames
    ``k*stride - (kernel_size - 1) .. k*stride``: never beyond the first frame it maps back to
    under nearest up-sampling (see :class:`Downsample`).
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
        frames_last_(self.conv.weight)

    def forward(self, x: Tensor, causal: bool) -> Tensor:
        """(B, T, C_in) -> (B, ceil(T / stride), C_out)."""
        return conv_module_frames(self.conv, x, causal=causal)


def conv_module_frames(conv: nn.Conv1d, x: Tensor, *, causal: bool) -> Tensor:
    """Run ``conv``'s weights on channels-last frames (B, T, C_in) -> (B, T', C_out).

    With a valid oneDNN pack (:mod:`jen1.diffusion.packing`, inference on a CPU) a kernel-1
    conv is a packed matrix product and a wider one oneDNN's packed convolution (at the width
    it was packed for); otherwise :func:`conv1d_frames`.
    """
    k, stride, dilation = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
    p = packing.packed(conv, x)
    if p is not None:
        if k == 1 and stride == 1:
            return packing.packed_linear(x, p)
        y = packing.packed_conv_frames(x, p, k, stride, dilation, causal=causal)
        if y is not None:  # None: packed for another width
            return y
    return conv1d_frames(x, conv.weight, conv.bias, stride=stride, dilation=dilation, causal=causal)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state dict) that runs a valid oneDNN pack if it has one.

    See :mod:`jen1.diffusion.packing`; without a pack (training, GPUs) it is ``nn.Linear``.
    """

    def forward(self, x: Tensor) -> Tensor:
        """(..., C_in) -> (..., C_out)."""
        return packing.linear(self, x)


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
        skip = (
            x
            if isinstance(self.skip, nn.Identity)
            else conv_module_frames(self.skip, x, causal=causal)
        )
        return skip + h


# cross-attention keys, values and mask per layer, reused across sampling steps
KeyCache = dict[nn.Module, tuple[Tensor, Tensor, Tensor]]

# Above this many (query, key) pairs per head the CPU path hands over to SDPA, whose kernels do
# not hold the whole (T, S) score matrix: 2048 x 2048 covers a 40 s attention window at 1/2 rate.
CPU_SCORES_MAX = 2048 * 2048
# bf16 elements per vector of PyTorch's CPU softmax kernel (AVX-512); keys are padded to it
SOFTMAX_WIDTH = 32


def attention(
    q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False
) -> Tensor:
    """Multi-head attention over (B, H, T, D) queries and (B, H, S, D) keys/values -> (B, H, T, D).

    ``attn_mask`` is broadcastable to (B, H, T, S): a bool mask (True = attend) or an additive
    float bias (0 = attend, -inf = not; see :func:`key_padding_bias`), as
    ``F.scaled_dot_product_attention`` takes it. ``is_causal`` masks keys after the query's
    position (T == S). Every query row must keep one key.

    On a CPU this is scores -> softmax -> weighted sum as three plain ops in the input dtype
    (bf16 under autocast): measured on the small U-Net's shapes (batch 4, 4 heads, 250 frames,
    bf16) a forward + backward took 3.1 ms against 8.3 ms for SDPA's flash kernel and 9.8 ms for
    its math backend (which computes bf16 in float32), and a forward 1.4 ms against 2.3 ms.
    The scores are rounded to bf16 before the softmax (the softmax itself accumulates in
    float32 and rounds its output to bf16): relative error of the output 0.5-1.3% against
    float32, 0.4-0.7% for flash, both at bf16's own resolution. Elsewhere (CUDA, or more than
    :data:`CPU_SCORES_MAX` pairs per head) it is ``F.scaled_dot_product_attention``.
    """
    t, s = q.shape[-2], k.shape[-2]
    if q.device.type != "cpu" or t * s > CPU_SCORES_MAX:
        if q.device.type == "cpu" and torch.is_grad_enabled() and q.requires_grad:
            with sdpa_kernel(SDPBackend.MATH):  # CPU flash backward is the slower one
                return F.scaled_dot_product_attention(
                    q, k, v, attn_mask=attn_mask, is_causal=is_causal
                )
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
    # pad the keys to a multiple of the bf16 softmax's vector width with zero keys and values,
    # masked out below: its last partial vector is slow (measured, 2 cores: (2, 4, 250, 250)
    # 243 us, (2, 4, 250, 256) 143 us; (2, 6, 125, 125) 161 us, (2, 6, 125, 128) 70 us)
    pad = padded_keys(s, q) - s
    if pad:
        k, v = F.pad(k, (0, 0, 0, pad)), F.pad(v, (0, 0, 0, pad))  # (B, H, S + pad, D)
    scale = q.shape[-1] ** -0.5
    if not is_causal and attn_mask is None:
        scores = torch.matmul(q * scale, k.transpose(-1, -2))  # (B, H, T, S + pad)
        if pad:
            scores[..., s:] = float("-inf")
    else:
        # a mask enters as an additive 0 / -inf bias inside the scores' matrix product instead
        # of a bool masked_fill broadcast over (B, H, T, S) (measured against that, whole
        # attention, 2 cores: causal (2, 4, 250, 250) 720-750 -> 480 us, cross-attention to
        # 64 tokens 200-215 -> 170 us)
        scores = _masked_scores(q, k, s, scale, attn_mask, is_causal)
    # in bf16 the softmax accumulates in float32 and rounds its output: the same numbers as a
    # float32 softmax cast back (tested), without a float32 (B, H, T, S) copy each way, which cost
    # the small U-Net's forward 14% (41.0 -> 35.2 ms, batch 2 x 10 s, one run)
    return torch.matmul(scores.softmax(dim=-1), v)


def _masked_scores(
    q: Tensor, k: Tensor, s: int, scale: float, attn_mask: Tensor | None, is_causal: bool
) -> Tensor:
    """``scale * q @ k.T`` plus a 0 / -inf bias for masked keys: (B, H, T, S') scores.

    ``k`` may carry padded keys beyond the first ``s`` (S' = k's length); they are masked.
    """
    b, h, t, d = q.shape
    sp = k.shape[-2]
    if attn_mask is not None and attn_mask.is_floating_point() and not is_causal:
        # an additive bias as given (the text's, built once per sampling run), its padding
        # keys masked too
        bias = attn_mask.to(q.dtype)
        if sp > s:
            bias = F.pad(bias, (0, sp - s), value=float("-inf"))
        bias = bias.expand(b, h, -1, -1)  # (B, H, T or 1, S')
    else:
        masked = torch.zeros(1, 1, 1, sp, dtype=torch.bool, device=q.device)
        masked[..., s:] = True
        if is_causal:  # key j after query i; covers the padding (j >= s = t > i)
            masked = masked | torch.ones(t, sp, dtype=torch.bool, device=q.device).triu_(1)
        if attn_mask is not None:
            keep = attn_mask if attn_mask.dtype == torch.bool else attn_mask > float("-inf")
            masked = masked | ~F.pad(keep.expand(*keep.shape[:-1], s), (0, sp - s))
        bias = torch.zeros(masked.shape, dtype=q.dtype, device=q.device)
        bias = bias.masked_fill_(masked, float("-inf")).expand(b, h, -1, -1)  # (B, H, T|1, S')
    scores = torch.baddbmm(
        bias.reshape(b * h, bias.shape[-2], sp),
        q.reshape(b * h, t, d),
        k.reshape(b * h, sp, d).transpose(1, 2),
        alpha=scale,
    )
    return scores.view(b, h, t, sp)


def padded_keys(s: int, q: Tensor) -> int:
    """How many keys :func:`attention` computes with for ``s`` real ones and queries ``q``.

    On a CPU in bf16 / fp16, more than :data:`SOFTMAX_WIDTH` keys are padded to a multiple of
    it with masked zero keys (the softmax kernel's partial last vector is slow); else ``s``.
    """
    if s > SOFTMAX_WIDTH and q.device.type == "cpu" and _low_precision(q):
        return s + (-s % SOFTMAX_WIDTH)
    return s


def key_padding_bias(mask: Tensor, dtype: torch.dtype, length: int | None = None) -> Tensor:
    """Additive attention bias from a (B, S) key mask (True = attend): (B, 1, 1, L) of 0 / -inf.

    Keys beyond S (zero padding, up to ``length`` >= S) are masked too.
    """
    keep = F.pad(mask.to(torch.bool), (0, (length or mask.shape[-1]) - mask.shape[-1]))
    bias = torch.zeros(keep.shape, dtype=dtype, device=mask.device)
    return bias.masked_fill_(~keep, float("-inf"))[:, None, None, :]


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
        h = attention(q, k, v, is_causal=causal)
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
        h = attention(q, *keys)
        return self.out(h.transpose(1, 2).flatten(2))

    def keys(
        self, context: Tensor, context_mask: Tensor, q: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(B, H, S', D) keys and values of the context and the (B, 1, 1, S') bool mask or bias.

        On a CPU in bf16 (:func:`padded_keys`) the keys come padded with masked zero keys and
        the mask as an additive bias, so a cached entry needs no work per call.
        """
        kv = self.kv(context).unflatten(-1, (2, self.heads, -1))  # (B, S, 2, H, D)
        k, v = kv.permute(2, 0, 3, 1, 4)  # (B, H, S, D) each
        s = k.shape[-2]
        length = padded_keys(s, q)
        if length == s:
            return k, v, context_mask[:, None, None, :]  # (B, 1, 1, S), True = attend
        k, v = (F.pad(a, (0, 0, 0, length - s)) for a in (k, v))  # (B, H, S', D), contiguous
        return k, v, key_padding_bias(context_mask, k.dtype, length)


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
        return down(packing.linear(up, norm(x), activation="gelu"))


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
