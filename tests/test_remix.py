"""Remix (SDEdit) on the tiny model: the request's checks, strength 0 = reconstruction, length,
determinism, and the window seams of long inputs."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from jen1.errors import Jen1Error
from jen1.inference.remix import remix_latents, remix_steps
from jen1.pipeline import Pipeline
from jen1.request import RemixRequest, RequestError, SamplingParams

SR = 48000


@pytest.fixture(scope="module")
def pipe(tiny_model_dir):
    """The tiny model with its zero-initialised layers (output conv, residual and attention
    outputs) made random: its prediction then depends on x_t, the text and the mask, so a
    remix that ignored any of them would fail these tests."""
    p = Pipeline.from_pretrained(tiny_model_dir, pack=False)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in p.unet.parameters():
            if param.ndim > 1 and not param.any():
                param.copy_(0.1 * torch.randn(param.shape, generator=g))
    return p


def _audio(num_samples: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(-0.4, 0.4, (2, num_samples)).astype(np.float32))


# --- the request ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), float("inf"), "0.5", True, None, [0.5]])
def test_bad_strength_is_a_one_line_error(bad):
    with pytest.raises(RequestError, match=r"^strength must be") as e:
        RemixRequest(bad, "piano")
    assert e.value.field == "strength" and "\n" not in str(e.value)


def test_request_normalises_and_resolves(tiny_config):
    req = RemixRequest(np.float32(1), "  ", SamplingParams(steps=3))
    assert req.strength == 1.0 and req.prompts is None and req.task == "remix"
    assert RemixRequest(0, ["a", "b"]).strength == 0.0
    r = RemixRequest(0.5, "jazz").resolve(tiny_config, (3, 2, 4800))
    assert r.prompts == ("jazz",) * 3 and r.sampling.steps == tiny_config.sampling.steps
    assert r.sampling.seed is not None and r.resolve(tiny_config, (3, 2, 4800)) == r
    with pytest.raises(RequestError, match="too short"):
        RemixRequest(0.5).resolve(tiny_config, (2, tiny_config.autoencoder.hop - 1))
    with pytest.raises(RequestError, match="2 prompts for a batch of 3"):
        RemixRequest(0.5, ["a", "b"]).resolve(tiny_config, (3, 2, 4800))


def test_remix_steps():
    assert [remix_steps(10, s) for s in (0, 0.01, 0.3, 0.5, 1)] == [0, 1, 3, 5, 10]


# --- the pipeline -----------------------------------------------------------------------------


def test_strength_0_is_the_reconstruction_and_0_9_is_not(pipe):
    x = _audio(SR // 2)
    recon = pipe.codec.decode(pipe.codec.encode(x[None]), length=x.shape[-1])
    out0 = pipe.remix(x, "a violin", 0.0, seed=0)
    assert out0.shape == (1, 2, SR // 2)
    assert torch.allclose(out0, recon, atol=1e-5)
    err = {
        s: (pipe.remix(x, "a violin", s, seed=0) - recon).abs().mean().item() for s in (0.1, 0.9)
    }
    assert err[0.9] > 1e-3 and err[0.9] > 3 * err[0.1]


def test_prompt_steers_a_strong_remix(pipe):
    x = _audio(SR // 2)
    a = pipe.remix(x, "a violin", 0.9, seed=1)
    b = pipe.remix(x, "heavy drums", 0.9, seed=1)
    c = pipe.remix(x, None, 0.9, seed=1)  # unconditional variation
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


@pytest.mark.parametrize("seconds", [0.5, 1001 / SR, 2.3 + 77 / SR])  # not whole frames; > window
def test_remix_keeps_the_length(pipe, seconds):
    n = round(seconds * SR)
    assert n % pipe.cfg.autoencoder.hop != 0 or seconds == 0.5
    calls = []
    out = pipe.remix(_audio(n), "piano", 0.6, seed=2, callback=lambda i, t: calls.append((i, t)))
    assert out.shape == (1, 2, n) and torch.isfinite(out).all() and out.abs().max() <= 1
    assert calls[-1][0] == calls[-1][1]
    per_window = math.ceil(pipe.cfg.sampling.steps * 0.6)
    if seconds > pipe.cfg.sampling.window_seconds:
        assert calls[-1][1] > per_window  # several windows


def test_remix_is_deterministic_by_seed_and_batches(pipe):
    x = _audio(SR // 3)
    a = pipe.remix(x, "piano", 0.5, seed=7, sampler="heun", steps=3)
    b = pipe.remix(x, "piano", 0.5, seed=7, sampler="heun", steps=3)
    c = pipe.remix(x, "piano", 0.5, seed=8, sampler="heun", steps=3)
    assert torch.equal(a, b) and not torch.equal(a, c)
    two = pipe.remix(torch.stack([x, x]), ["piano", "drums"], 0.5, seed=7, steps=3)
    assert two.shape == (2, 2, x.shape[-1])


def test_stream_needs_audio_and_checks_it(pipe):
    with pytest.raises(Jen1Error, match="needs the audio"):
        pipe.stream(RemixRequest(0.5, "x"))
    with pytest.raises(Jen1Error, match="empty"):
        pipe.stream(RemixRequest(0.5, "x"), torch.zeros(2, 0))
    with pytest.raises(Jen1Error, match="stereo"):
        pipe.remix(torch.zeros(3, 100), "x")


# --- the seams of a long remix ------------------------------------------------------------------


class SpyUNet(nn.Module):
    """Records each call's mask, known frames and mode; predicts something that depends on x_t."""

    def __init__(self, channels: int):
        super().__init__()
        self.c = channels
        self.calls: list[tuple[torch.Tensor, torch.Tensor, bool]] = []
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, cond, causal=False):
        self.calls.append((cond.mask.clone(), cond.known.clone(), causal))
        return 0.3 * x[:, : self.c] + 0.1


