"""(b) Load on loopback: 20 concurrent requests through each door (the HTTP API and the UI's
Gradio queue) all complete or are refused with the queue-full message; the server stays up and
its memory stays bounded."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import soundfile as sf

httpx = pytest.importorskip("httpx")

N = 20
SECONDS = 3.0
PEAK_RSS_MB = 1500  # the tiny model's server idles near 600 MB
GROWTH_MB = 250  # RSS after the burst minus RSS before it


def _burst(fn) -> list:
    barrier = threading.Barrier(N)

    def one(k: int):
        barrier.wait(timeout=30)  # all N requests leave together
        return fn(k)

    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(one, range(N)))


def test_twenty_concurrent_requests(web_server):
    url = web_server.url

    def api(k: int):
        r = httpx.post(
            url + "/api/generate",
            timeout=120,
            json={"prompt": f"load test {k}", "seconds": SECONDS, "seed": k, "steps": 4},
        )
        return r.status_code, r.content if r.status_code == 200 else r.json()["error"]

    assert api(0)[0] == 200  # warm up: first-use allocations are not growth
    rss_before = web_server.rss_mb()
    results = _burst(api)
    done = [body for status, body in results if status == 200]
    refused = [body for status, body in results if status == 503]
    assert len(done) + len(refused) == N, [r for r in results if r[0] not in (200, 503)]
    assert all("the queue is full" in msg for msg in refused)
    # the first 1 running + MAX_QUEUE waiting are always admitted; the rest arrive while full
    assert len(done) >= 1 + web_server.max_queue and refused
    for body in done:
        data, sr = sf.read(io.BytesIO(body))
        assert sr == 48000 and data.shape == (round(SECONDS * 48000), 2)

    def ui(k: int):
        r = httpx.post(
            url + "/gradio_api/call/generate",
            timeout=60,
            # prompt, seconds, steps, cfg, sampler, seed, negative, bpm, key, meter, chords
            json={"data": [f"ui load {k}", 1.0, 3, 2.0, "dpmpp_2m", str(k), "", "", "", "", ""]},
        )
        if r.status_code != 200:
            return r.status_code, r.json().get("detail", r.text)
        event = r.json()["event_id"]
        with httpx.stream("GET", f"{url}/gradio_api/call/generate/{event}", timeout=120) as s:
            text = "".join(s.iter_text())
        return 200, text

    ui_results = _burst(ui)
    ui_done = [t for status, t in ui_results if status == 200]
    ui_refused = [t for status, t in ui_results if status == 503]
    assert len(ui_done) + len(ui_refused) == N, ui_results
    assert all("Queue is full" in t for t in ui_refused)
    assert len(ui_done) >= 1 and all("event: complete" in t for t in ui_done), ui_done[:1]
    assert all(f"seed {k}" in t for (status, t), k in zip(ui_results, range(N)) if status == 200)

    rss_mid = web_server.rss_mb()
    again = _burst(api)  # a second burst must not grow memory much further
    assert sum(status == 200 for status, _ in again) >= 1 + web_server.max_queue
    health = httpx.get(url + "/api/health", timeout=10).json()
    assert health["status"] == "ok" and health["queue"]["admitted"] == 0
    rss_after, peak = web_server.rss_mb(), web_server.rss_mb("VmHWM")
    summary = json.dumps(
        {
            "api_done": len(done),
            "api_refused": len(refused),
            "ui_done": len(ui_done),
            "ui_refused": len(ui_refused),
            "rss_before_mb": round(rss_before),
            "rss_mid_mb": round(rss_mid),
            "rss_after_mb": round(rss_after),
            "peak_rss_mb": round(peak),
        }
    )
    print(summary)
    assert peak < PEAK_RSS_MB, summary
    assert rss_after - rss_before < GROWTH_MB, summary
    assert rss_after - rss_mid < GROWTH_MB / 2, summary
