"""Building blocks of the convolutional autoencoder (DAC / EnCodec family).

Snake activation, weight-normed 1D convolutions, dilated residual units, strided encoder blocks
and transposed-conv decoder blocks. All convolutions are non-causal with "same" zero padding, so
a block maps L samples to exactly ``L // stride`` (encoder) or ``T * stride`` (decoder) samples when
L is a multiple of the stride.

Every block takes (B, D, L) or its channels-last form (B, D, 1, L) (see :func:`to_channels_last`),
which the encoder and decoder use while training: oneDNN's convolutions over few channels and
many samples are several times faster on channels-last memory (``benchmarks/README.md``).
The modules and their state dicts are the usual Conv1d / ConvTranspose1d ones either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.utils.parametrizations import weight_norm


class _SnakeFunction(torch.autograd.Function):
    """Snake with a hand-written backward that saves only x (less memory and traffic than
    autograd's chain of elementwise ops).

    d/dx = 1 + sin(2ax);  d/da = x sin(2ax) / a - sin^2(ax) / a^2.
    """

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor) -> Tensor:  # type: ignore[override]
        a = alpha.to(x.dtype)
        ctx.save_for_backward(x, alpha)
        y = torch.mul(x, a).sin_()
        return y.mul_(y).mul_((a + 1e-9).reciprocal()).add_(x)

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None]:
        x, alpha = ctx.saved_tensors
        a = alpha.to(x.dtype)
        ax = torch.mul(x, a)
        s = torch.sin(ax)
        s2 = ax.mul_(2).sin_()  # sin(2ax), reuses the buffer of ax
        grad_x = grad_alpha = None
        if ctx.needs_input_grad[1]:
            inv = (a + 1e-9).reciprocal()
            # x sin(2ax) / a - sin^2(ax) / a^2, summed over batch and time in float32
            term = torch.mul(x, s2).mul_(inv).sub_(s.mul_(s).mul_(inv * inv)).mul_(grad)
            dims = [d for d in range(x.dim()) if d != 1]  # all but channels
            grad_alpha = term.sum(dim=dims, keepdim=True, dtype=torch.float32).to(alpha.dtype)
        if ctx.needs_input_grad[0]:
            grad_x = s2.add_(1).mul_(grad)
        return grad_x, grad_alpha


def snake(x: Tensor, alpha: Tensor) -> Tensor:
    """Snake: ``x + sin(alpha x)^2 / alpha`` (Ziyin et al. 2020; DAC).

    Args:
        x: (B, D, L) or (B, D, 1, L).
        alpha: (1, D, 1) or (1, D, 1, 1), positive in practice.

    Returns:
        x's shape, same dtype as ``x`` (alpha is cast to it, so bf16 stays bf16).
    """
    if torch.is_grad_enabled() and (x.requires_grad or alpha.requires_grad):
        return _SnakeFunction.apply(x, alpha)
    # Inference: one allocation (large fresh buffers are slow on CPU).
    a = alpha.to(x.dtype)
    y = torch.mul(x, a).sin_()
    return y.mul_(y).mul_((a + 1e-9).reciprocal()).add_(x)


class Snake(nn.Module):
    """Snake activation with a learned frequency ``alpha`` per channel (initialised to 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        """(B, D, L) -> (B, D, L), or (B, D, 1, L) -> (B, D, 1, L)."""
        alpha = self.alpha if x.dim() == 3 else self.alpha.unsqueeze(-1)
        return snake(x, alpha)


def make_activation(kind: str, channels: int) -> nn.Module:
    """Build the activation named by ``AutoencoderConfig.activation`` ("snake" | "elu")."""
    if kind == "snake":
        return Snake(channels)
    if kind == "elu":
        return nn.ELU()
    raise ValueError(f"unknown activation '{kind}' (use 'snake' or 'elu')")


def wn_conv1d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    padding: int | None = None,
) -> nn.Module:
    """Weight-normed Conv1d; ``padding=None`` gives "same" padding ``dilation * (k - 1) // 2``."""
    if padding is None:
        padding = dilation * (kernel_size - 1) // 2
    conv = nn.Conv1d(
        in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, padding=padding
    )
    return weight_norm(conv)


def wn_conv_transpose1d(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Weight-normed ConvTranspose1d upsampling by ``stride`` exactly (kernel 2*stride)."""
    conv = nn.ConvTranspose1d(
        in_channels,
        out_channels,
        kernel_size=2 * stride,
        stride=stride,
        padding=(stride + 1) // 2,
        output_padding=stride % 2,
    )
    return weight_norm(conv)


def to_channels_last(x: Tensor) -> Tensor:
    """(B, D, L) -> (B, D, 1, L) in channels-last memory (one copy)."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def from_channels_last(x: Tensor) -> Tensor:
    """(B, D, 1, L) -> contiguous (B, D, L) (one copy)."""
    return x.squeeze(2).contiguous()


def _kernel_2d(weight: Tensor) -> Tensor:
    """(A, B, K) conv weight -> (A, B, 1, K) in channels-last memory."""
    return weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def run(layer: nn.Module, x: Tensor) -> Tensor:
    """Apply ``layer`` to (B, D, L), or to channels-last (B, D, 1, L) with the same weights.

    Conv1d / ConvTranspose1d (weight-normed or not) become conv2d / conv_transpose2d over a
    height-1 image; Sequential runs its children this way; anything else is called as it is
    (elementwise activations, and this module's blocks, which handle both forms).
    """
    if x.dim() == 3:
        return layer(x)
    if isinstance(layer, nn.Sequential):
        for child in layer:
            x = run(child, x)
        return x
    if isinstance(layer, nn.Conv1d):
        return F.conv2d(
            x,
            _kernel_2d(layer.weight),
            layer.bias,
            stride=(1, layer.stride[0]),
            padding=(0, layer.padding[0]),  # type: ignore[index]
            dilation=(1, layer.dilation[0]),
        )
    if isinstance(layer, nn.ConvTranspose1d):
        return F.conv_transpose2d(
            x,
            _kernel_2d(layer.weight),
            layer.bias,
            stride=(1, layer.stride[0]),
            padding=(0, layer.padding[0]),
            output_padding=(0, layer.output_padding[0]),
            dilation=(1, layer.dilation[0]),
        )
    return layer(x)


class ResidualUnit(nn.Module):
    """act -> conv(k, dilation d) -> act -> conv 1x1, plus the input (DAC ``ResidualUnit``)."""

    def __init__(self, channels: int, dilation: int, kernel_size: int, activation: str) -> None:
        super().__init__()
        self.block = nn.Sequential(
            make_activation(activation, channels),
            wn_conv1d(channels, channels, kernel_size, dilation=dilation),
            make_activation(activation, channels),
            wn_conv1d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, D, L) -> (B, D, L), or the same in channels-last (B, D, 1, L)."""
        return x + run(self.block, x)


class EncoderBlock(nn.Module):
    """Residual units at ``in_channels``, then a strided conv by ``stride`` to ``out_channels``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        dilations: tuple[int, ...],
        kernel_size: int,
        activation: str,
    ) -> None:
        super().__init__()
        units = [ResidualUnit(in_channels, d, kernel_size, activation) for d in dilations]
        self.block = nn.Sequential(
            *units,
            make_activation(activation, in_channels),
            wn_conv1d(
                in_channels, out_channels, 2 * stride, stride=stride, padding=(stride + 1) // 2
            ),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, D_in, L) -> (B, D_out, L // stride) (or channels-last (B, D, 1, L) forms)."""
        return run(self.block, x)


class DecoderBlock(nn.Module):
    """Transposed conv up by ``stride`` to ``out_channels``, then residual units there."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        dilations: tuple[int, ...],
        kernel_size: int,
        activation: str,
    ) -> None:
        super().__init__()
        units = [ResidualUnit(out_channels, d, kernel_size, activation) for d in dilations]
        self.block = nn.Sequential(
            make_activation(activation, in_channels),
            wn_conv_transpose1d(in_channels, out_channels, stride),
            *units,
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, D_in, T) -> (B, D_out, T * stride) (or channels-last (B, D, 1, T) forms)."""
        return run(self.block, x)
