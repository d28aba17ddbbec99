"""Building blocks of the convolutional autoencoder (DAC / EnCodec family).

Snake activation, weight-normed 1D convolutions, dilated residual units, strided encoder blocks
and transposed-conv decoder blocks. All convolutions are non-causal with "same" zero padding, so
a block maps L samples to exactly ``L // stride`` (encoder) or ``T * stride`` (decoder) samples when
L is a multiple of the stride.
"""

from __future__ import annotations

import torch
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
            grad_alpha = term.sum(dim=(0, 2), keepdim=True, dtype=torch.float32).to(alpha.dtype)
        if ctx.needs_input_grad[0]:
            grad_x = s2.add_(1).mul_(grad)
        return grad_x, grad_alpha


def snake(x: Tensor, alpha: Tensor) -> Tensor:
    """Snake: ``x + sin(alpha x)^2 / alpha`` (Ziyin et al. 2020; DAC).

    Args:
        x: (B, D, L).
        alpha: (1, D, 1), positive in practice.

    Returns:
        (B, D, L), same dtype as ``x`` (alpha is cast to it, so bf16 stays bf16).
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
        """(B, D, L) -> (B, D, L)."""
        return snake(x, self.alpha)


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
        """(B, D, L) -> (B, D, L)."""
        return x + self.block(x)


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
        """(B, D_in, L) -> (B, D_out, L // stride)."""
        return self.block(x)


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
        """(B, D_in, T) -> (B, D_out, T * stride)."""
        return self.block(x)
