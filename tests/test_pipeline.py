"""The inference API on a tiny random model: shapes, durations, splicing, determinism, errors."""

import numpy as np
import pytest
import torch

from jen1.errors import Jen1Error
from jen1.pipeline import Pipeline

SR = 48000


@pytest.fixture(scope="module")
def pipe(tiny_model_dir):
    return Pipeline.from_pretrained(tiny_model_dir)


def test_generate_shape_and_duration(pipe):
    wav = pipe.generate(["a jazz trio", "a rock band"], seconds=0.7, seed=1)
    assert wav.shape == (2, 2, round(0.7 * SR)) and wav.dtype == torch.float32
    assert torch.isfinite(wav).all() and wav.abs().max() <= 1.0


def test_generate_is_deterministic_by_seed(pipe):
    a = pipe.generate("piano", seconds=0.5, seed=3)
    b = pipe.generate("piano", seconds=0.5, seed=3)
    c = pipe.generate("piano", seconds=0.5, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_generate_longer_than_window_slides(pipe):
    calls = []
    wav = pipe.generate("drums", seconds=2.3, seed=0, callback=lambda i, n: calls.append((i, n)))
    assert wav.shape == (1, 2, round(2.3 * SR))
    assert calls[-1][0] == calls[-1][1]  # progress reaches its total (1-based)
    assert calls[-1][1] > pipe.cfg.sampling.steps  # more than one window


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m", "heun"])
def test_samplers_are_seeded_and_differ(pipe, sampler):
    a = pipe.generate("folk", seconds=0.3, seed=0, sampler=sampler, steps=3)
    assert a.shape == (1, 2, round(0.3 * SR))
    assert torch.equal(a, pipe.generate("folk", seconds=0.3, seed=0, sampler=sampler, steps=3))
    other = "ddim" if sampler != "ddim" else "heun"
    assert not torch.equal(a, pipe.generate("folk", seconds=0.3, seed=0, sampler=other, steps=3))


# The prompt, the negative prompt and the guidance scale reach the model (the tiny model's
# U-Net has a non-zero output: tests/conftest.py). Same seed, same noise: any difference is
# the conditioning's.


def test_two_prompts_give_different_audio(pipe):
    a = pipe.generate("a jazz trio", seconds=0.5, seed=2, steps=3)
    b = pipe.generate("a rock band", seconds=0.5, seed=2, steps=3)
    assert not torch.allclose(a, b, atol=1e-4)
    batch = pipe.generate(["a jazz trio", "a rock band"], seconds=0.5, seed=2, steps=3)
    assert torch.allclose(batch[0], a[0], atol=1e-4)  # item 0 of a batch: the same noise


def test_negative_prompt_changes_the_output_at_guidance_above_one(pipe):
    kw = dict(seconds=0.5, seed=2, steps=3, cfg_scale=3.0)
    plain = pipe.generate("a jazz trio", **kw)
    steered = pipe.generate("a jazz trio", negative_prompt="distorted noise", **kw)
    assert not torch.allclose(plain, steered, atol=1e-4)


def test_guidance_one_is_the_conditional_output(pipe):
    kw = dict(seconds=0.5, seed=2, steps=3, cfg_scale=1.0)
    cond = pipe.generate("a jazz trio", **kw)
    # at scale 1 the unconditional branch (null text or negative prompt) has no weight
    assert torch.equal(cond, pipe.generate("a jazz trio", negative_prompt="noise", **kw))
    guided = pipe.generate("a jazz trio", **{**kw, "cfg_scale": 3.0})
    assert not torch.allclose(cond, guided, atol=1e-4)


def test_inpainting_keeps_the_samples_outside_the_gap_and_follows_the_prompt(pipe):
    audio = torch.from_numpy(np.random.default_rng(3).uniform(-0.5, 0.5, (2, SR)).astype("f4"))
    a, e = round(0.3 * SR), round(0.6 * SR)
    kw = dict(seed=1, steps=3)
    violin = pipe.inpaint(audio, 0.3, 0.6, "a violin", **kw)[0]
    drums = pipe.inpaint(audio, 0.3, 0.6, "drums", **kw)[0]
    for out in (violin, drums):
        assert torch.equal(out[:, :a], audio[:, :a]) and torch.equal(out[:, e:], audio[:, e:])
    assert not torch.allclose(violin[:, a:e], drums[:, a:e], atol=1e-4)


def test_continuation_follows_the_prompt(pipe):
    audio = torch.from_numpy(np.random.default_rng(4).uniform(-0.3, 0.3, (2, 30000)).astype("f4"))
    a = pipe.continue_(audio, "a violin", seconds=0.5, seed=1, steps=3)
    b = pipe.continue_(audio, "drums", seconds=0.5, seed=1, steps=3)
    keep = 30000 - round(0.05 * SR)
    assert torch.equal(a[0, :, :keep], b[0, :, :keep])
    assert not torch.allclose(a[..., 30000:], b[..., 30000:], atol=1e-4)


def test_inpaint_keeps_outside_exactly(pipe):
    rng = np.random.default_rng(0)
    audio = torch.from_numpy(rng.uniform(-0.5, 0.5, (2, SR)).astype(np.float32))
    out = pipe.inpaint(audio, 0.3, 0.6, "a violin", seed=0)
    a, e = round(0.3 * SR), round(0.6 * SR)
    assert out.shape == (1, 2, SR)
    assert torch.equal(out[0, :, :a], audio[:, :a]) and torch.equal(out[0, :, e:], audio[:, e:])
    assert not torch.allclose(out[0, :, a + 4800 : e - 4800], audio[:, a + 4800 : e - 4800])


def test_inpaint_without_prompt(pipe):
    audio = torch.zeros(2, SR // 2)
    out = pipe.inpaint(audio, 0.1, 0.2, None, seed=0)
    a, e = round(0.1 * SR), round(0.2 * SR)
    assert out.shape == (1, 2, SR // 2) and out[..., a:e].abs().max() > 0
    assert not out[..., :a].any() and not out[..., e:].any()  # the silence around it is kept
    assert torch.equal(out, pipe.inpaint(audio, 0.1, 0.2, "", seed=0))  # blank: unconditional


def test_continue_prefix_and_length(pipe):
    audio = torch.from_numpy(
        np.random.default_rng(1).uniform(-0.3, 0.3, (2, 30000)).astype(np.float32)
    )
    out = pipe.continue_(audio, "more of the same", seconds=1.7, seed=0)
    assert out.shape == (1, 2, 30000 + round(1.7 * SR))
    keep = 30000 - round(0.05 * SR)
    assert torch.equal(out[0, :, :keep], audio[:, :keep])


def test_streams_hand_out_bounded_pieces(pipe, monkeypatch):
    import dataclasses

    ae = pipe.autoencoder
    monkeypatch.setattr(ae, "cfg", dataclasses.replace(ae.cfg, chunk_seconds=0.25))
    window = round(0.25 * ae.cfg.frame_rate) * ae.hop
    audio = torch.from_numpy(
        np.random.default_rng(1).uniform(-0.3, 0.3, (2, 30000)).astype(np.float32)
    )
    pieces = list(pipe.continue_stream(audio, "more", seconds=1.7, seed=0))
    assert len(pieces) > 4 and max(p.shape[-1] for p in pieces[1:]) <= window
    out = torch.cat(pieces, dim=-1)
    assert out.shape == (1, 2, 30000 + round(1.7 * SR))
    assert torch.equal(out, pipe.continue_(audio, "more", seconds=1.7, seed=0))
    gen = list(pipe.generate_stream("drums", seconds=1.3, seed=2))
    assert len(gen) > 2 and max(p.shape[-1] for p in gen) <= window
    assert torch.equal(torch.cat(gen, -1), pipe.generate("drums", seconds=1.3, seed=2))


def test_stream_checks_arguments_before_returning(pipe):
    with pytest.raises(Jen1Error, match="prompt is empty"):
        pipe.generate_stream("", seconds=1)
    with pytest.raises(Jen1Error, match="positive"):
        pipe.continue_stream(torch.zeros(2, SR), None, seconds=-1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: p.generate("", seconds=1), "prompt is empty"),
        (lambda p: p.generate("x", seconds=0), "positive"),
        (lambda p: p.generate("x", seconds=1e9), "limit"),
        (lambda p: p.generate("x", seconds=1, sampler="nope"), "unknown sampler"),
        (lambda p: p.inpaint(torch.zeros(2, SR), 0.5, 0.4), "start < end"),
        (lambda p: p.inpaint(torch.zeros(2, SR), 0.5, 2.0), "after the end of the audio"),
        (lambda p: p.inpaint(torch.zeros(1, SR), 0.1, 0.2), "stereo"),
        (lambda p: p.continue_(torch.zeros(2, SR), None, seconds=-1), "positive"),
    ],
)
def test_bad_input_is_a_clear_error(pipe, call, match):
    with pytest.raises(Jen1Error, match=match):
        call(pipe)


def test_missing_model_dir_is_clear(tmp_path):
    with pytest.raises(Jen1Error, match="not found"):
        Pipeline.from_pretrained(tmp_path / "none")


def test_bf16_weights_match_autocast_exactly():
    """Keeping conv/linear weights in bf16 gives the autocast output bit for bit."""
    import copy

    from jen1.conditioning.conditions import Conditions
    from jen1.config import load_config
    from jen1.models import build_unet
    from jen1.precision import cast_matmul_weights

    cfg = load_config("tiny")
    c, d, t_len = cfg.autoencoder.latent_dim, cfg.text.dim, 37
    torch.manual_seed(0)
    ref = build_unet(cfg).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, 0.05)
    fast = cast_matmul_weights(copy.deepcopy(ref), torch.bfloat16)
    assert any(p.dtype == torch.bfloat16 for p in fast.parameters())
    assert any(p.dtype == torch.float32 for p in fast.parameters())  # norms stay float32
    x = torch.randn(2, 2 * c + 1, t_len)
    cond = Conditions(
        text_emb=torch.randn(2, 5, d),
        text_mask=torch.ones(2, 5, dtype=torch.bool),
        known=torch.zeros(2, c, t_len),
        mask=torch.zeros(2, 1, t_len),
        drop_text=torch.tensor([False, True]),
    )
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        for causal in (False, True):
            a = ref(x, torch.rand(2, generator=torch.Generator().manual_seed(1)), cond, causal)
            b = fast(x, torch.rand(2, generator=torch.Generator().manual_seed(1)), cond, causal)
            assert torch.equal(a, b)


