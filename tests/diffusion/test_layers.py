"""Layers: causal padding, causal-safe resampling and normalisation, masked cross-attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from jen1.diffusion import ops
from jen1.diffusion.layers import (
    Conv1d,
    CrossAttention,
    Downsample,
    FrameGroupNorm,
    Upsample,
    timestep_embedding,
)


def test_pad1d_causal_is_left_only_and_centred_is_split():
    x = torch.ones(1, 4, 1)  # (B, T, C) channels-last frames
    assert ops.pad1d(x, 3, causal=True)[0, :, 0].tolist() == [0, 0, 1, 1, 1, 1]
    assert ops.pad1d(x, 3, causal=False)[0, :, 0].tolist() == [0, 1, 1, 1, 1, 0]
    assert ops.pad1d(x, 2, 2, causal=False).shape[1] == 6  # dilation * (k - 1) frames
    assert ops.pad1d(x, 1, causal=True) is x


def test_causal_conv_is_the_centred_conv_delayed_by_one_frame():
    torch.manual_seed(0)
    conv = Conv1d(3, 5, 3)
    x = torch.randn(2, 11, 3)
    causal, centred = conv(x, causal=True), conv(x, causal=False)
    assert causal.shape == centred.shape == (2, 11, 5)
    assert torch.allclose(causal[:, 1:], centred[:, :-1], atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
@pytest.mark.parametrize("kernel,stride,dilation", [(3, 1, 1), (3, 2, 1), (1, 1, 1), (3, 1, 2)])
def test_conv1d_frames_is_torch_conv1d_on_transposed_frames(dtype, kernel, stride, dilation):
    """Both kernels (unfolded matrix product in bf16, channels-last conv2d otherwise)."""
    torch.manual_seed(0)
    w, b = torch.randn(6, 4, kernel, dtype=dtype), torch.randn(6, dtype=dtype)
    x = torch.randn(2, 13, 4, dtype=dtype)
    for causal in (False, True):
        out = ops.conv1d_frames(x, w, b, stride=stride, dilation=dilation, causal=causal)
        padded = ops.pad1d(x, kernel, dilation, causal=causal).transpose(1, 2).double()
        ref = F.conv1d(padded, w.double(), b.double(), stride=stride, dilation=dilation)
        assert out.dtype == dtype and out.shape == (2, -(-13 // stride), 6)
        tol = 1e-9 if dtype == torch.float64 else 0.05 * ref.abs().max().item()
        assert torch.allclose(out.double(), ref.transpose(1, 2), atol=tol)


def test_frames_last_weights_survive_loading_and_casting():
    torch.manual_seed(0)
    conv = Conv1d(4, 6, 3, stride=2)
    weight = conv.conv.weight
    assert weight.transpose(1, 2).is_contiguous()  # (C_out, K, C_in) memory
    state = {k: v.contiguous().clone().normal_() for k, v in conv.state_dict().items()}
    conv.load_state_dict(state)
    assert conv.conv.weight.transpose(1, 2).is_contiguous()
    assert torch.equal(conv.conv.weight, state["conv.weight"])
    x = torch.randn(2, 9, 4)
    ref = F.conv1d(
        ops.pad1d(x, 3, causal=True).transpose(1, 2),
        state["conv.weight"],
        state["conv.bias"],
        stride=2,
    )
    assert torch.allclose(conv(x, causal=True), ref.transpose(1, 2), atol=1e-6)
    conv.to(torch.bfloat16)
    assert conv.conv.weight.transpose(1, 2).is_contiguous()
    out = conv(x.bfloat16(), causal=True).float()
    assert torch.allclose(out, ref.transpose(1, 2), atol=0.05 * ref.abs().max().item())


def test_conv1d_frames_under_autocast_takes_the_matrix_product(monkeypatch):
    calls = []
    real = F.conv2d
    monkeypatch.setattr(ops.F, "conv2d", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    w, x = torch.randn(6, 4, 3), torch.randn(2, 9, 4)
    ops.conv1d_frames(x, w, None, causal=False)
    assert calls == [1]  # float32: channels-last conv2d
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ops.conv1d_frames(x, w, None, causal=False)
    assert calls == [1] and out.dtype == torch.bfloat16  # bf16: no conv2d


def _dependence(module, frames: int, k: int) -> torch.Tensor:
    x = torch.randn(1, frames, 4, requires_grad=True)
    module(x)[:, k].sum().backward()
    return x.grad.abs().sum(dim=(0, 2))


def test_down_up_round_trip_is_causal_for_odd_lengths():
    torch.manual_seed(0)
    down, up = Downsample(4, 4), Upsample(4, 4)
    for frames in [7, 10]:
        round_trip = lambda x, n=frames: up(down(x, True), True)[:, :n]  # noqa: E731
        for k in range(frames):
            grad = _dependence(round_trip, frames, k)
            assert torch.all(grad[k + 1 :] == 0) and grad[: k + 1].sum() > 0
        assert down(torch.randn(1, frames, 4), True).shape[1] == (frames + 1) // 2


def test_frame_group_norm_is_per_frame_and_keeps_bf16():
    norm = FrameGroupNorm(2, 16)
    x = torch.randn(1, 9, 16)
    y = x.clone()
    y[:, 5:] *= 100.0
    assert torch.allclose(norm(x)[:, :5], norm(y)[:, :5])
    assert norm(x.bfloat16()).dtype == torch.bfloat16
    groups = norm(x).reshape(1, 9, 2, 8)
    assert torch.allclose(groups.mean(-1), torch.zeros(1, 9, 2), atol=1e-5)
    assert torch.allclose(groups.var(-1, unbiased=False), torch.ones(1, 9, 2), atol=1e-3)


def test_frame_group_norm_folds_affine_and_modulation():
    torch.manual_seed(0)
    norm = FrameGroupNorm(2, 4).double()
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(3, 9, 4, dtype=torch.float64)
    scale, shift = (torch.randn(3, 1, 4, dtype=torch.float64) for _ in range(2))
    plain = norm.normalize(x) * norm.weight + norm.bias
    assert torch.allclose(norm(x), plain)
    assert torch.allclose(norm(x, scale, shift), plain * (1 + scale) + shift)


def test_timestep_embedding_shape_and_distinct_times():
    emb = timestep_embedding(torch.tensor([0.0, 0.5, 1.0]), 16)
    assert emb.shape == (3, 16) and emb.dtype == torch.float32
    assert not torch.allclose(emb[0], emb[1])


def test_cross_attention_ignores_masked_tokens():
    torch.manual_seed(0)
    attn = CrossAttention(8, 6, 4)
    torch.nn.init.normal_(attn.out.weight)
    x = torch.randn(1, 5, 8)
    ctx = torch.randn(1, 4, 6)
    mask = torch.tensor([[True, True, False, False]])
    other = ctx.clone()
    other[:, 2:] = torch.randn(1, 2, 6)
    assert torch.allclose(attn(x, ctx, mask), attn(x, other, mask), atol=1e-6)
    full = mask.new_ones(1, 4)
    assert not torch.allclose(attn(x, ctx, full), attn(x, other, full))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("grad", [False, True])
def test_cpu_attention_matches_sdpa_with_masks_and_gradients(causal: bool, grad: bool):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 8, dtype=torch.float64, requires_grad=grad) for _ in range(3))
    mask = None
    if not causal:  # a padding mask over keys; every row keeps key 0
        mask = torch.rand(2, 1, 1, 9) > 0.4
        mask[..., 0] = True
    with torch.set_grad_enabled(grad):
        ours = ops.attention(q, k, v, attn_mask=mask, is_causal=causal)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    assert torch.allclose(ours, ref, atol=1e-10)
    if grad:
        g1 = torch.autograd.grad(ours.square().sum(), (q, k, v))
        g2 = torch.autograd.grad(ref.square().sum(), (q, k, v))
        for a, b in zip(g1, g2):
            assert torch.allclose(a, b, atol=1e-9)


def test_cpu_attention_hands_long_sequences_to_sdpa(monkeypatch):
    calls = []
    real = F.scaled_dot_product_attention
    monkeypatch.setattr(
        ops.F, "scaled_dot_product_attention", lambda *a, **kw: calls.append(1) or real(*a, **kw)
    )
    q = torch.randn(1, 1, 6, 4)
    ops.attention(q, q, q, is_causal=True)
    assert not calls  # short: the plain three-op path
    monkeypatch.setattr(ops, "CPU_SCORES_MAX", 16)
    out = ops.attention(q, q, q, is_causal=True)
    assert calls and torch.allclose(out, real(q, q, q, is_causal=True), atol=1e-6)


def test_cpu_attention_in_bf16_stays_close_to_float32():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 250, 64) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v)
    with torch.no_grad():
        out = ops.attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert out.dtype == torch.bfloat16
    assert ((out.float() - ref).norm() / ref.norm()).item() < 0.02


def test_bf16_softmax_equals_float32_softmax_rounded():
    """What lets :func:`attention` keep its scores in bf16 without a float32 copy."""
    torch.manual_seed(0)
    scores = (4 * torch.randn(2, 4, 50, 70)).bfloat16()
    rounded = torch.softmax(scores.float(), dim=-1).bfloat16()
    assert torch.equal(scores.softmax(dim=-1), rounded)


@pytest.mark.parametrize("mode", ["plain", "causal", "mask"])
def test_bf16_attention_with_padded_keys_matches_float64(mode: str):
    """bf16 keys are padded to SOFTMAX_WIDTH (here 45 -> 64); the padding never gets weight."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 45, 16, dtype=torch.float64) for _ in range(3))
    mask = None
    if mode == "mask":
        mask = torch.rand(2, 1, 1, 45) > 0.4
        mask[..., 0] = True
    causal = mode == "causal"
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    qb, kb, vb = (a.bfloat16().requires_grad_() for a in (q, k, v))
    out = ops.attention(qb, kb, vb, attn_mask=mask, is_causal=causal)
    assert out.shape == ref.shape and out.dtype == torch.bfloat16
    assert ((out.double() - ref).norm() / ref.norm()).item() < 0.02
    grads = torch.autograd.grad(out.float().square().sum(), (qb, kb, vb))
    q64, k64, v64 = (a.clone().requires_grad_() for a in (q, k, v))
    ref = F.scaled_dot_product_attention(q64, k64, v64, attn_mask=mask, is_causal=causal)
    refs = torch.autograd.grad(ref.square().sum(), (q64, k64, v64))
    for g, r in zip(grads, refs):
        assert g.shape == r.shape
        assert ((g.double() - r).norm() / r.norm()).item() < 0.05


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cross_attention_keys_as_bias_match_bool_mask(dtype, monkeypatch):
    """CrossAttention.keys (padded keys, additive bias: what sampling caches) gives exactly
    what attention() computes from the raw keys and the bool mask (45 keys -> 64 in bf16)."""
    torch.manual_seed(0)
    attn = CrossAttention(16, 6, 8).to(dtype)
    x = torch.randn(2, 7, 16, dtype=dtype)
    ctx = torch.randn(2, 45, 6, dtype=dtype)
    mask = torch.rand(2, 45) > 0.4
    mask[:, 0] = True
    q = attn.q(attn.norm(x)).unflatten(-1, (attn.heads, -1)).transpose(1, 2)
    k, v = attn.kv(ctx).unflatten(-1, (2, attn.heads, -1)).permute(2, 0, 3, 1, 4)
    ref = ops.attention(q, k, v, attn_mask=mask[:, None, None, :])
    kp, vp, bias = attn.keys(ctx, mask, q)
    assert kp.shape[-2] == (64 if dtype == torch.bfloat16 else 45)
    assert bias.dtype == (dtype if dtype == torch.bfloat16 else torch.bool)
    assert torch.equal(ops.attention(q, kp, vp, bias), ref)
    float_bias = ops.key_padding_bias(mask, dtype)  # unpadded bias: padded inside
    assert torch.equal(ops.attention(q, k, v, float_bias), ref)
    cache = {}
    first = attn(x, ctx, mask, cache)
    assert list(cache) == [attn]
    assert torch.equal(attn(x, ctx * 0, mask * False, cache), first)  # the cached keys serve
    assert torch.equal(first, attn(x, ctx, mask))
    monkeypatch.setattr(ops, "CPU_SCORES_MAX", 0)  # SDPA takes the padded keys and bias
    sdpa = ops.attention(q, kp, vp, bias)
    assert ((sdpa.float() - ref.float()).norm() / ref.float().norm()).item() < 0.02
