"""jen1 data caption: tempo in the captions, existing captions kept, errors, prepare reads it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jen1.cli import main
from jen1.data.autocaption import compose_caption, instrument_family, name_words, rng_for
from jen1.data.caption_folder import caption_folder
from jen1.data.metadata import read_metadata
from jen1.data.prepare import prepare_folder

TINY_SF2 = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


@pytest.fixture(scope="module")
def tagger():
    from jen1.eval.musicnn import MusicnnMTT

    return MusicnnMTT.from_package()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three composed 6 s clips with their true tempo in the metadata."""
    from jen1.synth.corpus import synthesize_corpus

    if not TINY_SF2.exists():
        pytest.skip("TimGM6mb.sf2 not installed")
    out = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(
        out, clips=3, seconds=6.0, seed=0, soundfont=TINY_SF2, progress=False, music21_share=0
    )
    return out


def _tone(seconds: float = 4.0, sr: int = 48000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2, axis=1)


def test_captions_carry_the_true_tempo(corpus, tagger, tmp_path):
    out = tmp_path / "captions.jsonl"
    s = caption_folder(corpus / "audio", out, progress=False, tagger=tagger)
    assert s.captioned == 3 and not s.failed
    truth = {r["path"]: r["attributes"] for r in read_metadata(corpus / "metadata.jsonl")}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        bpm = truth[f"audio/{row['path']}"]["bpm"]
        est = row["attributes"]["bpm"]
        assert abs(est - bpm) <= 0.08 * bpm, (row["path"], est, bpm)
        assert str(round(est)) in row["caption"]
        assert {"key", "mode", "lufs", "tags", "families", "instruments"} <= set(row["attributes"])
    # at least one true instrument family is heard in each clip
    for row in rows:
        true = {instrument_family(i) for i in truth[f"audio/{row['path']}"]["instruments"]}
        assert true & set(row["attributes"]["families"]), row


