"""Musical controls in the web UI and the HTTP API: fields, checks, what the model was told."""

from __future__ import annotations

import numpy as np
import pytest

from jen1.request import RequestError
from jen1.web.jobs import ModelRunner, parse_controls, parse_sampling
from jen1.web.settings import ServerSettings

httpx = pytest.importorskip("httpx")


@pytest.mark.parametrize(
    "values, field",
    [({"bpm": "0"}, "bpm"), ({"bpm": 1000}, "bpm"), ({"key": "H major"}, "key"),
     ({"chords": "Xyz"}, "chords"), ({"meter": "0/4"}, "meter"), ({"bpm": True}, "bpm"),
     ({"key": ["D"]}, "key")],
)  # fmt: skip
def test_parse_controls_refuses_bad_values_naming_the_field(values, field):
    with pytest.raises(RequestError) as e:
        parse_controls(values)
    assert e.value.field == field and str(e.value).startswith(field)


def test_parse_controls_takes_widget_text_and_json_numbers():
    c = parse_controls({"bpm": 120, "key": "d minor", "meter": "", "chords": None})
    assert (c.bpm, c.key, c.mode, c.meter) == (120.0, "D", "minor", None)
    assert parse_controls({"bpm": " ", "key": ""}) is None and parse_controls(None) is None


@pytest.fixture(scope="module")
def runner(tiny_controls_model_dir):
    from jen1.pipeline import Pipeline

    return ModelRunner(Pipeline.from_pretrained(tiny_controls_model_dir), ServerSettings())


def test_the_result_says_what_the_model_was_told(runner):
    from jen1.web.api import _wav_response
    from jen1.web.app import _info

    sampling = parse_sampling(steps=1, seed=0)
    r = runner.generate("lofi in 3/4", 0.5, sampling, controls={"bpm": "96", "key": ""})
    assert r.controls == "tempo 96 BPM, meter 3/4 (from the prompt)"
    assert "controls: tempo 96 BPM" in _info(r)
    assert _wav_response(r).headers["x-jen1-controls"] == r.controls
    clicks = np.zeros((2, 3 * 48000), np.float32)
    clicks[:, ::24000] = 0.9  # 120 BPM
    r = runner.continue_(clicks, 0.5, None, sampling)
    assert "(estimated from the audio)" in r.controls


def test_a_model_without_controls_reports_none_and_refuses_them():
    from types import SimpleNamespace

    from jen1.config import load_config
    from jen1.web.api import _wav_response
    from jen1.web.jobs import Result

    r = Result("generate", np.zeros((2, 10), np.float32), "x", 0, 1, 1.0, "ddim", 0.1, (0, 1))
    assert "x-jen1-controls" not in _wav_response(r).headers
    plain = ModelRunner(SimpleNamespace(cfg=load_config("tiny")), ServerSettings())
    with pytest.raises(RequestError, match="^key: this model was trained without"):
        plain.generate("x", 1.0, parse_sampling(), controls={"key": "D"})


@pytest.mark.parametrize(
    "body, words",
    [({"bpm": 0}, "bpm 0 is out of range"), ({"meter": "0/4"}, "meter '0/4' is not accepted"),
     ({"bpm": 120}, "bpm: this model was trained without musical controls"),
     ({"tempo": 120}, "unknown field(s) tempo")],
)  # fmt: skip
def test_http_api_refuses_bad_controls_with_a_400(web_server, body, words):
    r = httpx.post(web_server.url + "/api/generate", json={"prompt": "x", **body}, timeout=60)
    assert r.status_code == 400 and words in r.json()["error"], r.text


def test_health_says_whether_the_model_takes_controls(web_server):
    assert httpx.get(web_server.url + "/api/health").json()["controls"] is False
