"""The kernels the U-Net's layers call: convolution, matrix product, attention.

Each op is one function with a plain PyTorch fallback, so :mod:`jen1.diffusion.layers` reads as
the network alone. The fast paths are for CPU inference and training, chosen per call from the
input (device, dtype or autocast) and the weight:

- :func:`conv1d` of channels-last frames (B, T, C): a oneDNN-prepacked convolution when the
  layer has a valid pack (:func:`pack_for_inference`); else in bf16 on a CPU the K shifted
  copies of the frames as one matrix product; else ``conv2d`` on a channels-last view.
- :func:`linear`: a prepacked matrix product (GELU fused) when packed, else ``F.linear``.
- :func:`attention`: on a CPU scores -> softmax -> weighted sum in the input dtype with the
  keys padded to the softmax's vector width; else (CUDA, long sequences) SDPA.

The only state is the pack cache, owned by :mod:`jen1.diffusion.packing` (packed copies by
module, each valid while its weight's storage and version are unchanged; see there).
Measured figures for each choice: ``benchmarks/README.md``.

Shapes: B batch, C channels, T frames, S keys, H heads, D head width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from jen1.diffusion import packing
from jen1.diffusion.packing import pack_for_inference, packing_supported, unpack

__all__ = [
    "attention",
    "conv1d",
    "conv1d_frames",
    "frames_last_",
    "key_padding_bias",
    "linear",
    "pack_for_inference",
    "packing_supported",
    "pad1d",
    "padded_keys",
    "unpack",
]


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
    Each is the faster choice on the small U-Net's shapes in its precision: oneDNN's bf16 conv1d
    on (B, C, T) is slower than one matrix product, its float32 conv1d slower than ``conv2d``
    on channels-last memory (figures in ``benchmarks/README.md``).

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


def conv1d(conv: nn.Conv1d, x: Tensor, *, causal: bool) -> Tensor:
    """Run ``conv``'s weights on channels-last frames (B, T, C_in) -> (B, T', C_out).

    With a valid oneDNN pack (:func:`pack_for_inference`, inference on a CPU) a kernel-1
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


def linear(module: nn.Linear, x: Tensor, activation: str = "none") -> Tensor:
    """``module(x)`` (then GELU if ``activation == "gelu"``): (..., C_in) -> (..., C_out).

    A prepacked oneDNN matrix product (the GELU fused) when ``module`` has a valid pack.
    """
    return packing.linear(module, x, activation)


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
    (bf16 under autocast): at the U-Net's short sequences this beats SDPA's CPU kernels, forward
    and backward (SDPA's math backend computes bf16 in float32; figures in
    ``benchmarks/README.md``). The scores are rounded to bf16 before the softmax (the softmax
    itself accumulates in float32 and rounds its output to bf16): an error at bf16's own
    resolution, as for SDPA's flash kernel. Elsewhere (CUDA, or more than
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
    # masked out below: the kernel's last partial vector is slow
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
        # of a bool masked_fill broadcast over (B, H, T, S): one pass over the scores fewer
        scores = _masked_scores(q, k, s, scale, attn_mask, is_causal)
    # in bf16 the softmax accumulates in float32 and rounds its output: the same numbers as a
    # float32 softmax cast back (tested), without a float32 (B, H, T, S) copy each way
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
