"""Prompt/reference reading and a smoke test of ``jen1 eval generation`` on the tiny model."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from tests.eval.eval_signals import chord_progression, click_track
from jen1.errors import Jen1Error
from jen1.eval.generation import PromptItem, pick_prompts, read_prompts, read_reference


def _corpus(root, seconds=1.0):
    """A tiny corpus: 4 test and 4 train clips of two styles, with captions and attributes."""
    from jen1.audio import save_audio

    rows = []
    for i in range(8):
        style, bpm, key, mode = (("rock", 120, "A", "minor"), ("waltz", 90, "F", "major"))[i % 2]
        x = 0.5 * click_track(bpm, seconds) + chord_progression(key, mode, seconds)
        path = f"audio/{i:03d}.wav"
        save_audio(root / path, np.stack([x, x]))
        rows.append(
            {
                "path": path,
                "seconds": seconds,
                "split": "test" if i < 4 else "train",
                "caption": f"A {style} tune with drums and piano in {key} {mode} at {bpm} BPM",
                "attributes": {
                    "style": style,
                    "bpm": bpm,
                    "key": key,
                    "mode": mode,
                    "instruments": ["piano", "drums"],
                    "source": "test",
                    "composition_id": f"c{i}",
                },
            }
        )
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "test_prompts.jsonl").write_text(
        "".join(
            json.dumps({"caption": r["caption"], "attributes": r["attributes"]}) + "\n"
            for r in rows
            if r["split"] == "test"
        )
    )
    return root


def test_read_prompts_text_and_jsonl(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("# comment\nslow piano ballad in D minor at 70 BPM\n\nfunky bass groove\n")
    items = read_prompts(txt)
    assert [p.text for p in items] == [
        "slow piano ballad in D minor at 70 BPM",
        "funky bass groove",
    ]
    assert items[0].attributes == {
        "bpm": 70.0,
        "key": "D",
        "mode": "minor",
        "style": "piano ballad",
    }
    js = tmp_path / "p.jsonl"
    js.write_text(
        json.dumps(
            {
                "caption": "x",
                "attributes": {"bpm": 100, "key": "Eb", "mode": "major", "source": "s"},
            }
        )
        + "\n"
    )
    (item,) = read_prompts(js)
    assert item.attributes == {"bpm": 100, "key": "D#", "mode": "major"}
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(Jen1Error, match="no prompts"):
        read_prompts(tmp_path / "empty.txt")
    with pytest.raises(Jen1Error, match="no prompt file"):
        read_prompts(tmp_path / "missing.txt")


def test_an_enriched_real_clip_is_measured_on_its_estimated_tempo_and_key(tmp_path):
    js = tmp_path / "p.jsonl"
    real = {"package": "p", "estimated": {"bpm": 88.0, "key": "E", "mode": "major"}}
    labelled = {"bpm": 120, "key": "A", "mode": "minor", "estimated": {"bpm": 60.0}}
    rows = [{"caption": "orchestral, around 88 bpm in E major", "attributes": real},
            {"caption": "a labelled clip", "attributes": labelled}]  # fmt: skip
    js.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first, second = read_prompts(js)
    assert first.attributes == {"bpm": 88.0, "key": "E", "mode": "major"}
    assert second.attributes == {"bpm": 120, "key": "A", "mode": "minor"}  # its own labels win


def test_pick_prompts_spreads_over_a_long_list_and_cycles_a_short_one():
    items = [PromptItem(f"p{i}", {}) for i in range(10)]
    assert [p.text for p in pick_prompts(items, 4)] == ["p0", "p2", "p5", "p7"]
    assert [p.text for p in pick_prompts(items[:3], 5)] == ["p0", "p1", "p2", "p0", "p1"]
    assert pick_prompts(items, 10) == items


def test_read_reference_corpus_and_folder(tmp_path):
    root = _corpus(tmp_path / "corpus")
    test = read_reference(root)
    assert len(test) == 4 and test[0].attributes["bpm"] == 120 and test[0].caption
    assert len(read_reference(root, "train")) == 4
    folder = tmp_path / "folder"
    folder.mkdir()
    for c in test[:2]:
        (folder / c.path.name).write_bytes(c.path.read_bytes())
    (folder / "000.txt").write_text("a rock tune")
    clips = read_reference(folder)
    assert [c.caption for c in clips] == ["a rock tune", None]
    with pytest.raises(Jen1Error, match="no val clips"):
        read_reference(root, "val")


@pytest.mark.skipif(
    importlib.util.find_spec("musicnn") is None, reason="pip install --no-deps musicnn"
)
def test_cli_smoke(tiny_model_dir, tmp_path, capsys):
    from jen1.cli import main

    root = _corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            "generation",
            "--model",
            str(tiny_model_dir),
            "--prompts",
            str(root / "test_prompts.jsonl"),
            "--reference",
            str(root),
            "--reference2",
            str(root),
            "--n",
            "2",
            "--seconds",
            "1",
            "--batch",
            "2",
            "--steps",
            "2",
            "--style-train",
            "4",
            "--json",
            str(tmp_path / "r.json"),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "FAD-musicnn vs corpus/test" in text and "tempo within 4%" in text
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["fad"]["metric"] == "FAD-musicnn"
    assert r["fad"]["reference"]["value"] >= 0 and r["fad"]["reference"]["n_gen"] == 2
    assert r["fad"]["floor_split_half"]["clips_per_half"] == 2
    assert "reference2" in r["fad"]
    assert r["attributes"]["reference"]["tempo"]["clips"] == 4
    assert r["attributes"]["generated"]["key"]["clips"] == 2
    assert r["style_classifier"]["train_clips"] == 4 and r["style_classifier"]["heldout_clips"] == 4
    assert len(r["per_clip"]) == 2 and len(r["per_clip"][0]["top_tags"]) == 5
    assert (out / "spectrograms.png").stat().st_size > 1000 and (out / "metrics.png").exists()
    assert (out / "style_classifier.json").exists()


def test_cli_rejects_bad_n(tiny_model_dir, tmp_path, capsys):
    from jen1.cli import main

    root = _corpus(tmp_path / "corpus")
    code = main(
        [
            "eval",
            "generation",
            "--model",
            str(tiny_model_dir),
            "--prompts",
            str(root / "test_prompts.jsonl"),
            "--reference",
            str(root),
            "--n",
            "0",
        ]
    )
    assert code == 2 and "--n must be at least 1" in capsys.readouterr().err
