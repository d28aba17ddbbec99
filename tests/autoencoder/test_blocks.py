"""Autoencoder blocks: Snake gradients, exact stride arithmetic (also odd strides)."""

from __future__ import annotations

import pytest
import torch

from jen1.autoencoder.blocks import (
    DecoderBlock,
    EncoderBlock,
    Snake,
    _SnakeFunction,
    from_channels_last,
    snake,
    to_channels_last,
)
from jen1.autoencoder.model import AudioAutoencoder
from jen1.config import AutoencoderConfig


def _reference_snake(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return x + (alpha + 1e-9).reciprocal() * torch.sin(alpha * x).pow(2)


def test_snake_custom_backward_matches_autograd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 40, dtype=torch.float64, generator=g, requires_grad=True)
    alpha = (0.5 + torch.rand(1, 3, 1, dtype=torch.float64, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(_SnakeFunction.apply, (x, alpha))
    torch.testing.assert_close(snake(x, alpha), _reference_snake(x, alpha))


def test_snake_inference_path_equals_training_path():
    act = Snake(4)
    with torch.no_grad():
        act.alpha.uniform_(0.5, 2.0)
    x = torch.randn(2, 4, 33)
    with torch.no_grad():
        y_inf = act(x)
    y_train = act(x.requires_grad_())
    torch.testing.assert_close(y_inf, y_train)
    torch.testing.assert_close(y_inf, _reference_snake(x.detach(), act.alpha.detach()))


@pytest.mark.parametrize("stride", [2, 3, 4, 5, 8])
def test_block_strides_are_exact(stride):
    enc = EncoderBlock(4, 6, stride, (1, 3), 7, "snake")
    dec = DecoderBlock(6, 4, stride, (1, 3), 7, "elu")
    x = torch.randn(1, 4, stride * 11)
    with torch.no_grad():
        h = enc(x)
        assert h.shape == (1, 6, 11)
        assert dec(h).shape == (1, 4, stride * 11)


@pytest.mark.parametrize("stride", [3, 4])
def test_channels_last_form_is_the_same_function_with_the_same_gradients(stride):
    """Blocks on channels-last (B, D, 1, L) give the (B, D, L) results, values and gradients."""
    torch.manual_seed(0)
    enc = EncoderBlock(4, 6, stride, (1, 3), 7, "snake").double()
    dec = DecoderBlock(6, 4, stride, (1, 3), 7, "snake").double()
    with torch.no_grad():
        for p in [*enc.parameters(), *dec.parameters()]:
            p.add_(0.1 * torch.rand_like(p))  # alphas away from 1, weights away from init
    x = torch.randn(2, 4, stride * 9, dtype=torch.float64, requires_grad=True)
    plain = dec(enc(x))
    x4 = to_channels_last(x.detach()).requires_grad_()
    cl = dec(enc(x4))
    assert cl.shape == (2, 4, 1, stride * 9) and cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(from_channels_last(cl), plain)
    params = [*enc.parameters(), *dec.parameters()]
    g_plain = torch.autograd.grad(plain.square().sum(), [x, *params])
    g_cl = torch.autograd.grad(cl.square().sum(), [x4, *params])
    torch.testing.assert_close(from_channels_last(g_cl[0]), g_plain[0])
    for a, b in zip(g_cl[1:], g_plain[1:]):  # Snake sums its alpha gradient in float32
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_paper_like_odd_strides_round_trip_lengths():
    cfg = AutoencoderConfig(
        latent_dim=4,
        encoder_channels=2,
        encoder_mults=(1, 1, 2, 2),
        decoder_channels=2,
        decoder_mults=(1, 1, 2, 2),
        strides=(2, 4, 5, 8),
        dilations=(1,),
    )
    ae = AudioAutoencoder(cfg).eval()
    assert ae.hop == 320
    for length in (1, 319, 320, 1001):
        wav = torch.randn(1, 2, length)
        with torch.no_grad():
            z = ae.encode(wav)
            assert z.shape[-1] == -(-length // 320)
            assert ae.decode(z, length).shape == (1, 2, length)
