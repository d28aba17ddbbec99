"""The HTTP API of a running ``jen1 serve`` (tiny random model): results, errors, bad uploads."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

httpx = pytest.importorskip("httpx")


def _wav(resp) -> tuple[np.ndarray, int]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "audio/wav"
    data, sr = sf.read(io.BytesIO(resp.content), dtype="float32")
    return data, sr


def test_health(web_server):
    h = httpx.get(web_server.url + "/api/health").json()
    assert h["status"] == "ok" and h["sample_rate"] == 48000
    assert h["max_seconds"] == web_server.max_seconds and h["queue"]["admitted"] == 0


def test_generate_returns_wav_and_seed(web_server):
    body = {"prompt": "calm piano", "seconds": 1.5, "seed": 7, "steps": 3, "cfg": 2.0}
    r1 = httpx.post(web_server.url + "/api/generate", json=body, timeout=60)
    data, sr = _wav(r1)
    assert sr == 48000 and data.shape == (72000, 2) and np.isfinite(data).all()
    assert r1.headers["x-jen1-seed"] == "7"
    r2 = httpx.post(web_server.url + "/api/generate", json=body, timeout=60)
    assert r2.content == r1.content  # same seed, same audio
    r3 = httpx.post(
        web_server.url + "/api/generate", json={"prompt": "calm piano", "seconds": 0.5}, timeout=60
    )
    _wav(r3)
    assert int(r3.headers["x-jen1-seed"]) >= 0  # a random seed, reported


def _as_served(wav: bytes, tmp_path) -> np.ndarray:
    """(L, 2) what the server makes of an uploaded WAV before any model runs, as 24-bit PCM."""
    from jen1.audio import load_audio
    from jen1.web.results import wav_bytes

    path = tmp_path / "upload.wav"
    path.write_bytes(wav)
    return sf.read(io.BytesIO(wav_bytes(load_audio(path))), dtype="float32")[0]


def _generate(web_server, **body) -> np.ndarray:
    body = {"seconds": 0.5, "seed": 3, "steps": 3, **body}
    return _wav(httpx.post(web_server.url + "/api/generate", json=body, timeout=60))[0]


def test_prompt_negative_prompt_and_guidance_reach_the_model(web_server):
    jazz = _generate(web_server, prompt="a jazz trio", cfg=3)
    assert not np.allclose(jazz, _generate(web_server, prompt="a rock band", cfg=3), atol=1e-4)
    steered = _generate(web_server, prompt="a jazz trio", cfg=3, negative_prompt="noise")
    assert not np.allclose(jazz, steered, atol=1e-4)
    cond = _generate(web_server, prompt="a jazz trio", cfg=1)
    neg = _generate(web_server, prompt="a jazz trio", cfg=1, negative_prompt="noise")
    assert np.array_equal(cond, neg)  # at guidance 1: the conditional output alone
    assert not np.allclose(cond, jazz, atol=1e-4)


def test_inpaint_prompt_changes_only_the_gap(web_server, song_wav_bytes):
    outs = []
    for prompt in ("a violin", "heavy drums"):
        r = httpx.post(
            web_server.url + "/api/inpaint",
            files={"audio": ("song.wav", song_wav_bytes, "audio/wav")},
            data={"start": "0.5", "end": "1.0", "prompt": prompt, "seed": "1", "steps": "3"},
            timeout=60,
        )
        outs.append(_wav(r)[0])
    a, e = round(0.5 * 48000), round(1.0 * 48000)
    assert np.array_equal(outs[0][:a], outs[1][:a]) and np.array_equal(outs[0][e:], outs[1][e:])
    assert not np.allclose(outs[0][a:e], outs[1][a:e], atol=1e-4)


def test_the_seed_range_is_exact(web_server):
    body = {"prompt": "x", "seconds": 0.1, "steps": 1, "seed": 2**63 - 1}
    r = httpx.post(web_server.url + "/api/generate", json=body, timeout=60)
    _wav(r)
    assert r.headers["x-jen1-seed"] == str(2**63 - 1)  # not rounded through a float
    for seed in (2**63, -1, 1e19):
        r = httpx.post(web_server.url + "/api/generate", json={**body, "seed": seed}, timeout=30)
        assert r.status_code == 400 and "seed must" in r.json()["error"], r.text


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"prompt": "", "seconds": 1}, 400, "prompt is empty"),
        ({"prompt": "x", "seconds": 0.00001}, 400, "duration must be at least"),
        ({"prompt": "x", "negative_prompt": 5}, 400, "negative prompt must be text"),
        ({"prompt": ["a", 5]}, 400, "prompt must be text"),
        ({"prompt": "x", "secs": 1}, 400, "unknown field(s) secs"),
        ({"prompt": "x", "seconds": 99}, 400, "at most 10 s"),
        ({"prompt": "x", "sampler": "nope"}, 400, "unknown sampler"),
        ({"prompt": "x", "adapter_scale": 3}, 400, "adapter_scale must be between 0 and 2"),
        ({"prompt": "x", "adapter_scale": 1}, 400, "applies to a model loaded with an adapter"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_generate_errors_are_one_line_json(web_server, body, status, words):
    r = httpx.post(web_server.url + "/api/generate", json=body, timeout=30)
    assert r.status_code == status and words in r.json()["error"]


def test_inpaint_and_continue(web_server, song_wav_bytes, tmp_path):
    files = {"audio": ("song.wav", song_wav_bytes, "audio/wav")}
    r = httpx.post(
        web_server.url + "/api/inpaint",
        files=files,
        data={"start": "0.5", "end": "1.0", "prompt": "violin", "seed": "1"},
        timeout=60,
    )
    data, sr = _wav(r)
    assert sr == 48000 and data.shape == (96000, 2)
    # outside the gap the input is kept sample for sample: the server's reading of the upload
    # (resampled 44.1 -> 48 kHz), as 24-bit PCM
    kept = _as_served(song_wav_bytes, tmp_path)
    a, e = round(0.5 * 48000), round(1.0 * 48000)
    assert np.array_equal(data[:a], kept[:a]) and np.array_equal(data[e:], kept[e:])
    assert not np.allclose(data[a:e], kept[a:e], atol=1e-3)
    r = httpx.post(web_server.url + "/api/continue", files=files, data={"seconds": "1"}, timeout=60)
    data, _ = _wav(r)
    assert data.shape == (144000, 2)


def test_bad_uploads_get_the_message(web_server, tmp_path):
    """(c) a non-audio file and a too-large file, through the HTTP API and through Gradio."""
    not_audio = {"audio": ("notes.wav", b"these are my notes, not audio\n" * 50, "audio/wav")}
    r = httpx.post(
        web_server.url + "/api/inpaint",
        files=not_audio,
        data={"start": "0.1", "end": "0.2"},
        timeout=30,
    )
    assert r.status_code == 400
    assert r.json()["error"] == (
        "notes.wav is not an audio file jen1 can read (use WAV, FLAC, OGG or MP3)"
    )
    big = {"audio": ("big.wav", b"\0" * (2 * 1024 * 1024), "audio/wav")}
    r = httpx.post(web_server.url + "/api/continue", files=big, data={"seconds": "1"}, timeout=30)
    assert r.status_code == 413 and "the upload limit is 1 MB" in r.json()["error"]
    r = httpx.post(web_server.url + "/api/continue", files={"prompt": ("a", b"x")}, timeout=30)
    assert r.status_code == 400 and "form field 'audio'" in r.json()["error"]

    # the UI's upload route (Gradio) refuses a too-large file before anything reads it
    r = httpx.post(
        web_server.url + "/gradio_api/upload",
        files={"files": ("big.wav", big["audio"][1])},
        timeout=30,
    )
    assert r.status_code == 413 and "maximum allowed size" in r.text
    # and the UI's inpaint handler refuses non-audio with the same message as the API
    from gradio_client import Client, handle_file

    path = tmp_path / "notes.wav"
    path.write_bytes(not_audio["audio"][1])
    client = Client(web_server.url + "/", verbose=False, download_files=str(tmp_path / "dl"))
    with pytest.raises(Exception, match="notes.wav is not an audio file jen1 can read"):
        client.predict(
            handle_file(str(path)), 0.1, 0.2, "", 4, 2.0, "dpmpp_2m", "", "", api_name="/inpaint"
        )


def test_gradio_api_generate(web_server, tmp_path):
    """The UI's own API (gradio_client) works too and reports the seed it used."""
    from gradio_client import Client

    client = Client(web_server.url + "/", verbose=False, download_files=str(tmp_path))
    audio, download, info, image, *_ = client.predict(
        "ambient pad", 1.0, 3, 2.0, "ddim", "123", "", api_name="/generate"
    )
    data, sr = sf.read(audio)
    assert sr == 48000 and data.shape == (48000, 2)
    assert "seed 123" in info and download.endswith(".wav")


