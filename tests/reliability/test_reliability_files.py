"""Files jen1 writes: the umask's permissions, and output paths checked before any work."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import numpy as np
import pytest
import soundfile as sf
from reliability_helpers import jen1, jen1_inprocess, one_line_error

from jen1.errors import Jen1Error

SR = 48000


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield 0o640
    finally:
        os.umask(old)


def test_atomic_writes_get_the_umask_mode(tmp_path, umask_027):
    from jen1.audio import save_audio, save_audio_stream
    from jen1.fsutil import atomic_write_text

    atomic_write_text(tmp_path / "a.json", "{}")
    save_audio(tmp_path / "b.wav", np.zeros((2, 100), np.float32))
    save_audio_stream([tmp_path / "c.wav"], [np.zeros((1, 2, 50), np.float32)])
    for name in ("a.json", "b.wav", "c.wav"):
        assert _mode(tmp_path / name) == umask_027, name  # mkstemp alone gives 0o600


def test_copied_folder_gets_the_umask_mode_and_is_all_or_nothing(tmp_path, umask_027, monkeypatch):
    """A diffusion run keeps a copy of its cache's autoencoder (a cache written before the
    umask fix holds 0o600 shards): the copy takes the umask's modes."""
    from jen1.fsutil import copy_folder

    src = tmp_path / "src"
    src.mkdir(mode=0o700)
    for name in ("config.json", "model.safetensors"):
        (src / name).write_text(name)
        os.chmod(src / name, 0o600)
    copy_folder(src, tmp_path / "run" / "autoencoder")
    dst = tmp_path / "run" / "autoencoder"
    assert sorted(p.name for p in dst.iterdir()) == ["config.json", "model.safetensors"]
    assert (dst / "config.json").read_text() == "config.json"
    assert _mode(dst / "model.safetensors") == umask_027 and _mode(dst) == 0o750

    def broken(a, b):
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfile", broken)
    with pytest.raises(OSError, match="disk full"):
        copy_folder(src, tmp_path / "run2" / "autoencoder")
    assert list((tmp_path / "run2").iterdir()) == []  # nothing half-copied left behind


def test_exported_model_and_latent_cache_metadata_are_readable_by_others(tmp_path, tiny_config):
    import torch

    from jen1.autoencoder.model import AudioAutoencoder
    from jen1.checkpoint import save_model_dir
    from jen1.data.metadata import write_metadata

    old = os.umask(0o022)
    try:
        torch.manual_seed(0)
        ae = AudioAutoencoder(tiny_config.autoencoder)
        save_model_dir(tmp_path / "m", tiny_config, {"autoencoder": ae.state_dict()}, card="# c\n")
        write_metadata(tmp_path / "d", [])
    finally:
        os.umask(old)
    files = [*sorted((tmp_path / "m").iterdir()), *sorted((tmp_path / "d").iterdir())]
    assert len(files) >= 4
    for f in files:
        assert _mode(f) == 0o644, f


def test_cli_output_has_the_umask_mode(tiny_model_dir, tmp_path):
    out = tmp_path / "g.wav"
    r = jen1(
        "generate",
        "x",
        "--seconds",
        0.25,
        "--steps",
        1,
        "--model",
        tiny_model_dir,
        "--no-progress",
        "-o",
        out,
        prefix=("sh", "-c", 'umask 002 && exec "$@"', "sh"),
    )
    assert r.returncode == 0, r.stderr
    assert _mode(out) == 0o664


# --- output paths: one-line errors before the model loads -------------------------------------
# The model path does not exist: an output check that came after loading would report the model.


@pytest.fixture
def clip(tmp_path):
    p = tmp_path / "in.wav"
    sf.write(str(p), np.zeros((SR, 2), np.float32), SR)
    return p


def _commands(clip, out, missing_model):
    common = ["--model", missing_model, "--no-progress", "-o", out]
    return {
        "generate": ["generate", "x", "--seconds", 1, *common],
        "inpaint": ["inpaint", clip, "--start", 0.2, "--end", 0.5, *common],
        "continue": ["continue", clip, "--seconds", 1, *common],
        "reconstruct": ["reconstruct", clip, "--model", missing_model, "-o", out],
    }


CASES = {
    "missing folder": (lambda d: d / "nope" / "x.wav", [], "does not exist"),
    "parent is a file": (lambda d: d / "in.wav" / "x.wav", [], "is a file, not a folder"),
    "directory": (lambda d: d, [], "is a directory"),
    "directory --overwrite": (lambda d: d / "sub.wav", ["--overwrite"], "is a directory"),
    "under /proc": (lambda d: "/proc/jen1-out.wav", [], "/proc is a kernel file system"),
    "mp3": (lambda d: d / "x.mp3", [], "must be a .wav file"),
}


@pytest.mark.parametrize("command", ["generate", "inpaint", "continue", "reconstruct"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_output_path_is_one_line_before_any_work(tmp_path, clip, command, case, capsys):
    make, extra, words = CASES[case]
    (tmp_path / "sub.wav").mkdir()
    out = make(tmp_path)
    before = sorted(os.listdir(tmp_path))
    r = jen1_inprocess(capsys, *_commands(clip, out, tmp_path / "no-model")[command], *extra)
    one_line_error(r, words)
    assert sorted(os.listdir(tmp_path)) == before  # no probe or temporary file left


def _read_only_prefix() -> tuple[str, ...] | None:
    """How to run a command that mode bits apply to: root passes them, unless it runs in a user
    namespace of its own (``unshare -U``), where it holds no capabilities."""
    if os.geteuid() != 0:
        return ()
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-U", "true"], capture_output=True).returncode == 0:
        return (unshare, "-U")
    return None


def test_read_only_folder_is_refused_before_any_work(tmp_path, clip):
    prefix = _read_only_prefix()
    if prefix is None:
        pytest.skip("running as root without user namespaces: mode bits do not apply")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        commands = _commands(clip, ro / "x.wav", tmp_path / "no-model")
        for name in ("generate", "reconstruct"):
            one_line_error(jen1(*commands[name], prefix=prefix), "read-only")
    finally:
        ro.chmod(0o755)


def test_check_output_path_library_function(tmp_path):
    from jen1.fsutil import check_output_path

    ok = tmp_path / "ok.wav"
    assert check_output_path(ok) == ok
    ok.write_bytes(b"x")
    with pytest.raises(Jen1Error, match="already exists"):
        check_output_path(ok)
    assert check_output_path(ok, overwrite=True) == ok
    os.mkfifo(tmp_path / "fifo.wav")
    with pytest.raises(Jen1Error, match="not a regular file"):
        check_output_path(tmp_path / "fifo.wav", overwrite=True)
    with pytest.raises(Jen1Error, match="kernel file system"):
        check_output_path("/dev/null", suffixes=None, overwrite=True)
    assert check_output_path(tmp_path / "a.json", suffixes=(".json",))


def test_reconstruct_of_one_sample_is_an_error_and_writes_nothing(tmp_path, tiny_model_dir):
    one = tmp_path / "one.wav"
    sf.write(str(one), np.zeros((1, 2), np.float32), SR)
    out = tmp_path / "out.wav"
    r = jen1("reconstruct", one, "--model", tiny_model_dir, "-o", out)
    one_line_error(r, "needs at least 2048")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.wav"]
