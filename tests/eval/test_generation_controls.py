"""``jen1 eval generation --controls``: adherence with and without explicit controls."""

import importlib.util
import json

import pytest

from jen1.conditioning.controls import Controls
from jen1.eval.adherence import summarize_attributes
from jen1.eval.generation import explicit_controls_of
from tests.eval.test_generation import _corpus


def test_explicit_controls_come_from_the_known_attributes():
    got = explicit_controls_of({"bpm": 90, "key": "A#", "mode": "minor", "meter": "3/4"})
    assert got == Controls(bpm=90.0, key="A#", mode="minor", meter=(3, 4))
    assert explicit_controls_of({"bpm": 5000, "meter": "4/3", "style": "rock"}).empty


def test_tempo_rows_count_4_and_8_percent():
    rows = [{"bpm": 100.0, "bpm_est": e, "tempo": "x"} for e in (101.0, 106.0, 111.0, 50.0)]
    tempo = summarize_attributes(rows)["tempo"]
    assert tempo["accuracy_8pct"] == 0.5


needs_musicnn = pytest.mark.skipif(
    importlib.util.find_spec("musicnn") is None, reason="pip install --no-deps musicnn"
)


def _args(model, root, tmp_path, *extra):
    return [
        "eval", "generation", "--model", str(model), "--prompts",
        str(root / "test_prompts.jsonl"), "--reference", str(root), "--n", "2", "--seconds",
        "1", "--batch", "2", "--steps", "2", "--style-train", "0", "--no-progress", *extra,
    ]  # fmt: skip


@needs_musicnn
def test_both_reports_adherence_with_explicit_controls(tiny_controls_model_dir, tmp_path, capsys):
    from jen1.cli import main

    root = _corpus(tmp_path / "corpus")
    out = tmp_path / "r.json"
    args = _args(tiny_controls_model_dir, root, tmp_path, "--controls", "both", "--json", str(out))
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "with explicit controls: tempo within 4%" in text and "tempo within 8%" in text
    r = json.loads(out.read_text())
    assert r["controls"] == "both"
    assert r["attributes"]["generated_explicit"]["tempo"]["clips"] == 2


def test_a_model_without_controls_refuses_explicit_controls(tiny_model_dir, tmp_path, capsys):
    from jen1.cli import main

    root = _corpus(tmp_path / "corpus")
    assert main(_args(tiny_model_dir, root, tmp_path, "--controls", "explicit")) == 2
    assert "--controls: this model was trained without musical controls" in capsys.readouterr().err


def test_the_unseen_wordings_prompt_set_states_a_tempo_in_every_prompt():
    from pathlib import Path

    from jen1.eval.adherence import parse_attributes
    from jen1.eval.generation import read_prompts

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "prompts_unseen_wordings.txt"
    items = read_prompts(path)
    assert len(items) == 24 and all(p.attributes.get("bpm") for p in items)
    assert sum("chords" in p.attributes for p in items) == 4
    assert sum("key" in p.attributes for p in items) >= 18
    assert sum("meter" in p.attributes for p in items) >= 6
    got = parse_attributes("synthwave, 100-105 BPM, key: Em, in 6/8")
    assert (got["bpm"], got["key"], got["mode"], got["meter"]) == (102.5, "E", "minor", "6/8")
    assert "bpm" not in parse_attributes("Summer of 69 on a 909 drum machine")
