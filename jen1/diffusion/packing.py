"""oneDNN-prepacked weights for CPU inference: convs and matrix products without per-call reorders.

A bf16 matrix product or convolution on a CPU runs in oneDNN, which first reorders the weight
into its blocked layout, on every call. :func:`pack_for_inference` does that reorder once for
every ``nn.Linear`` and ``nn.Conv1d`` of a module and keeps the packed copies beside the module
(the module, its parameters and its state dict are untouched). Layers that know about packing
(:func:`linear`, :func:`jen1.diffusion.ops.conv1d`) then call oneDNN's packed
kernels directly; a kernel-3 convolution runs as oneDNN's own convolution on channels-last
frames instead of the window copies and matrix product of
:func:`jen1.diffusion.ops.conv1d_frames`, at the output width it was first packed for
(:class:`Packed`). This saves the per-call reorder, which dominates the small U-Net's narrow
convolutions and few-row products (figures in ``benchmarks/README.md``).

A pack is used only while it is valid: same device (CPU), no autograd on the weight, and the
weight unchanged since packing (same storage and version counter, so ``load_state_dict``,
an optimiser step or ``.to()`` silently retire it and the layer falls back to the plain path).
Packed kernels compute in the pack's dtype; a bf16 pack serves bf16 inputs or inputs under bf16
autocast (as ``cast_matmul_weights`` modules run), a float32 pack serves float32 inputs outside
autocast.

Shapes: B batch, T frames, C channels.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# packed copies, by the module they belong to; gone with the module
_PACKS: weakref.WeakKeyDictionary[nn.Module, "Packed"] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Packed:
    """A weight in oneDNN's blocked layout, its bias, and what it was packed from.

    A linear weight is packed once (``weight``). A conv weight's blocked layout depends on the
    input's width, and converting one blocked layout into another runs through oneDNN's slow
    generic reorder on every call (far slower than the conv itself): so a conv is packed from
    the plain ``source`` for the first output width it meets and serves that width only
    (``conv_weight``).
    """

    weight: Tensor | None  # linear: opaque packed (C_out, C_in); conv: None (see by_size)
    bias: Tensor | None
    dtype: torch.dtype
    ptr: int  # source weight storage
    version: int  # source weight version counter
    source: Tensor | None = None  # conv: the plain (C_out, C_in / groups, K) weight, detached
    groups: int = 1  # conv groups
    by_size: dict[tuple[int, ...], Tensor] = field(default_factory=dict)  # {(B, C_in, W, pad): w}

    def conv_weight(
        self, size: tuple[int, ...], pad: int, stride: int, dilation: int
    ) -> Tensor | None:
        """The conv weight packed for (B, C_in, 1, W) inputs of ``size`` with ``pad``, or None.

        Packed for the first (batch, input width, padding) it meets and kept for that one.
        Other calls get None and take the plain path: a second layout would be a second copy
        of the weights, and packing one lazily during sampling raises the peak memory of long
        continuations. The padding is part of the key although a causal call (input W + 2, no
        padding) and a centred one (W, padding 1) have the same output width: a weight packed
        for one and used for the other sends oneDNN through a reorder on every call, which made
        causal sampling 13x slower than the plain path.
        """
        key = (size[0], size[1], size[-1], pad)
        if not self.by_size:
            assert self.source is not None
            self.by_size[key] = reorder_conv_weight(
                self.source, stride, dilation, self.groups, padding=pad, input_size=size
            )
        return self.by_size.get(key)

    def valid_for(self, weight: Tensor) -> bool:
        """Whether the source ``weight`` is unchanged and not being differentiated."""
        return (
            weight.data_ptr() == self.ptr
            and _version(weight) == self.version
            and weight.dtype == self.dtype
            and not (weight.requires_grad and torch.is_grad_enabled())
        )


def _version(t: Tensor) -> int:
    """In-place modification counter (-1 for inference tensors, which keep none)."""
    return -1 if t.is_inference() else t._version


def packing_available() -> bool:
    """Whether this PyTorch build has oneDNN (mkldnn) CPU kernels (not the Arm ACL flavour)."""
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return False
    return not torch.ops.mkldnn._is_mkldnn_acl_supported()


def packing_supported(dtype: torch.dtype) -> bool:
    """Whether :func:`pack_for_inference` packs ``dtype`` weights on this machine."""
    return packing_available() and _kernels_run(dtype)


@functools.cache
def _kernels_run(dtype: torch.dtype) -> bool:
    """Whether this CPU runs the packed kernels in ``dtype`` (a tiny conv and product, once).

    oneDNN has no bf16 convolution on CPUs without AVX-512, for instance; there nothing is
    packed and the layers keep their plain (slower, working) path.
    """
    try:
        with torch.no_grad():
            conv = nn.Conv1d(4, 4, 3).to(dtype)
            lin = nn.Linear(4, 4).to(dtype)
            x = torch.zeros(1, 5, 4, dtype=dtype)
            pc, pl = _pack(conv), _pack(lin)
            if pc is not None:
                packed_conv_frames(x, pc, 3, 1, 1, causal=False)
            if pl is not None:
                packed_linear(x, pl, "gelu")
        return True
    except RuntimeError:
        return False


def reorder_conv_weight(
    weight: Tensor,
    stride: int,
    dilation: int,
    groups: int = 1,
    *,
    padding: int = 0,
    input_size: tuple[int, ...] | None = None,
) -> Tensor:
    """A (C_out, C_in / groups, K) conv weight in oneDNN's blocked layout.

    The result serves ``torch.ops.mkldnn._convolution_pointwise`` over (B, C_in, 1, W) inputs
    (preferably channels-last) with paddings ``[0, padding]``, strides ``[1, stride]`` and
    dilations ``[1, dilation]``; the layout suits inputs of ``input_size`` (other sizes may
    need another layout: see :class:`Packed`).
    """
    w4 = weight.detach().unsqueeze(2).contiguous(memory_format=torch.channels_last)
    size = list(input_size) if input_size else [2, w4.shape[1] * groups, 1, 256]
    return torch._C._nn.mkldnn_reorder_conv2d_weight(
        w4.to_mkldnn(), [0, padding], [1, stride], [1, dilation], groups, size
    )


def _pack(module: nn.Module) -> Packed | None:
    weight, bias = module.weight, module.bias
    if weight.device.type != "cpu" or weight.dtype not in (torch.bfloat16, torch.float32):
        return None
    w = weight.detach()
    b = None if bias is None else bias.detach().to(w.dtype)
    if isinstance(module, nn.Linear) or (isinstance(module, nn.Conv1d) and w.shape[-1] == 1):
        if w.dtype != torch.bfloat16:
            return None  # float32 products gain nothing from packing (benchmarks/README.md)
        packed = torch.ops.mkldnn._reorder_linear_weight(w.flatten(1).contiguous())
    elif isinstance(module, nn.Conv1d):
        if module.groups != 1 or module.padding_mode != "zeros":
            return None
        return Packed(None, b, w.dtype, weight.data_ptr(), _version(weight), source=w)
    else:
        return None
    return Packed(packed, b, w.dtype, weight.data_ptr(), _version(weight))


def pack_for_inference(module: nn.Module) -> int:
    """Prepack every ``nn.Linear`` / ``nn.Conv1d`` weight of ``module`` (CPU, bf16 or float32).

    Call it after the weights have their final dtype and device. Returns the number of layers
    packed (0 without oneDNN). Memory: one extra copy of the packed weights.
    """
    if not packing_available():
        return 0
    count = 0
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)) and _kernels_run(m.weight.dtype):
                p = _pack(m)
                if p is not None:
                    _PACKS[m] = p
                    count += 1
    return count


def unpack(module: nn.Module) -> None:
    """Drop the packed copies of ``module``'s layers."""
    for m in module.modules():
        _PACKS.pop(m, None)


