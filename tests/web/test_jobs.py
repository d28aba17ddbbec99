"""The web layer's pure parts, in process: request checks, uploads, admission, results, plots."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from jen1.config import load_config
from jen1.errors import Jen1Error
from jen1.web.jobs import BUSY_MESSAGE, BusyError, ModelRunner, load_upload, parse_sampling
from jen1.web.results import ResultStore, wav_bytes
from jen1.web.settings import ServerSettings


def _fake_pipeline():
    return SimpleNamespace(cfg=load_config("tiny"))


def test_parse_sampling_accepts_widget_and_json_values():
    s = parse_sampling("12", 3, "ddim", " 42 ", "  ")
    got = (s.steps, s.cfg_scale, s.sampler, s.seed, s.negative_prompt)
    assert got == (12, 3.0, "ddim", 42, None)
    empty = parse_sampling(None, "", None, "", None)
    assert (empty.steps, empty.cfg_scale, empty.seed) == (None, None, None)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"steps": 0}, "steps must be between"),
        ({"steps": 2.5}, "whole number"),
        ({"cfg_scale": "lots"}, "cfg must be a number"),
        ({"seed": -1}, "seed must be between"),
        ({"seed": "nan"}, "finite"),
        ({"sampler": "euler_ancestral_x"}, "unknown sampler"),
        ({"negative_prompt": "x" * 3000}, "limit is 2000"),
    ],
)
def test_parse_sampling_refuses_with_one_line(kwargs, words):
    with pytest.raises(Jen1Error, match=words) as e:
        parse_sampling(**kwargs)
    assert "\n" not in str(e.value)


def test_load_upload_refuses_non_audio_large_and_long(tmp_path, sine_stereo):
    settings = ServerSettings(max_upload_mb=0.5, max_seconds=2.0)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    with pytest.raises(Jen1Error, match=r"notes\.wav is not an audio file jen1 can read"):
        load_upload(text, settings)
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * 600_000)
    with pytest.raises(Jen1Error, match=r"big\.wav is 0\.6 MB; the upload limit is 0\.5 MB"):
        load_upload(big, settings)
    long = tmp_path / "long.flac"
    sf.write(long, np.zeros((3 * 8000, 1), np.float32), 8000)
    with pytest.raises(Jen1Error, match=r"long\.flac is 3\.0 s long; this server accepts at most"):
        load_upload(long, settings)
    good = tmp_path / "good.wav"
    sf.write(good, sine_stereo.T, 48000)
    wav = load_upload(good, settings, name="shown.wav")
    assert wav.shape == (2, 48000) and wav.dtype == np.float32


def test_admission_refuses_beyond_slots_plus_queue():
    runner = ModelRunner(_fake_pipeline(), ServerSettings(max_queue=2, concurrency=1))
    for _ in range(3):
        runner.admit()
    with pytest.raises(BusyError, match="queue is full"):
        runner.admit()
    runner.release()
    runner.admit()  # a place freed up
    assert runner.admitted == 3 and "busy" in BUSY_MESSAGE


def test_runner_checks_requests_before_the_model():
    runner = ModelRunner(_fake_pipeline(), ServerSettings(max_seconds=5))
    sampling = parse_sampling()
    with pytest.raises(Jen1Error, match="prompt is empty"):
        runner.generate("  ", 1.0, sampling)
    with pytest.raises(Jen1Error, match="at most 5 s"):
        runner.generate("piano", 6, sampling)
    audio = np.zeros((2, 48000), np.float32)
    with pytest.raises(Jen1Error, match="after the end of the audio"):
        runner.inpaint(audio, 0.5, 1.5, None, sampling)
    with pytest.raises(Jen1Error, match="less than end"):
        runner.inpaint(audio, 0.6, 0.5, None, sampling)
    with pytest.raises(Jen1Error, match="would be 6.0 s long"):
        runner.continue_(audio, 5, None, sampling)


def test_settings_refuse_bad_limits():
    with pytest.raises(Jen1Error, match="--max-queue"):
        ServerSettings(max_queue=0)
    with pytest.raises(Jen1Error, match="--concurrency"):
        ServerSettings(concurrency=0)


def test_result_store_keeps_a_bounded_number_of_files(tmp_path):
    store = ResultStore(tmp_path / "results", keep=3)
    paths = [store.save(np.zeros((2, 480), np.float32), f"r{k}") for k in range(5)]
    left = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert left == sorted(p.name for p in paths[-3:])


def test_wav_bytes_round_trip(sine_stereo):
    data, sr = sf.read(io.BytesIO(wav_bytes(sine_stereo * 3)), dtype="float32")
    assert sr == 48000 and data.shape == (48000, 2)
    assert np.abs(data).max() <= 1.0  # clipped
    assert np.allclose(data[:, 0][:1000], np.clip(sine_stereo[0][:1000] * 3, -1, 1), atol=1e-5)


def test_render_audio_image(sine_stereo):
    from jen1.web.plots import render_audio_image

    img = render_audio_image(np.tile(sine_stereo, 3), region=(1.0, 2.0))
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert img.shape[0] > 200 and img.std() > 10  # a picture, not a blank canvas
