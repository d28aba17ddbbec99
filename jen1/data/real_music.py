"""A corpus of real recorded music from Debian packages whose licences were checked.

Only the packages in :data:`PACKAGES` are used (``shared/real-music.md`` lists how they were
cleared): game soundtracks and a few songs, DFSG-free, licensed GPL-2/3, CC-BY(-SA), CC0 or public
domain. The recipe, :func:`build_real_corpus`:

1. ``apt-get download`` each package into a cache folder (skipped when the .deb is there);
2. extract its music files from the .deb's data tar, including the music inside zip / pk3
   archives, into ``SRC/<package>/...``;
3. read each file's licence from the package's DEP-5 copyright file (the last ``Files:`` stanza
   whose pattern matches the file, as DEP-5 says), else the package's licence from the table;
4. write ``SRC/metadata.jsonl``: one row per track with a caption (the package's style, the
   track's words), the split (by track, per package: never segments of one track on two sides)
   and the attributes (package, file, licence, duration);
5. cut the tracks into 48 kHz stereo segments with :func:`jen1.data.prepare.prepare_folder`.

The audio is never part of the repository; the recipe rebuilds it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from jen1.errors import Jen1Error

MUSIC_EXTENSIONS = (".ogg", ".opus", ".mp3", ".flac", ".wav")


@dataclass(frozen=True)
class MusicPackage:
    """Where a package keeps its music and what it sounds like.

    Attributes:
        name: Debian package name.
        paths: folders (or glob patterns) inside the package's file tree holding the music.
        archive: a zip/pk3 inside the package holding the music (then ``paths`` are member
            prefixes inside it).
        licence: the licence to record when the copyright file names none for a file.
        style: words for captions (what the music is).
        include: file-name glob the tracks must match (e.g. ``song.ogg`` for song folders).
    """

    name: str
    paths: tuple[str, ...]
    licence: str
    style: str
    archive: str | None = None
    include: str = "*"


PACKAGES: tuple[MusicPackage, ...] = (
    MusicPackage("warzone2100-music", ("usr/share/games/warzone2100/music/",), "GPL-2+",
                 "sci-fi orchestral electronic soundtrack"),
    MusicPackage("ufoai-music", ("music/",), "GPL-2+", "sci-fi orchestral and electronic cue",
                 archive="usr/share/games/ufoai/base/0music.pk3"),
    MusicPackage("0ad-data", ("audio/music/",), "CC-BY-SA-3.0",
                 "world orchestral music with ethnic instruments",
                 archive="usr/share/games/0ad/mods/public/public.zip"),
    MusicPackage("planetblupi-music-ogg", ("usr/share/planetblupi/music/",), "GPL-3+",
                 "cheerful children's game music"),
    MusicPackage("naev-data", ("usr/share/naev/dat/snd/music/",), "GPL-3+",
                 "space opera soundtrack, ambient, electronic and orchestral"),
    MusicPackage("supertux-data", ("usr/share/games/supertux2/music/",), "GPL-2+",
                 "chiptune and electronic game music"),
    MusicPackage("widelands-data", ("usr/share/games/widelands/data/music/",), "GPL-2+",
                 "medieval pastoral orchestral music"),
    MusicPackage("hedgewars-data", ("usr/share/games/hedgewars/Data/Music/",), "GPL-2",
                 "playful themed game music"),
    MusicPackage("nexuiz-music", ("sound/cdtracks/",), "GPL-2+",
                 "electronic techno industrial music",
                 archive="usr/share/games/nexuiz/data/music.pk3"),
    MusicPackage("berusky2-data", ("usr/share/games/berusky2/music/",), "GPL-2+",
                 "electronic ambient music"),
    MusicPackage("singularity-music", ("usr/share/games/singularity/music/",), "CC-BY-SA-3.0",
                 "electronic ambient music"),
    MusicPackage("supertuxkart-data", ("usr/share/games/supertuxkart/data/music/",),
                 "CC-BY-SA-3.0", "upbeat electronic racing game music"),
    MusicPackage("drascula-music", ("usr/share/scummvm/drascula/audio/",), "Drascula",
                 "adventure game music"),
    MusicPackage("flare-game", ("usr/share/games/flare/mods/fantasycore/music/",),
                 "CC-BY-SA-3.0", "fantasy orchestral music"),
    MusicPackage("redeclipse-data", ("usr/share/games/redeclipse/data/sounds/music/",),
                 "CC-BY-SA-3.0", "electronic rock music"),
    MusicPackage("pushover-data", ("usr/share/pushover/themes/",), "GPL-3+",
                 "themed puzzle game music"),
    MusicPackage("megaglest-data", ("usr/share/games/megaglest/data/core/menu/music/",
                                    "usr/share/games/megaglest/techs/megapack/factions/*/music/"),
                 "CC-BY-SA-3.0", "epic strategy game music"),
    MusicPackage("openclonk-data", ("usr/share/games/openclonk/Music.ocg/",), "CC-BY-3.0",
                 "game music"),
    MusicPackage("fretsonfire-songs-muldjord", ("usr/share/games/fretsonfire/data/songs/",),
                 "CC-BY-SA-3.0", "heavy metal song with guitars and drums", include="song.ogg"),
    MusicPackage("fretsonfire-songs-sectoid", ("usr/share/games/fretsonfire/data/songs/",),
                 "CC-BY-SA-3.0", "rock song with guitars and drums", include="song.ogg"),
)

# Words in file names that describe nothing about the music.
_JUNK_WORDS = {
    "ogg", "track", "music", "song", "theme", "loop", "v", "mix", "final", "the", "of", "and",
    "a", "an", "ver", "version", "edit", "remaster", "fast", "full", "short", "long", "new",
}


def package_by_name(name: str) -> MusicPackage:
    for p in PACKAGES:
        if p.name == name:
            return p
    raise Jen1Error(
        f"'{name}' is not one of the cleared packages: {', '.join(p.name for p in PACKAGES)}"
    )


# --- download and extraction ---------------------------------------------------------------


def download_deb(pkg: MusicPackage, cache: Path) -> Path:
    """The package's .deb in ``cache``: found there, or fetched with ``apt-get download``."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{pkg.name}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise Jen1Error(f"apt-get not found: put {pkg.name}_*.deb into {cache} yourself")
    r = subprocess.run(["apt-get", "download", pkg.name], cwd=cache, capture_output=True,
                       text=True)
    found = sorted(cache.glob(f"{pkg.name}_*.deb"))
    if r.returncode != 0 or not found:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise Jen1Error(f"apt-get download {pkg.name} failed: {last}")
    return found[-1]


