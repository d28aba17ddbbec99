"""Running the real ``jen1`` command line in a subprocess for the reliability tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout first on the path, one thread."""
    return dict(
        os.environ,
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        **extra,
    )


def jen1(*args, prefix: tuple[str, ...] = (), timeout: float = 300, **kw):
    """``python -m jen1.cli ARGS`` -> CompletedProcess (text, captured)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "jen1.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=kw.pop("env", None) or env(),
        **kw,
    )


def one_line_error(r: subprocess.CompletedProcess, words: str) -> None:
    """Assert exit status 2 and a single ``error: ...`` line on stderr containing ``words``."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert words in lines[0], lines[0]


def jen1_inprocess(capsys, *args) -> subprocess.CompletedProcess:
    """``jen1.cli.main(ARGS)`` in this process (fast: torch is already imported), for errors
    raised before any model loads -> CompletedProcess with the exit code and captured text."""
    from jen1.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse errors
        code = e.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)