def test_existing_captions_untouched_without_overwrite(tmp_path, tagger):
    d = tmp_path / "music"
    d.mkdir()
    for name in ("side.wav", "row.wav", "csv.wav", "new.wav"):
        sf.write(d / name, _tone(), 48000)
    (d / "side.txt").write_text("my own sidecar caption\n")
    row_line = json.dumps({"path": "row.wav", "caption": "my row caption", "extra": [1, 2]})
    (d / "metadata.jsonl").write_text(row_line + "\n")
    (d / "metadata.csv").write_text("path,caption\ncsv.wav,my csv caption\n")
    before = {p.name: p.read_bytes() for p in d.iterdir()}

    s = caption_folder(d, progress=False, tagger=tagger)
    assert (s.captioned, s.kept_existing, s.replaced) == (1, 3, 0)
    lines = (d / "metadata.jsonl").read_text().splitlines()
    assert lines[0] == row_line  # the user's row, byte for byte
    assert [json.loads(x)["path"] for x in lines] == ["row.wav", "new.wav"]
    for name in ("side.txt", "metadata.csv", "side.wav"):
        assert (d / name).read_bytes() == before[name]
    umask = os.umask(0)
    os.umask(umask)
    assert (d / "metadata.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask

    again = caption_folder(d, progress=False, tagger=tagger)  # a re-run captions nothing
    assert (again.captioned, again.kept_existing) == (0, 4)

    s = caption_folder(d, overwrite=True, progress=False, tagger=tagger)
    assert (s.captioned, s.replaced) == (4, 4)
    rows = [json.loads(x) for x in (d / "metadata.jsonl").read_text().splitlines()]
    assert sorted(r["path"] for r in rows) == ["csv.wav", "new.wav", "row.wav", "side.wav"]
    assert all(r["captioned_by"] == "jen1 data caption" for r in rows)
    for name in ("side.txt", "metadata.csv"):  # never rewritten, even with overwrite
        assert (d / name).read_bytes() == before[name]


def test_prepare_reads_the_captioned_folder(tmp_path, tagger):
    d = tmp_path / "Celtic_Pride"
    d.mkdir()
    sf.write(d / "02-along-the-nile.wav", _tone(6.0), 48000)
    with sf.SoundFile(d / "tagged.wav", "w", 48000, 2) as f:
        f.title = "Harbour Lights"
        f.write(_tone(6.0))
    caption_folder(tmp_path, progress=False, tagger=tagger)
    written = {
        r["path"]: r
        for r in map(json.loads, (tmp_path / "metadata.jsonl").read_text().split("\n")[:-1])
    }
    assert '"Along the Nile"' in written["Celtic_Pride/02-along-the-nile.wav"]["caption"]
    assert '"Harbour Lights"' in written["Celtic_Pride/tagged.wav"]["caption"]
    assert '"Celtic Pride"' in written["Celtic_Pride/tagged.wav"]["caption"]
    s = prepare_folder(tmp_path, tmp_path / "prepared", progress=False)
    assert (s.files_found, s.files_kept, s.skipped) == (2, 2, [])
    recs = read_metadata(tmp_path / "prepared" / "metadata.jsonl")
    by_source = {r["attributes"]["source"]: r["caption"] for r in recs}
    assert by_source == {f"file:{p}": r["caption"] for p, r in written.items()}
    for r in recs:  # the estimated labels travel with each segment, apart from true labels
        est = written[r["attributes"]["source"][len("file:") :]]["attributes"]
        assert r["attributes"]["estimated"]["bpm"] == est["bpm"]
        assert "bpm" not in r["attributes"] and "lufs" not in r["attributes"]["estimated"]


def test_cli_empty_folder_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no audio here")
    assert main(["data", "caption", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no audio files in") and err.count("\n") == 1
    assert not (tmp_path / "metadata.jsonl").exists()
    assert main(["data", "caption", str(tmp_path / "missing")]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_cli_malformed_table_is_refused_before_work(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", _tone(), 48000)
    (tmp_path / "metadata.jsonl").write_text("{not json\n")
    assert main(["data", "caption", str(tmp_path)]) == 2
    assert "metadata.jsonl:1: invalid JSON" in capsys.readouterr().err
    assert (tmp_path / "metadata.jsonl").read_text() == "{not json\n"


def test_name_words_and_varied_wording():
    assert name_words("Celtic_Pride/02-along-the-nile.flac") == {
        "file": "along the nile",
        "folders": ["celtic pride"],
    }
    assert name_words("battle_theme.wav")["file"] == "battle theme"
    for junk in ("track_07.wav", "01.mp3", "Final Mix v2.wav", "untitled_2023-05-01.flac"):
        assert name_words(junk)["file"] is None, junk
    attrs = {
        "bpm": 121.6,
        "key": "D",
        "mode": "minor",
        "key_correlation": 0.8,
        "instruments": ["guitar", "drums"],
        "genres": ["rock"],
        "dynamics": None,
    }
    caps = {compose_caption(attrs, rng_for(f"f{i}.wav")) for i in range(30)}
    assert len(caps) > 10 and all("122" in c for c in caps)
    assert all("D minor" in c for c in caps)
    from jen1.conditioning.controls import parse_prompt

    for c in caps:  # the controls parser reads the captions back
        got = parse_prompt(c)
        assert (got.bpm, got.key, got.mode) == (122, "D", "minor"), c
    attrs["key_correlation"] = 0.3  # a doubtful key is not said
    assert not any("D minor" in compose_caption(attrs, rng_for(f"f{i}")) for i in range(10))


def test_bench_captions_tiny(corpus, tmp_path, capsys):
    import sys

    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        import bench_captions
    finally:
        sys.path.remove(str(bench))
    out = tmp_path / "captions.json"
    res = bench_captions.main(["--data", str(corpus), "--json", str(out), "--no-progress"])
    assert res["clips"] == 3 and res["tempo"]["within_8pct"] == 1.0
    saved = json.loads(out.read_text())
    assert set(saved["families"]) >= {"drums", "guitar", "keys", "micro"}
    assert "| tempo within 4% |" in capsys.readouterr().out


def test_long_files_are_read_in_the_middle_only(tmp_path):
    from jen1.data.caption_folder import load_excerpt

    sr = 44100
    x = np.zeros(6 * sr)
    x[2 * sr : 4 * sr] = 0.5  # only the middle two seconds are loud
    sf.write(tmp_path / "long.wav", x, sr)
    wav, seconds = load_excerpt(tmp_path / "long.wav", max_seconds=2.0)
    assert wav.shape == (2, 96000) and seconds == pytest.approx(6.0)
    assert np.abs(wav[:, 1000:-1000]).min() > 0.4


def test_an_interrupted_run_keeps_what_it_finished(tmp_path, tagger):
    for name in ("a.wav", "b.wav", "c.wav"):
        sf.write(tmp_path / name, _tone(), 48000)

    class Interrupting:
        calls = 0

        def embed(self, *args, **kwargs):
            Interrupting.calls += 1
            if Interrupting.calls == 2:
                raise KeyboardInterrupt
            return tagger.embed(*args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        caption_folder(tmp_path, progress=False, tagger=Interrupting())
    rows = (tmp_path / "metadata.jsonl").read_text().splitlines()
    assert [json.loads(r)["path"] for r in rows] == ["a.wav"]
    s = caption_folder(tmp_path, progress=False, tagger=tagger)  # the re-run goes on
    assert (s.captioned, s.kept_existing) == (2, 1)


def test_enrich_adds_what_is_heard_to_a_corpus_without_labels(corpus, tagger, tmp_path):
    """A real-music-like corpus: captions that name the style only, no tempo labels. --enrich
    keeps each caption, adds the tempo it hears (close to the truth) and stores the estimates
    where `jen1 data encode` takes control labels from; a row with labels is left alone."""
    import shutil

    from jen1.data.caption_folder import enrich_corpus
    from jen1.data.control_labels import record_controls

    dst = tmp_path / "corpus"
    shutil.copytree(corpus, dst)
    rows = read_metadata(dst / "metadata.jsonl")
    truth = {r["path"]: r["attributes"]["bpm"] for r in rows}
    for r in rows[:2]:  # strip the labels: like the real-music corpus
        r["caption"] = "sci-fi orchestral soundtrack, menu theme"
        r["attributes"] = {"package": "p", "real": True}
    rows[0]["split"] = "test"
    (dst / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (dst / "test_prompts.jsonl").write_text("")  # stale: enrich must rewrite it
    kept = (dst / "metadata.jsonl").read_text().splitlines()[2]

    s = enrich_corpus(dst, progress=False, tagger=tagger)
    assert (s.captioned, s.kept_existing, s.failed) == (2, 1, [])
    lines = (dst / "metadata.jsonl").read_text().splitlines()
    assert lines[2] == kept
    for line in lines[:2]:
        row = json.loads(line)
        est = row["attributes"]["estimated"]
        assert abs(est["bpm"] - truth[row["path"]]) <= 0.08 * truth[row["path"]]
        assert row["caption"].startswith("sci-fi orchestral soundtrack, menu theme, ")
        assert not row["caption"][len("sci-fi orchestral soundtrack, menu theme, ")].isupper()
        assert str(round(est["bpm"])) in row["caption"]
        assert record_controls(row)["bpm"] == est["bpm"]  # what the latent cache will carry
        assert row["attributes"]["tags"] and row["attributes"]["package"] == "p"
    test_rows = [json.loads(x) for x in lines if json.loads(x)["split"] == "test"]
    prompts = [json.loads(x) for x in (dst / "test_prompts.jsonl").read_text().splitlines()]
    assert [p["caption"] for p in prompts] == [r["caption"] for r in test_rows]
    assert "estimated" in prompts[0]["attributes"]  # the enriched test clip's caption
    again = enrich_corpus(dst, progress=False, tagger=tagger)  # done rows are not redone
    assert again.captioned == 0 and (dst / "metadata.jsonl").read_text().splitlines() == lines


def test_enrich_cli_refuses_out_and_a_folder_without_metadata(tmp_path, capsys):
    assert main(["data", "caption", str(tmp_path), "--enrich"]) != 0
    assert "no metadata.jsonl" in capsys.readouterr().err
    assert main(["data", "caption", str(tmp_path), "--enrich", "--out", "x.jsonl"]) != 0
    assert "--out and --overwrite do not apply" in capsys.readouterr().err