def _data_tar(deb: Path) -> tarfile.TarFile:
    """The .deb's file tree as a streaming tar (``dpkg-deb --fsys-tarfile``)."""
    if shutil.which("dpkg-deb") is None:
        raise Jen1Error("dpkg-deb not found (install dpkg) to unpack Debian packages")
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    return tarfile.open(fileobj=proc.stdout, mode="r|")


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    for pre in prefixes:
        if "*" in pre:
            depth = pre.rstrip("/").count("/") + 1
            head = "/".join(path.split("/")[:depth]) + "/"
            if fnmatch.fnmatch(head, pre if pre.endswith("/") else pre + "/"):
                return True
        elif path.startswith(pre):
            return True
    return False


def _is_track(path: str, pkg: MusicPackage) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.lower().endswith(MUSIC_EXTENSIONS) and fnmatch.fnmatch(name, pkg.include)


def extract_package(deb: Path, pkg: MusicPackage, out_dir: Path) -> tuple[list[str], str]:
    """Extract ``pkg``'s tracks from ``deb`` into ``out_dir`` (keeping their package paths).

    Returns:
        (tracks, copyright): tracks as package-tree paths (a zip member as
        ``ZIP_DIR/member``), and the text of the package's copyright file ("" if none).
    """
    copyright_name = f"usr/share/doc/{pkg.name}/copyright"
    tracks: list[str] = []
    copyright_text = ""
    with _data_tar(deb) as tar:
        for m in tar:
            name = m.name.removeprefix("./")
            if not m.isfile():
                continue
            if name == copyright_name:
                copyright_text = tar.extractfile(m).read().decode("utf-8", "replace")
            elif pkg.archive is not None and name == pkg.archive:
                data = tar.extractfile(m).read()
                base = pkg.archive.rsplit("/", 1)[0]
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    for member in z.namelist():
                        if _under(member, pkg.paths) and _is_track(member, pkg):
                            dest = out_dir / base / member
                            dest.parent.mkdir(parents=True, exist_ok=True)
                            dest.write_bytes(z.read(member))
                            tracks.append(f"{base}/{member}")
            elif pkg.archive is None and _under(name, pkg.paths) and _is_track(name, pkg):
                dest = out_dir / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(dest, "wb") as f:
                    shutil.copyfileobj(src, f)
                tracks.append(name)
    return sorted(tracks), copyright_text


