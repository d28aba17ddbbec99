"""The one validation of a request: types, ranges, prompts, model-dependent checks, defaults."""

import numpy as np
import pytest
import torch

from jen1.config import load_config
from jen1.request import (
    MAX_SEED,
    ContinueRequest,
    GenerateRequest,
    InpaintRequest,
    RequestError,
    SamplingParams,
    check_audio,
)

CFG = load_config("tiny")


def test_numpy_scalars_and_whole_floats_are_accepted_exactly():
    s = SamplingParams(steps=np.int64(5), cfg_scale=np.float32(2.5), seed=MAX_SEED)
    assert (s.steps, s.cfg_scale, s.seed) == (5, 2.5, 2**63 - 1)
    assert type(s.steps) is int and type(s.cfg_scale) is float
    assert SamplingParams(steps=10.0, seed=7.0).steps == 10
    r = GenerateRequest(["piano", "drums"], np.float32(1.5))
    assert r.prompts == ("piano", "drums") and r.seconds == 1.5
    assert InpaintRequest(np.float32(0.25), np.int64(1)).end == 1.0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"seed": 2**70}, "seed must be between 0 and 2**63 - 1"),
        ({"seed": 2**63}, "seed must be between 0 and 2**63 - 1"),
        ({"seed": -1}, "seed must be between 0 and 2**63 - 1"),
        ({"seed": 1e19}, "seed must be a whole number"),  # a float this large was rounded
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"seed": True}, "seed must be a number"),
        ({"steps": 0}, "steps must be between 1 and 1000"),
        ({"steps": 10**400}, "steps must be between 1 and 1000"),
        ({"cfg_scale": float("nan")}, "cfg_scale must be between 0 and 50"),
        ({"cfg_scale": 10**400}, "cfg_scale must be between 0 and 50"),
        ({"cfg_scale": "2"}, "cfg_scale must be a number"),
        ({"sampler": "plms"}, "unknown sampler 'plms'"),
        ({"sampler": 3}, "sampler must be a name"),
        ({"negative_prompt": 3}, "negative_prompt must be text, got int"),
        ({"negative_prompt": "x" * 2001}, "the limit is 2000"),
    ],
)
def test_bad_sampling_settings_are_one_line_errors(kwargs, words):
    with pytest.raises(RequestError, match=words.replace("*", r"\*").replace("(", r"\(")) as e:
        SamplingParams(**kwargs)
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: GenerateRequest(""), "prompt is empty"),
        (lambda: GenerateRequest([]), "prompt is empty"),
        (lambda: GenerateRequest(["a", 3]), "prompt must be text, got int"),
        (lambda: GenerateRequest(3), "prompt must be text or a list of texts"),
        (lambda: GenerateRequest("x", 0), "seconds must be a positive number"),
        (lambda: GenerateRequest("x", 1e9), "more than the limit of 3600 s"),
        (lambda: GenerateRequest("x", float("inf")), "seconds must be a finite number"),
        (lambda: GenerateRequest("x", "5"), "seconds must be a number"),
        (lambda: InpaintRequest(0.5, 0.4), "0 <= start < end"),
        (lambda: InpaintRequest(0.1, 0.2, ["a", " "]), "prompt list has an empty entry"),
        (lambda: InpaintRequest(0.1, 0.2, crossfade_seconds=0.5), "crossfade_seconds"),
        (lambda: ContinueRequest(-1), "seconds must be a positive number"),
    ],
)
def test_bad_requests_are_refused_at_construction(make, words):
    with pytest.raises(RequestError, match=words):
        make()


def test_resolve_fills_the_model_defaults_and_draws_a_seed_once():
    r = GenerateRequest("piano").resolve(CFG)
    s = CFG.sampling
    assert r.seconds == s.seconds
    assert (r.sampling.steps, r.sampling.cfg_scale, r.sampling.sampler) == (
        s.steps,
        s.cfg_scale,
        s.sampler,
    )
    assert 0 <= r.sampling.seed < 2**31
    assert r.resolve(CFG) == r  # a resolved request resolves to itself
    assert GenerateRequest("x", 1, SamplingParams(seed=4)).resolve(CFG).sampling.seed == 4


def test_resolve_checks_the_request_against_the_model_and_the_audio():
    frame = CFG.autoencoder.hop / CFG.autoencoder.sample_rate
    with pytest.raises(RequestError, match=r"seconds must be at least .* \(one latent frame"):
        GenerateRequest("x", 0.00001).resolve(CFG)
    GenerateRequest("x", frame).resolve(CFG)
    with pytest.raises(RequestError, match="after the end of the audio"):
        InpaintRequest(0.1, 1.5).resolve(CFG, (1, 2, 48000))
    with pytest.raises(RequestError, match="longer than this model can inpaint"):
        InpaintRequest(0.0, 0.9).resolve(CFG, (2, 48000))
    assert InpaintRequest(0.1, 0.3, "a").resolve(CFG, (3, 2, 48000)).prompts == ("a",) * 3
    with pytest.raises(RequestError, match="2 prompts for a batch of 3"):
        InpaintRequest(0.1, 0.3, ["a", "b"]).resolve(CFG, (3, 2, 48000))
    with pytest.raises(RequestError, match="too short"):
        ContinueRequest(1.0).resolve(CFG, (2, CFG.autoencoder.hop - 1))


def test_renamed_errors_name_the_front_end_field():
    with pytest.raises(RequestError) as e:
        SamplingParams(cfg_scale=-1)
    assert str(e.value.renamed({"cfg_scale": "--cfg"})).startswith("--cfg must be between")
    assert str(e.value.renamed({"seed": "--seed"})) == str(e.value)


def test_check_audio_scales_integer_pcm_and_refuses_nan():
    pcm = np.array([[-32768, 0, 16384], [32767, -16384, 0]], dtype=np.int16)
    x = check_audio(pcm)
    assert x.dtype == torch.float32 and x.shape == (1, 2, 3)
    assert x[0, 0, 0] == -1.0 and x[0, 0, 2] == 0.5 and x.abs().max() <= 1.0
    assert check_audio(np.full((2, 4), 128, np.uint8)).abs().max() == 0.0
    assert check_audio(np.full((2, 4), 2**30, np.int32))[0, 0, 0] == 0.5
    bad = np.zeros((2, 10), np.float32)
    bad[1, 3] = np.nan
    with pytest.raises(RequestError, match="NaN or infinite"):
        check_audio(bad)
    with pytest.raises(RequestError, match="NaN or infinite"):
        check_audio(torch.tensor([[0.0, float("inf")], [0.0, 0.0]]))
    with pytest.raises(RequestError, match="stereo"):
        check_audio(np.zeros((1, 10), np.float32))
    with pytest.raises(RequestError, match="real samples"):
        check_audio(np.zeros((2, 10), bool))