def test_pipeline_packs_on_cpu_unless_told_not_to(tiny_model_dir):
    from jen1.diffusion import packing

    if not packing.packing_available() or not packing._kernels_run(torch.bfloat16):
        pytest.skip("no oneDNN bf16 kernels on this CPU")
    packed = Pipeline.from_pretrained(tiny_model_dir, bf16=True)
    plain = Pipeline.from_pretrained(tiny_model_dir, bf16=True, pack=False)
    conv = packed.unet.conv_in.conv
    assert conv in packing._PACKS and plain.unet.conv_in.conv not in packing._PACKS
    # warmed at the sampling window's width (a CFG pair of the window's frames)
    frames = packed._frames(packed.cfg.sampling.window_seconds)
    frames += -frames % packed.unet.frame_multiple  # the U-Net pads to its multiple
    pad = conv.kernel_size[0] // 2  # the warm-up is a centred call
    assert list(packing._PACKS[conv].by_size) == [(2, conv.in_channels, frames, pad)]
    # (the tiny model's zero-initialised output conv hides numeric differences: those are
    # tested on random weights in tests/diffusion/test_packing.py)
    a = packed.generate("a flute", seconds=1.0, seed=3)
    b = plain.generate("a flute", seconds=1.0, seed=3)
    assert a.shape == b.shape and torch.isfinite(a).all()
    assert torch.allclose(a, b, atol=0.05)