# --- licences ------------------------------------------------------------------------------


def parse_dep5(text: str) -> list[tuple[list[str], str]]:
    """DEP-5 copyright text -> [(file patterns, licence short name)], in file order."""
    stanzas: list[tuple[list[str], str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields and "license" in fields:
            patterns = fields["files"].split()
            licence = fields["license"].split("\n", 1)[0].strip()
            if patterns and licence:
                stanzas.append((patterns, licence))
    return stanzas


def licence_for(path: str, stanzas: list[tuple[list[str], str]], default: str) -> tuple[str, str]:
    """(licence, where it came from) for a package-tree ``path``.

    A pattern matches when it matches a trailing part of the path (the copyright file names
    source-tree paths, the package installs them under ``usr/share/...``). ``*`` alone is the
    package-wide stanza: it counts only when nothing more specific matched, and the table's
    licence (checked by hand) wins over it.
    """
    parts = path.split("/")
    found = None
    for patterns, licence in stanzas:
        for pat in patterns:
            pat = pat.removeprefix("./").lstrip("/")
            if pat in ("*", "debian/*"):
                continue
            if any(fnmatch.fnmatch("/".join(parts[i:]), pat) for i in range(len(parts))):
                found = licence  # DEP-5: the last matching stanza wins
    return (found, "copyright") if found else (default, "package")


# --- captions and splits -------------------------------------------------------------------


def title_words(path: str) -> str:
    """Descriptive words of a track's file name (``Celtic_Pride.ogg`` -> ``celtic pride``)."""
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if stem.lower() == "song":  # song folders: the folder names the song
        stem = path.rsplit("/", 2)[-2]
    stem = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    words = [w.lower() for w in re.split(r"[^A-Za-z]+", stem) if w]
    words = [w for w in words if len(w) > 1 and w not in _JUNK_WORDS]
    return " ".join(words[:6])


def caption_for(pkg: MusicPackage, path: str) -> str:
    """A caption from the package's style and the track's name."""
    words = title_words(path)
    return f"{pkg.style}, {words}" if words else pkg.style


def assign_splits(
    durations: dict[str, float], test_share: float = 0.1, val_share: float = 0.05
) -> dict[str, str]:
    """Split one package's tracks into train / val / test by track, deterministically.

    Tracks are ordered by a hash of their path; test takes tracks until it holds ``test_share``
    of the package's duration (at least one track when there are three or more), then val.
    """
    order = sorted(durations, key=lambda p: hashlib.sha1(p.encode()).hexdigest())
    total = sum(durations.values())
    splits: dict[str, str] = {}
    acc = {"test": 0.0, "val": 0.0}
    for p in order:
        if len(order) >= 3 and (acc["test"] < test_share * total or not acc["test"]):
            name = "test"
        elif len(order) >= 3 and (acc["val"] < val_share * total or not acc["val"]):
            name = "val"
        else:
            name = "train"
        if name in acc:
            acc[name] += durations[p]
        splits[p] = name
    return splits


def _duration(path: Path) -> float | None:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - an unreadable file is left out of the manifest
        return None
    return info.frames / info.samplerate if info.samplerate else None


def build_sources(
    src_dir: Path, cache: Path, packages: tuple[MusicPackage, ...] = PACKAGES, *,
    download: bool = True, progress: bool = True,
) -> list[dict]:
    """Steps 1-4 of the recipe; returns the manifest rows (also in ``SRC/metadata.jsonl``)."""
    from tqdm import tqdm

    rows: list[dict] = []
    for pkg in tqdm(packages, disable=not progress, unit="pkg", desc="packages"):
        if download:
            deb = download_deb(pkg, cache)
        else:
            deb = next(iter(sorted(cache.glob(f"{pkg.name}_*.deb"))), None)
        if deb is None:
            raise Jen1Error(f"{pkg.name}: no .deb in {cache}")
        out = src_dir / pkg.name
        tracks, copyright_text = extract_package(deb, pkg, out)
        if not tracks:
            raise Jen1Error(f"{pkg.name}: no music found under {', '.join(pkg.paths)}")
        stanzas = parse_dep5(copyright_text)
        durations = {}
        for t in tracks:
            d = _duration(out / t)
            if d is not None and d >= 1.0:
                durations[t] = d
        splits = assign_splits(durations)
        for t, d in durations.items():
            licence, origin = licence_for(t, stanzas, pkg.licence)
            rows.append({
                "path": f"{pkg.name}/{t}",
                "caption": caption_for(pkg, t),
                "split": splits[t],
                "attributes": {
                    "package": pkg.name, "file": t, "licence": licence,
                    "licence_from": origin, "duration": round(d, 3), "real": True,
                },
            })
    src_dir.mkdir(parents=True, exist_ok=True)
    with open(src_dir / "metadata.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return rows


def _reuse_sources(src_dir: Path, packages: tuple[MusicPackage, ...]) -> list[dict] | None:
    """The rows of an earlier extraction into ``src_dir`` if it covers exactly ``packages``."""
    meta = src_dir / "metadata.jsonl"
    if not meta.exists():
        return None
    rows = [json.loads(line) for line in meta.read_text(encoding="utf-8").splitlines() if line]
    have = {r["attributes"]["package"] for r in rows}
    if have != {p.name for p in packages}:
        return None
    if not all((src_dir / r["path"]).is_file() for r in rows):
        return None
    return rows


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{split: {"minutes": m, "tracks": n, "packages": k}} of a manifest."""
    out: dict[str, dict[str, float]] = {}
    for split in ("train", "val", "test"):
        sel = [r for r in rows if r["split"] == split]
        out[split] = {
            "minutes": round(sum(r["attributes"]["duration"] for r in sel) / 60, 1),
            "tracks": len(sel),
            "packages": len({r["attributes"]["package"] for r in sel}),
        }
    return out


def build_real_corpus(
    out_dir: Path, *, cache: Path | None = None, src_dir: Path | None = None,
    packages: tuple[MusicPackage, ...] = PACKAGES, segment_seconds: float = 10.0,
    download: bool = True, progress: bool = True,
) -> dict[str, dict[str, float]]:
    """The whole recipe: a training folder of real music at ``out_dir`` (module docstring).

    ``out_dir/manifest.jsonl`` lists the tracks (package, file, licence, duration, split);
    ``out_dir/metadata.jsonl`` the segments, each in its track's split and carrying its
    package and licence in ``attributes``. Extracted sources stay in ``src_dir`` (default
    ``OUT_DIR-sources`` beside it; a re-run reuses them when its ``metadata.jsonl`` lists every
    package asked for), .deb files in ``cache`` (default ``OUT_DIR-debs``).

    Returns:
        :func:`summarise` of the manifest.
    """
    from jen1.data.metadata import METADATA, read_metadata, write_metadata
    from jen1.data.prepare import prepare_folder
    from jen1.fsutil import atomic_write_text

    out_dir = Path(out_dir)
    cache = out_dir.with_name(out_dir.name + "-debs") if cache is None else Path(cache)
    src_dir = out_dir.with_name(out_dir.name + "-sources") if src_dir is None else Path(src_dir)
    if src_dir.resolve() == out_dir.resolve() or out_dir.resolve() in src_dir.resolve().parents:
        raise Jen1Error(f"the sources folder {src_dir} must lie outside {out_dir}")
    rows = _reuse_sources(src_dir, packages)
    if rows is None:
        rows = build_sources(src_dir, cache, packages, download=download, progress=progress)
    prepare_folder(src_dir, out_dir, segment_seconds=segment_seconds, progress=progress)
    by_source = {f"file:{r['path']}": r for r in rows}
    records = read_metadata(out_dir / METADATA)
    for rec in records:
        track = by_source[rec["attributes"]["source"]]
        rec["split"] = track["split"]
        rec["attributes"].update(
            {k: track["attributes"][k] for k in ("package", "licence", "real")}
        )
    write_metadata(out_dir, records)
    atomic_write_text(out_dir / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return summarise(rows)
