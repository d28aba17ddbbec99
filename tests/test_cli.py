import json
import subprocess
import sys

from jen1 import __version__
from jen1.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert __version__ in capsys.readouterr().out


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["torch"].startswith("2.")
    assert "minilm" in info["text_encoders"]
    assert isinstance(info["default_model_present"], bool)
    assert isinstance(info["default_model_fast"], bool)
    assert isinstance(info["cpu_packed_weights"], bool)


def test_bad_arguments_one_line_exit_2():
    r = subprocess.run(
        [sys.executable, "-m", "jen1.cli", "nosuchcommand"], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr


COMMANDS = (
    "generate", "inpaint", "continue", "remix", "data", "train", "export", "reconstruct", "eval",
    "serve", "info",
)  # fmt: skip


def test_help_lists_every_command():
    r = subprocess.run([sys.executable, "-m", "jen1.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    listed = [line.split()[0] for line in lines if line.startswith("    ") and line[4] != " "]
    assert sorted(listed) == sorted(COMMANDS), listed


def test_a_missing_command_module_is_an_import_error(monkeypatch):
    import pytest

    from jen1 import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "jen1.commands.nosuch"))
    with pytest.raises(ModuleNotFoundError, match="jen1.commands.nosuch"):
        cli.build_parser()
