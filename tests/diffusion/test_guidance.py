"""Classifier-free guidance: one batched pass, scale 1 = conditional, negative prompts."""

from __future__ import annotations

import torch

from jen1.conditioning.conditions import Conditions
from jen1.diffusion.guidance import cfg_denoiser


def _cond(batch: int, tokens: int, fill: float) -> Conditions:
    return Conditions(
        text_emb=torch.full((batch, tokens, 3), fill),
        text_mask=torch.ones(batch, tokens, dtype=torch.bool),
        known=torch.zeros(batch, 2, 5),
        mask=torch.zeros(batch, 1, 5),
    )


def _model(calls: list[int]):
    """Prediction = x + mean text (0 for dropped text): linear, so guidance is checkable."""

    def model_fn(x, t, cond):
        calls.append(x.shape[0])
        text = cond.text_emb.sum(1) / cond.text_mask.sum(1, keepdim=True)  # (B, D)
        text = torch.where(cond.drop_text_or_false()[:, None], torch.zeros_like(text), text)
        return x + text.mean(1)[:, None, None] + t[:, None, None]

    return model_fn


def test_scale_one_equals_conditional_in_one_pass():
    calls: list[int] = []
    cond = _cond(2, 4, 1.0)
    x, t = torch.randn(2, 2, 5), torch.full((2,), 0.5)
    out = cfg_denoiser(_model(calls), cond, cond.with_null_text(), 1.0)(x, t)
    assert torch.equal(out, _model([])(x, t, cond))
    assert calls == [2]


def test_guided_is_uncond_plus_scale_times_difference_batched():
    calls: list[int] = []
    cond = _cond(2, 4, 1.0)
    x, t = torch.randn(2, 2, 5), torch.full((2,), 0.5)
    out = cfg_denoiser(_model(calls), cond, cond.with_null_text(), 3.0)(x, t)
    assert calls == [4]  # conditional and unconditional in one batch
    assert torch.allclose(out, x + 0.5 + 3.0 * 1.0)


def test_negative_prompt_with_other_length_replaces_null_text():
    calls: list[int] = []
    cond, neg = _cond(2, 4, 1.0), _cond(2, 7, -1.0)
    x, t = torch.zeros(2, 2, 5), torch.zeros(2)
    out = cfg_denoiser(_model(calls), cond, neg, 2.0)(x, t)
    # uncond = -1, cond = +1 -> -1 + 2 * 2 = 3 (padding of the shorter text is masked)
    assert torch.allclose(out, torch.full_like(out, 3.0))
