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
    assert isinstance(info["cpu_packed_weights"], bool)


def test_bad_arguments_one_line_exit_2():
    r = subprocess.run(
        [sys.executable, "-m", "jen1.cli", "nosuchcommand"], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr


def test_help_lists_commands():
    r = subprocess.run([sys.executable, "-m", "jen1.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "info" in r.stdout
