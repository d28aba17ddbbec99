"""Which floating-point precision inference runs in: bf16 where the hardware computes it natively.

bf16 autocast is 1.5-2x faster than float32 on CPUs with AVX-512 BF16 or AMX and on recent GPUs,
but where the CPU lacks those instructions bf16 matrix products are emulated and slower than
float32. ``auto`` therefore picks bf16 only where it is native.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jen1.errors import Jen1Error

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "bf16", "fp32")


def native_bf16(device: "str | torch.device" = "cpu") -> bool:
    """Whether ``device`` computes bf16 matrix products natively.

    CPU: oneDNN reports AVX-512 BF16 (or AMX) support. CUDA: the GPU supports bf16 (Ampere and
    later).
    """
    import torch  # here, not at import: the CLI reads PRECISIONS before torch is needed

    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):
        return False


def resolve_bf16(precision: str, device: "str | torch.device" = "cpu") -> bool:
    """``auto`` | ``bf16`` | ``fp32`` -> whether to run under bf16 autocast on ``device``."""
    if precision not in PRECISIONS:
        raise Jen1Error(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return native_bf16(device)
    return precision == "bf16"


def cast_matmul_weights(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Store the weights of every Conv1d and Linear of ``module`` in ``dtype``, in place.

    Under autocast to the same dtype this gives the same outputs bit for bit (autocast casts
    those weights on every call anyway) without the casts (see ``benchmarks/README.md``). Norms
    and other parameters stay float32, as autocast wants them. The module must then only run
    under autocast.
    """
    import torch

    for m in module.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear)):
            m.to(dtype)
    return module