def test_long_remix_windows_continue_the_remixed_tail(tiny_config, text_encoder):
    """Window 1 bidirectional with nothing known; each later one causal, its first ``context``
    frames known and equal to what the window before made (so the latents join seamlessly),
    and those frames are never changed afterwards."""
    from jen1.inference.prompts import encode_text_inputs
    from jen1.inference.windows import num_frames, plan_windows

    cfg = tiny_config
    c, rate = cfg.autoencoder.latent_dim, cfg.autoencoder.frame_rate
    window = num_frames(cfg.sampling.window_seconds, rate)
    context = num_frames(cfg.sampling.context_seconds, rate)
    total = 2 * window + 5
    z = torch.randn(1, c, total, generator=torch.Generator().manual_seed(0))
    spy = SpyUNet(c)
    params = SamplingParams(4, 1.0, "ddim", 0).resolve(cfg.sampling)
    text = encode_text_inputs(text_encoder, ("piano",), None, 1, cfg.text.dim, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    out = remix_latents(spy, cfg, z, 0.5, text, params, bf16=False, generator=gen)
    windows = plan_windows(total, window, context)
    assert len(windows) >= 3 and len(spy.calls) == 2 * len(windows)  # ceil(4 * 0.5) steps each
    for w, (start, end) in enumerate(windows):
        mask, known, causal = spy.calls[2 * w]
        assert causal == (w > 0)
        expect = torch.zeros(end - start)
        if w > 0:
            expect[:context] = 1.0
            # known context = the final output there: written by earlier windows, then kept
            assert torch.equal(known[0, :, :context], out[0, :, start : start + context])
        assert torch.equal(mask[0, 0], expect)
    assert not torch.allclose(out, z)


def test_long_remix_has_no_jump_at_the_seams(pipe):
    """At a low strength the remix stays near the reconstruction everywhere, seams included."""
    n = round(2.6 * SR)
    x = _audio(n, seed=4)
    recon = pipe.codec.decode(pipe.codec.encode(x[None]), length=n)[0]
    err = (pipe.remix(x, "piano", 0.2, seed=3)[0] - recon).abs().mean(0)  # (L,)
    hop = pipe.cfg.autoencoder.hop
    rate = pipe.frame_rate
    window = round(pipe.cfg.sampling.window_seconds * rate)
    step = window - round(pipe.cfg.sampling.context_seconds * rate)
    seams = [(step * k + window - step) * hop for k in range(1, 4) if (step * k + window) * hop < n]
    assert seams
    around = torch.stack([err[s - 2400 : s + 2400].mean() for s in seams])
    assert around.max() < 2.5 * err.mean()


@pytest.mark.parametrize("sampler", ["dpmpp_2m", "euler", "heun"])
def test_remix_of_a_flow_model_starts_on_its_straight_line(pipe, sampler):
    """The same network read as a rectified-flow model: SDEdit noises the input to t = strength
    with (1 - t) z + t eps, every sampler runs from there, and the seed decides the result."""
    import dataclasses

    dcfg = dataclasses.replace(
        pipe.cfg.diffusion, objective="flow", schedule="flow", train_t="logit_normal"
    )
    flow = Pipeline(
        dataclasses.replace(pipe.cfg, diffusion=dcfg), pipe.autoencoder, pipe.unet,
        pipe.text_encoder, bf16=pipe.bf16,
    )  # fmt: skip
    ts = []
    hook = pipe.unet.register_forward_pre_hook(lambda m, args: ts.append(float(args[1][0])))
    try:
        x = _audio(SR // 3)
        a = flow.remix(x, "piano", 0.3, seed=7, sampler=sampler, steps=4)
        first = ts[0]
        b = flow.remix(x, "piano", 0.3, seed=7, sampler=sampler, steps=4)
        v = pipe.remix(x, "piano", 0.3, seed=7, sampler=sampler, steps=4)
    finally:
        hook.remove()
    assert first == pytest.approx(0.3) and a.shape == x[None].shape and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.allclose(a, v, atol=1e-4)