def test_remix_keeps_length_and_is_seeded(web_server, song_wav_bytes):
    files = {"audio": ("song.wav", song_wav_bytes, "audio/wav")}
    form = {"prompt": "heavy drums", "strength": "0.6", "seed": "4", "steps": "3"}
    r1 = httpx.post(web_server.url + "/api/remix", files=files, data=form, timeout=60)
    data, sr = _wav(r1)
    assert sr == 48000 and data.shape == (96000, 2) and np.isfinite(data).all()
    assert r1.headers["x-jen1-seed"] == "4" and "remix" in r1.headers["content-disposition"]
    r2 = httpx.post(web_server.url + "/api/remix", files=files, data=form, timeout=60)
    assert r2.content == r1.content


@pytest.mark.parametrize(
    "form, words",
    [
        ({"strength": "1.5"}, "strength must be between 0 (keep the input) and 1 (ignore it)"),
        ({"strength": "nan"}, "strength must be between 0"),
        ({"strength": "lots"}, "strength must be a number"),
        ({"strenght": "0.5"}, "unknown field(s) strenght"),
    ],
)
def test_remix_bad_strength_is_a_400(web_server, song_wav_bytes, form, words):
    files = {"audio": ("song.wav", song_wav_bytes, "audio/wav")}
    r = httpx.post(web_server.url + "/api/remix", files=files, data=form, timeout=30)
    assert r.status_code == 400 and words in r.json()["error"], r.text


def test_gradio_remix_tab(web_server, song_wav_bytes, tmp_path):
    """The Remix tab's handler (through gradio_client): the input's length, the seed used."""
    from gradio_client import Client, handle_file

    path = tmp_path / "song.wav"
    path.write_bytes(song_wav_bytes)
    client = Client(web_server.url + "/", verbose=False, download_files=str(tmp_path / "dl"))
    audio, download, info, *_ = client.predict(
        handle_file(str(path)), 0.5, "calm piano", 3, 2.0, "ddim", "9", "", api_name="/remix"
    )
    data, sr = sf.read(audio)
    assert sr == 48000 and data.shape == (96000, 2)
    assert "seed 9" in info and "2.00 s remixed" in info
    with pytest.raises(Exception, match=r"strength must be between 0|greater than maximum value 1"):
        client.predict(handle_file(str(path)), 2, "x", 3, 2.0, "ddim", "", "", api_name="/remix")
