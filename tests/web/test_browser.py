"""(a) A real browser (Debian's headless Chromium, driven by selenium + chromium-driver) uses
the web UI of a running ``jen1 serve``: generate, inpaint an upload, refuse a non-audio upload,
and never reach beyond the loopback address."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
)


def _wait(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def browser(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"Chromium is not installed ({CHROMIUM}): apt-get install chromium chromium-driver"
        )
    if not Path(CHROMEDRIVER).exists() and not shutil.which("chromedriver"):
        pytest.skip(
            f"chromium-driver is not installed ({CHROMEDRIVER}): apt-get install chromium-driver"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # with both paths given, Selenium Manager never runs
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(CHROMEDRIVER, log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _css(driver, selector: str) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _audio_source(driver, elem_id: str) -> list | None:
    """[src, readyState, duration] of the result player once it has a playable source."""
    got = driver.execute_script(
        "const a = document.querySelector(arguments[0]);"
        "return a && a.src ? [a.src, a.readyState, a.duration] : null;",
        f"#{elem_id} audio",
    )
    return got if got and got[1] >= 1 and got[2] and got[2] > 0 else None  # HAVE_METADATA


def _toasts(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('.toast-body, [data-testid=toast-body]')]"
        ".map(e => e.innerText);"
    )


def _tab(driver, name: str) -> None:
    [button] = [b for b in _css(driver, "button[role=tab]") if b.text.strip() == name]
    button.click()


def test_browser_generate_inpaint_and_refuse(web_server, browser, tmp_path, song_wav_bytes):
    d = browser
    d.get(web_server.url + "/")
    prompt = _wait("the prompt box", lambda: _css(d, "#generate-prompt textarea"), timeout=45)[0]

    # Generate: type a prompt, press the button, wait for a playable result
    prompt.send_keys("calm piano ballad for the browser test")
    _css(d, "#generate-button")[0].click()
    src, _, duration = _wait("a playable result", lambda: _audio_source(d, "generate-audio"))
    assert "/gradio_api/file=" in src and src.endswith(".wav")
    assert abs(duration - 1.0) < 0.05  # the tiny model's default duration
    info = _css(d, "#generate-info")[0].text
    assert info.startswith("seed ") and "1.00 s generated" in info
    assert "calm piano ballad for the browser test" in _css(d, "#history")[0].text
    shot = tmp_path / "generate.png"
    assert d.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    # Inpaint: upload audio, the start/end sliders follow it, regenerate a part
    song = tmp_path / "song.wav"
    song.write_bytes(song_wav_bytes)
    _tab(d, "Inpaint")
    upload = _wait("the inpaint upload box", lambda: _css(d, "#inpaint-input input[type=file]"))
    upload[0].send_keys(str(song))
    _wait("the upload to be read", lambda: "song.wav: 2.00 s" in _css(d, "#inpaint-loaded")[0].text)
    _css(d, "#inpaint-button")[0].click()
    _, _, duration = _wait("the inpainted result", lambda: _audio_source(d, "inpaint-audio"))
    assert abs(duration - 2.0) < 0.05
    assert "regenerated (0.80-1.20 s)" in _css(d, "#inpaint-info")[0].text
    d.save_screenshot(str(tmp_path / "inpaint.png"))

    # Continue: a file that is not audio is refused with a message
    fake = tmp_path / "notes.wav"
    fake.write_text("not audio, just notes\n" * 40)
    _tab(d, "Continue")
    upload = _wait("the continue upload box", lambda: _css(d, "#continue-input input[type=file]"))
    upload[0].send_keys(str(fake))
    toasts = _wait("an error message", lambda: _toasts(d))
    assert any("notes.wav is not an audio file jen1 can read" in t for t in toasts), toasts
    d.save_screenshot(str(tmp_path / "refused.png"))

    # nothing but the server on loopback was contacted
    urls = [
        json.loads(e["message"])["message"]["params"].get("request", {}).get("url", "")
        for e in d.get_log("performance")
    ]
    remote = {
        u
        for u in urls
        if u.split(":")[0] in ("http", "https", "ws", "wss")
        and not u.startswith((web_server.url, web_server.url.replace("http", "ws", 1)))
    }
    assert not remote, sorted(remote)[:5]
