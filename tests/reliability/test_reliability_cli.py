"""The command line on hostile input: one-line errors, and SIGTERM cleans up like Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from reliability_helpers import env, jen1_inprocess, one_line_error

SR = 48000


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--threads", "-1", "info"], "--threads: must be at least 1"),
        (["--threads", "0", "info"], "--threads: must be at least 1"),
        (["train", "diffusion", "--data", "d", "--out", "o", "--max-steps", "-5"], "at least 1"),
        (["train", "diffusion", "--data", "d", "--out", "o", "--eval-every", "5"],
         "--eval-every needs --eval-prompts FILE and --eval-reference DIR"),
        (["train", "diffusion", "--data", "d", "--out", "o", "--eval-prompts", "p.txt"],
         "need --eval-every N"),
        (["train", "autoencoder", "--data", "d", "--out", "o", "--eval-every", "5",
          "--eval-prompts", "p.txt", "--eval-reference", "r"], "'jen1 train distill' only"),
        (["train", "diffusion", "--data", "d", "--out", "o", "--eval-every", "5",
          "--eval-prompts", "p.txt", "--eval-reference", "r"], "no prompts file at p.txt"),
        (["generate", "caf\udce9 piano", "-o", "x.wav"], "not valid UTF-8"),
        (["generate", "piano", "--negative", "\udcff", "-o", "x.wav"], "not valid UTF-8"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(jen1_inprocess(capsys, *argv), words)
    assert not list(tmp_path.iterdir())


def test_invalid_utf8_prompt_through_a_real_argv(tmp_path):
    # the bytes as a shell passes them: Python turns \xe9 into a lone surrogate
    r = subprocess.run(
        [sys.executable.encode(), b"-m", b"jen1.cli", b"generate", b"caf\xe9", b"-o", b"x.wav"],
        capture_output=True,
        env=env(),
        cwd=tmp_path,
        timeout=120,
    )
    r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())
    one_line_error(r, "not valid UTF-8")


def _hidden_temps(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("command", ["generate", "continue"])
def test_sigterm_while_writing_leaves_no_temporary_file(tmp_path, tiny_model_dir, command):
    out = tmp_path / "out.wav"
    clip = tmp_path / "in.wav"
    sf.write(str(clip), np.zeros((SR // 2, 2), np.float32), SR)
    task = (
        ["generate", "calm piano", "--seconds", 60]
        if command == "generate"
        else ["continue", clip, "--seconds", 60]
    )
    # one step: sampling ends soon, and decoding a minute into the open temporary file lasts
    argv = [*task, "--steps", 1, "--model", tiny_model_dir, "--no-progress", "-o", out]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jen1.cli", *map(str, argv)],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not _hidden_temps(tmp_path):  # decoding into the output's temporary file
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no temporary output file appeared"
            time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None, "finished before the signal: give it more to decode"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == "error: terminated", err
    assert _hidden_temps(tmp_path) == [] and not out.exists()


def test_truncated_wav_is_refused(tmp_path):
    from jen1.audio import load_audio
    from jen1.errors import AudioError

    whole = tmp_path / "whole.wav"
    sf.write(str(whole), np.full((SR, 2), 0.25, np.float32), SR, subtype="PCM_16")
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # the header still promises one second
    assert load_audio(whole).shape == (2, SR)
    with pytest.raises(AudioError, match="audio file is truncated"):
        load_audio(cut)


def test_truncated_wav_through_the_cli(tmp_path, capsys):
    whole = tmp_path / "whole.wav"
    sf.write(str(whole), np.full((SR, 2), 0.25, np.float32), SR, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:30000])
    r = jen1_inprocess(
        capsys, "inpaint", cut, "--start", 0.1, "--end", 0.2, "-o", tmp_path / "o.wav"
    )
    one_line_error(r, "audio file is truncated")  # (the test's folder name holds "truncated")


def test_streamed_wav_without_sizes_is_still_read(tmp_path):
    """ffmpeg writing to a pipe leaves the RIFF and data sizes at 0xFFFFFFFF: not truncation."""
    from jen1.audio import load_audio

    p = tmp_path / "stream.wav"
    sf.write(str(p), np.full((1000, 2), 0.25, np.float32), SR, subtype="PCM_16")
    b = bytearray(p.read_bytes())
    i = b.index(b"data")
    b[4:8] = b[i + 4 : i + 8] = (0xFFFFFFFF).to_bytes(4, "little")
    p.write_bytes(bytes(b))
    assert load_audio(p).shape == (2, 1000)


def test_prepare_of_only_a_short_clip_names_the_minimum(tmp_path, capsys):
    src = tmp_path / "music"
    src.mkdir()
    sf.write(str(src / "short.wav"), np.full((4 * SR, 2), 0.2, np.float32), SR)
    (src / "short.txt").write_text("a short tone")
    r = jen1_inprocess(capsys, "data", "prepare", src, tmp_path / "out", "--no-progress")
    one_line_error(r, "no file of")
    assert "shorter than the minimum of 5 s" in r.stderr and "--segment-seconds 8" in r.stderr
    assert "skipped short.wav" in r.stdout
    r = jen1_inprocess(
        capsys, "data", "prepare", src, tmp_path / "out", "--no-progress", "--segment-seconds", 8
    )
    assert r.returncode == 0, r.stderr
    assert "1 segments" in r.stdout