def has_packs(module: nn.Module) -> bool:
    """Whether any layer of ``module`` has a packed copy (valid or retired)."""
    return any(m in _PACKS for m in module.modules())


def packed(module: nn.Module, x: Tensor) -> Packed | None:
    """The valid pack of ``module`` for input ``x``, or None (then use the plain path)."""
    if not _PACKS or torch.compiler.is_compiling():  # inductor packs (freezing) on its own
        return None
    p = _PACKS.get(module)
    if p is None or x.device.type != "cpu" or not p.valid_for(module.weight):
        return None
    autocast = torch.is_autocast_enabled("cpu")
    if p.dtype == torch.bfloat16:
        ok = x.dtype == torch.bfloat16 or (
            autocast and torch.get_autocast_dtype("cpu") == torch.bfloat16
        )
    else:
        ok = x.dtype == torch.float32 and not autocast
    return p if ok else None


def packed_linear(x: Tensor, p: Packed, activation: str = "none") -> Tensor:
    """``activation(x @ W.T + b)`` with a packed weight; ``activation`` ``none`` or ``gelu``.

    Args:
        x: (..., C_in).

    Returns:
        (..., C_out) in the pack's dtype.
    """
    algorithm = "none" if activation == "gelu" else ""  # exact (erf) GELU, as nn.GELU()
    return torch.ops.mkldnn._linear_pointwise(
        x.to(p.dtype), p.weight, p.bias, activation, [], algorithm
    )


def packed_conv_frames(
    x: Tensor, p: Packed, kernel_size: int, stride: int, dilation: int, *, causal: bool
) -> Tensor | None:
    """oneDNN convolution of channels-last frames with a packed weight; None at another width.

    Padding as :func:`jen1.diffusion.ops.pad1d`: causal puts all ``dilation * (K - 1)``
    frames on the left; centred splits them (an odd total is padded explicitly, the extra frame
    on the right). None when the pack serves another output width (:meth:`Packed.conv_weight`):
    the caller then runs the plain convolution.

    Args:
        x: (B, T, C_in).

    Returns:
        (B, ceil(T / stride), C_out), contiguous, or None.
    """
    total = dilation * (kernel_size - 1)
    explicit = causal or total % 2 == 1  # pad the frames here, else inside the kernel
    pad = 0 if explicit else total // 2
    size = (x.shape[0], x.shape[2], 1, x.shape[1] + (total if explicit else 0))
    weight = p.conv_weight(size, pad, stride, dilation)
    if weight is None:
        return None
    x = x.to(p.dtype)
    if explicit:
        left = total if causal else total // 2
        x = F.pad(x, (0, 0, left, total - left))
    else:
        x = x.contiguous()
    frames = x.transpose(1, 2).unsqueeze(2)  # (B, C_in, 1, T) view of channels-last memory
    y = torch.ops.mkldnn._convolution_pointwise(
        frames, weight, p.bias, [0, pad], [1, stride], [1, dilation], 1, "none", [], ""
    )
    return y.squeeze(2).transpose(1, 2)  # (B, T', C_out)


def linear(module: nn.Linear, x: Tensor, activation: str = "none") -> Tensor:
    """``module(x)`` (then GELU if ``activation == "gelu"``), packed when a valid pack exists."""
    p = packed(module, x)
    if p is not None:
        return packed_linear(x, p, activation)
    y = F.linear(x, module.weight, module.bias)
    return F.gelu(y) if activation == "gelu" else y
