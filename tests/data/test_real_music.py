"""The real-music corpus recipe on tiny fake Debian packages (one keeps its music in a zip)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
import soundfile as sf

from jen1.data.metadata import read_metadata
from jen1.data.mix import mix_folders
from jen1.data.real_music import (
    MusicPackage,
    assign_splits,
    build_real_corpus,
    licence_for,
    parse_dep5,
    title_words,
)
from jen1.errors import Jen1Error

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: someone
License: GPL-2+

Files: data/music/battle_theme.ogg
 data/music/other.ogg
Copyright: a composer
License: CC-BY-SA-3.0
 The licence text.
"""


def _ogg(seconds: float, freq: float, rate: int = 44100) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    wav = 0.3 * np.stack([np.sin(2 * np.pi * freq * t), np.sin(2 * np.pi * freq * 1.5 * t)], 1)
    buf = io.BytesIO()
    sf.write(buf, wav.astype(np.float32), rate, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def _deb(tmp, name: str, files: dict[str, bytes]):
    root = tmp / f"{name}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n"
    )
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    cache = tmp / "debs"
    cache.mkdir(exist_ok=True)
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "--build", str(root), str(cache / f"{name}_1.0_all.deb")],
        check=True, capture_output=True,
    )
    return cache


def test_recipe_on_fake_packages(tmp_path):
    music = "usr/share/games/foo/data/music/"
    _deb(tmp_path, "foo", {
        music + "battle_theme.ogg": _ogg(12.0, 220),
        music + "Celtic_Pride.ogg": _ogg(6.0, 330),
        music + "track03.ogg": _ogg(5.0, 440),
        music + "readme.txt": b"not music",
        "usr/share/doc/foo/copyright": COPYRIGHT.encode(),
    })
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("music/underwater.ogg", _ogg(4.0, 261))
        zf.writestr("sounds/explosion.ogg", _ogg(2.0, 100))  # not under music/: left out
    cache = _deb(tmp_path, "bar", {"usr/share/games/bar/base/pack.pk3": z.getvalue()})
    pkgs = (
        MusicPackage("foo", (music,), "GPL-2+", "game music"),
        MusicPackage("bar", ("music/",), "CC0", "ambient music",
                     archive="usr/share/games/bar/base/pack.pk3"),
    )
    out = tmp_path / "real"
    summary = build_real_corpus(out, cache=cache, packages=pkgs, segment_seconds=4.0,
                                download=False, progress=False)
    manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    by_file = {m["attributes"]["file"]: m for m in manifest}
    assert set(by_file) == {
        music + "battle_theme.ogg", music + "Celtic_Pride.ogg", music + "track03.ogg",
        "usr/share/games/bar/base/music/underwater.ogg",
    }
    # licence: the specific stanza of the copyright file, else the package table's licence
    assert by_file[music + "battle_theme.ogg"]["attributes"]["licence"] == "CC-BY-SA-3.0"
    assert by_file[music + "battle_theme.ogg"]["attributes"]["licence_from"] == "copyright"
    assert by_file[music + "track03.ogg"]["attributes"]["licence"] == "GPL-2+"
    zipped = by_file["usr/share/games/bar/base/music/underwater.ogg"]
    assert zipped["attributes"]["licence"] == "CC0"
    assert by_file[music + "Celtic_Pride.ogg"]["caption"] == "game music, celtic pride"
    assert abs(by_file[music + "battle_theme.ogg"]["attributes"]["duration"] - 12.0) < 0.05
    # segments: 48 kHz, each in its track's split and carrying package and licence
    segs = read_metadata(out / "metadata.jsonl")
    split_of = {f"file:{m['path']}": m["split"] for m in manifest}
    assert len(segs) >= 6
    for s in segs:
        assert s["split"] == split_of[s["attributes"]["source"]]
        assert s["attributes"]["package"] in ("foo", "bar") and s["attributes"]["licence"]
        assert sf.info(str(out / s["path"])).samplerate == 48000
    assert summary["test"]["tracks"] >= 1  # foo has three tracks: one goes to test
    # a second run reuses the extracted sources
    (cache / "foo_1.0_all.deb").unlink()
    build_real_corpus(tmp_path / "real2", cache=cache, src_dir=tmp_path / "real-sources",
                      packages=pkgs, segment_seconds=4.0, download=False, progress=False)


def test_sources_inside_the_output_are_refused(tmp_path):
    with pytest.raises(Jen1Error, match="outside"):
        build_real_corpus(tmp_path / "o", src_dir=tmp_path / "o" / "src", download=False,
                          progress=False)


def test_dep5_last_match_wins_and_star_is_ignored():
    stanzas = parse_dep5(COPYRIGHT + "\nFiles: */other.ogg\nLicense: CC0\n")
    assert licence_for("usr/share/x/data/music/other.ogg", stanzas, "PD") == ("CC0", "copyright")
    assert licence_for("usr/share/x/data/music/new.ogg", stanzas, "PD") == ("PD", "package")


def test_splits_by_track_hold_shares():
    d = {f"t{i}.ogg": 60.0 for i in range(40)}
    s = assign_splits(d, test_share=0.1, val_share=0.05)
    assert sum(v == "test" for v in s.values()) == 4
    assert sum(v == "val" for v in s.values()) == 2
    assert assign_splits({"a": 1.0, "b": 2.0}) == {"a": "train", "b": "train"}


@pytest.mark.parametrize(
    "path, words",
    [("x/Celtic_Pride.ogg", "celtic pride"), ("x/battle_theme.ogg", "battle"),
     ("x/track03.ogg", ""), ("songs/chaos_god/song.ogg", "chaos god"),
     ("x/AlongTheNile.ogg", "along nile")],
)
def test_title_words(path, words):
    assert title_words(path) == words


def test_mix_lists_train_clips_repeated(tmp_path):
    for name, n in (("a", 3), ("b", 2)):
        d = tmp_path / name
        (d / "audio").mkdir(parents=True)
        rows = []
        for i in range(n):
            rows.append({"path": f"audio/{i}.flac", "seconds": 1.0, "caption": name,
                         "split": "train" if i else "test",
                         "attributes": {"source": f"{name}{i}", "composition_id": f"{name}{i}"}})
        (d / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = mix_folders(tmp_path / "m", [(tmp_path / "a", 1), (tmp_path / "b", 3)])
    recs = read_metadata(tmp_path / "m" / "metadata.jsonl")
    assert counts[str((tmp_path / "b").resolve())] == {"train": 3, "val": 0, "test": 1}
    assert sum(r["caption"] == "b" and r["split"] == "train" for r in recs) == 3
    assert (tmp_path / "m" / "src1" / "audio").is_dir()
    assert all(r["path"].startswith(("src0/", "src1/")) for r in recs)
    (tmp_path / "stray").mkdir()
    (tmp_path / "stray" / "x.txt").write_text("keep")
    with pytest.raises(Jen1Error, match="not a mix folder"):
        mix_folders(tmp_path / "stray", [(tmp_path / "a", 1)])