def test_audio_given_to_the_api_is_checked_and_integer_pcm_scaled(pipe):
    bad = np.zeros((2, SR), np.float32)
    bad[0, 100] = np.nan
    with pytest.raises(Jen1Error, match="NaN or infinite") as e:
        pipe.inpaint(bad, 0.2, 0.4, seed=0)
    assert "\n" not in str(e.value)
    pcm = (np.random.default_rng(5).uniform(-0.5, 0.5, (2, 30000)) * 32768).astype(np.int16)
    out = pipe.continue_(pcm, None, seconds=0.2, seed=0, steps=2)
    keep = 30000 - round(0.05 * SR)
    assert torch.equal(out[0, :, :keep], torch.from_numpy(pcm[:, :keep] / np.float32(32768)))


def test_numpy_scalars_are_accepted_and_bad_types_refused(pipe):
    wav = pipe.generate(["piano"], seconds=np.float32(0.25), seed=np.int64(1), steps=2)
    assert wav.shape == (1, 2, round(0.25 * SR))
    with pytest.raises(Jen1Error, match="negative_prompt must be text"):
        pipe.generate("piano", seconds=0.25, negative_prompt=3)
    with pytest.raises(Jen1Error, match="seconds must be at least"):
        pipe.generate("piano", seconds=0.00001)
    with pytest.raises(Jen1Error, match="seed must be between 0 and 2"):
        pipe.generate("piano", seconds=0.25, seed=2**70)
    with pytest.raises(TypeError, match="stpes"):
        pipe.generate("piano", seconds=0.25, stpes=3)  # a misspelt setting is not ignored
