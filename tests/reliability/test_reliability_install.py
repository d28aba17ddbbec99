"""A plain ``pip install .`` (no soundfonts synth, no musicnn, no gradio): every command either
works or says in one line what to install. The missing packages are simulated: ``None`` in
``sys.modules`` makes ``import`` fail as if the package were not installed."""

from __future__ import annotations

import sys

import pytest
from reliability_helpers import jen1_inprocess, one_line_error

OPTIONAL = ("tinysoundfont", "musicnn", "gradio")


@pytest.fixture
def plain_install(monkeypatch):
    for name in OPTIONAL:
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, mod)
        monkeypatch.setitem(sys.modules, name, None)


def test_every_command_parses_without_the_optional_packages(plain_install, capsys):
    from jen1.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {"generate", "data", "train", "serve", "eval", "info"} <= set(sub.choices)
    for name in sub.choices:
        r = jen1_inprocess(capsys, name, "--help")
        assert r.returncode == 0, (name, r.stderr)
    assert jen1_inprocess(capsys, "info").returncode == 0


def test_data_synth_says_what_to_install(plain_install, capsys, tmp_path):
    r = jen1_inprocess(capsys, "data", "synth", tmp_path / "corpus", "--clips", 2)
    one_line_error(r, "pip install --no-deps tinysoundfont")
    assert not (tmp_path / "corpus").exists()  # said before any work


def test_eval_generation_says_what_to_install_before_generating(plain_install, capsys, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("calm piano\n")
    r = jen1_inprocess(
        capsys,
        "eval",
        "generation",
        "--prompts",
        prompts,
        "--reference",
        tmp_path,
        "--model",
        tmp_path / "no-model",
    )
    one_line_error(r, "pip install --no-deps musicnn")


def test_serve_says_what_to_install(plain_install, capsys):
    r = jen1_inprocess(capsys, "serve", "--port", 0)
    one_line_error(r, "pip install 'jen1[web]'")


def test_the_readme_names_the_extras():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    readme = (root / "README.md").read_text()
    for name in extras:
        assert f"jen1[{name}]" in readme, name
    for name in ("tinysoundfont", "musicnn"):
        assert f"pip install --no-deps {name}" in readme, name
