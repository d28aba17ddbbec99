"""Musical controls in the requests: validation, what the model is told, refusal, estimation."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from jen1.conditioning.controls import Controls
from jen1.config import load_config, parse_override
from jen1.request import (
    ContinueRequest,
    GenerateRequest,
    InpaintRequest,
    RemixRequest,
    RequestError,
)

SR = 48000


@pytest.fixture(scope="module")
def cfg():
    return parse_override(load_config("tiny"), "unet.controls={}")


@pytest.mark.parametrize(
    "controls, field, words",
    [
        ({"bpm": "0"}, "bpm", "out of range"),
        ({"bpm": 1000}, "bpm", "out of range"),
        ({"bpm": "fast"}, "bpm", "not a number"),
        ({"key": "H major"}, "key", "accepted"),
        ({"chords": "Xyz"}, "chords", "accepted"),
        ({"meter": "0/4"}, "meter", "accepted"),
        ({"meter": "4/3"}, "meter", "accepted"),
        ({"tempo": 120}, "controls", "unknown control"),
    ],
)
def test_bad_controls_are_one_line_errors_naming_the_field(controls, field, words):
    with pytest.raises(RequestError) as e:
        GenerateRequest("piano", controls=controls)
    assert e.value.field == field and str(e.value).startswith(field)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert str(e.value.renamed({field: f"--{field}"})).startswith(f"--{field}")


def test_every_request_takes_controls_and_normalises_them():
    c = {"bpm": "120", "key": "Bb minor", "meter": "3/4", "chords": "Am F | C G"}
    want = Controls(120.0, "A#", "minor", (3, 4), (("Am", "F"), ("C", "G")))
    for req in (
        GenerateRequest("x", controls=c),
        InpaintRequest(0.0, 1.0, controls=c),
        ContinueRequest(1.0, controls=c),
        RemixRequest(0.5, controls=c),
    ):
        assert req.controls == want
    assert GenerateRequest("x", controls={"bpm": "", "key": None}).controls is None
    assert GenerateRequest("x", controls=want).controls is want


def test_a_model_without_controls_refuses_them_and_ignores_the_prompts_words(tiny_config):
    with pytest.raises(RequestError, match="^bpm: this model was trained without musical"):
        GenerateRequest("x", controls={"bpm": 120}).resolve(tiny_config)
    with pytest.raises(RequestError, match="^chords: "):
        ContinueRequest(1.0, controls={"chords": "Am"}).resolve(tiny_config, (2, SR))
    # words in a prompt are text to such a model, not controls: no error, nothing told
    assert GenerateRequest("lofi at 90 BPM in D minor").resolve(tiny_config).told is None


def test_told_takes_explicit_values_first_then_the_prompt(cfg):
    req = GenerateRequest(
        ["lofi at 90 BPM in D minor, 3/4", "ambient pad"], controls={"key": "F"}
    ).resolve(cfg)
    first, second = req.told
    assert first.controls == Controls(bpm=90.0, key="F", meter=(3, 4))
    assert first.source("bpm") == "prompt" and first.source("key") == "given"
    assert first.describe() == (
        "tempo 90 BPM (from the prompt), key F, meter 3/4 (from the prompt)"
    )
    assert second.controls == Controls(key="F")
    assert req.resolve(cfg).told == req.told  # a resolved request resolves to itself


def test_a_prompt_out_of_range_is_dropped_and_chords_get_a_tempo_and_meter(cfg):
    told = GenerateRequest("rock at 1000 bpm, chords Am F C G").resolve(cfg).told[0]
    assert told.controls.bpm == 120.0 and told.controls.meter == (4, 4)
    assert told.source("bpm") == "default" and told.source("chords") == "prompt"
    assert "tempo 120 BPM (default)" in told.describe()


def _clicks(bpm: float, seconds: float) -> np.ndarray:
    wav = np.zeros((2, round(seconds * SR)), dtype=np.float32)
    for t in np.arange(0, seconds, 60 / bpm):
        i = round(t * SR)
        wav[:, i : i + 200] = np.hanning(400)[200:] * 0.8
    return wav


def test_continuation_estimates_the_tempo_it_was_not_given(cfg):
    from jen1.inference.estimate import complete_from_audio

    wav = torch.from_numpy(_clicks(100.0, 6.0))[None]
    req = ContinueRequest(2.0, "in 3/4").resolve(cfg, wav.shape)
    done = complete_from_audio(req, wav, SR)
    told = done.told[0]
    assert abs(told.controls.bpm - 100.0) <= 2.0
    assert told.source("bpm") == "estimated" and told.source("meter") == "prompt"
    assert "(estimated from the audio)" in told.describe()
    assert complete_from_audio(done, wav, SR) == done  # idempotent
    given = ContinueRequest(2.0, controls={"bpm": 140, "key": "C"}).resolve(cfg, wav.shape)
    assert complete_from_audio(given, wav, SR).told == given.told  # explicit values stay
    silent = ContinueRequest(2.0).resolve(cfg, (1, 2, 6 * SR))
    assert complete_from_audio(silent, torch.zeros(1, 2, 6 * SR), SR).told[0].controls.empty


def test_inpainting_estimates_from_the_audio_outside_the_gap(cfg):
    from jen1.inference.estimate import complete_from_audio

    wav = _clicks(150.0, 6.0)
    wav[:, 3 * SR : 4 * SR] = np.random.default_rng(0).uniform(-1, 1, (2, SR))  # the gap
    x = torch.from_numpy(wav)[None]
    req = InpaintRequest(3.0, 3.5).resolve(
        dataclasses.replace(cfg, sampling=dataclasses.replace(cfg.sampling, window_seconds=8.0)),
        x.shape,
    )
    assert abs(complete_from_audio(req, x, SR).told[0].controls.bpm - 150.0) <= 3.0


def test_remix_keeps_the_tempo_of_its_input_unless_told(cfg):
    from jen1.inference.estimate import complete_from_audio

    x = torch.from_numpy(_clicks(120.0, 6.0))[None]
    done = complete_from_audio(RemixRequest(0.5, "a march").resolve(cfg, x.shape), x, SR)
    told = done.told[0]
    assert abs(told.controls.bpm - 120.0) <= 2.4 and told.source("bpm") == "estimated"
    given = RemixRequest(0.5, "a march at 90 BPM").resolve(cfg, x.shape)
    assert complete_from_audio(given, x, SR).told[0].controls.bpm == 90.0


@pytest.fixture(scope="module")
def controls_pipe(tiny_controls_model_dir):
    from jen1.pipeline import Pipeline

    return Pipeline.from_pretrained(tiny_controls_model_dir)


def test_controls_reach_the_model_through_every_task(controls_pipe):
    pipe = controls_pipe
    kw = dict(seed=0, steps=2)
    a = pipe.generate("piano", seconds=1.0, **kw)
    b = pipe.generate("piano", seconds=1.0, controls={"bpm": 150}, **kw)
    c = pipe.generate("piano at 150 BPM", seconds=1.0, **kw)
    assert not torch.equal(a, b) and a.shape == b.shape
    assert not torch.equal(b, c)  # the prompt's words also change the text
    wav = torch.from_numpy(_clicks(100.0, 3.0))
    for run in (
        lambda c: pipe.continue_(wav, "x", seconds=0.5, controls=c, **kw),
        lambda c: pipe.inpaint(wav, 1.0, 1.4, controls=c, **kw),
        lambda c: pipe.remix(wav, "x", controls=c, **kw),
    ):
        assert not torch.equal(run(None), run({"key": "D minor", "chords": "Dm G"}))


def test_the_pipeline_of_a_model_without_controls_refuses_them(tiny_model_dir):
    from jen1.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(tiny_model_dir)
    with pytest.raises(RequestError, match="^meter: this model was trained without"):
        pipe.generate("x", seconds=0.5, controls={"meter": "3/4"}, steps=1)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "jen1.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "flags, flag",
    [
        (["--bpm", "0"], "--bpm"),
        (["--bpm", "1000"], "--bpm"),
        (["--key", "H major"], "--key"),
        (["--chords", "Xyz"], "--chords"),
        (["--meter", "0/4"], "--meter"),
    ],
)
def test_cli_refuses_bad_controls_in_one_line_before_loading(flags, flag, tmp_path):
    # the model directory does not exist: the error comes before any model is looked at
    r = _cli("generate", "x", *flags, "--model", tmp_path / "none", "-o", tmp_path / "o.wav")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} ")


def test_cli_shows_what_the_model_is_told(tiny_controls_model_dir, tiny_model_dir, tmp_path):
    out = tmp_path / "o.wav"
    base = ("--seconds", 0.5, "--steps", 1, "--no-progress", "-o", out)
    r = _cli("generate", "lofi in D minor", "--bpm", 96, "--model", tiny_controls_model_dir, *base)
    assert r.returncode == 0, r.stderr
    assert "controls: tempo 96 BPM, key D minor (from the prompt)" in r.stderr
    r = _cli("generate", "x", "--bpm", 96, "--model", tiny_model_dir, *base, "--overwrite")
    assert r.returncode == 2 and "--bpm: this model was trained without" in r.stderr
