"""Describe one piece of audio in words: what ``jen1 data caption`` writes for each file.

The description comes from the signal and from the file itself:

- the musicnn MagnaTagATune tagger (:mod:`jen1.eval.musicnn`): genre words, instrument
  families (each family's score is the largest probability among its tags, kept above a
  per-family threshold), and a dynamics word;
- tempo, key and mode, and integrated loudness (:mod:`jen1.eval.music`); the key is named in the
  caption only when its profile correlation is high enough to be worth saying;
- tags embedded in the file (title, artist, album, genre; read by libsndfile, or by mutagen when
  it is installed) and descriptive words of the file and folder names (``Celtic_Pride/
  02-along-the-nile.flac`` -> "celtic pride", "along the nile").

The caption's wording is varied (several templates, synonyms, optional parts) like the synthetic
corpus captions of :mod:`jen1.synth.captions`, and every attribute is returned beside it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from jen1.eval.music import estimate_key, estimate_tempo, loudness_lufs

# Instrument families: MTT tags that name each family, and words of the corpus's instrument
# names (GM programs) that belong to it, matched in this order (so "synth bass" is bass and
# "choir pad" is synth). Bass and brass have no MTT tag: they are never predicted.
FAMILY_TAGS: dict[str, tuple[str, ...]] = {
    "drums": ("drums", "beat", "beats"),
    "guitar": ("guitar",),
    "keys": ("piano", "harpsichord"),
    "strings": ("strings", "violin", "cello", "harp"),
    "synth": ("synth",),
    "woodwind": ("flute",),
    "voice": ("choir", "choral", "voice", "vocal", "vocals", "singing"),
}
_FAMILY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("drums", ("drum", "kit")),
    ("bass", ("bass",)),
    ("synth", ("pad", "lead", "synth", "polysynth")),
    ("voice", ("choir", "voice", "oohs")),
    ("guitar", ("guitar", "banjo")),
    ("keys", ("piano", "harpsichord", "clavinet", "celesta", "music box", "organ", "accordion",
              "vibraphone", "marimba")),
    ("strings", ("violin", "viola", "cello", "strings", "harp", "fiddle")),
    ("brass", ("trumpet", "trombone", "tuba", "horn", "brass")),
    ("woodwind", ("sax", "oboe", "bassoon", "clarinet", "flute", "recorder", "whistle",
                  "ocarina", "harmonica")),
)  # fmt: skip
# Family score thresholds: the best F1 on a 150-clip corpus of seed 1
# (`benchmarks/bench_captions.py --data ... --tune`); accuracy is measured on seed 0. Voice keeps
# 0.2: five clips of that corpus had voices, too few to choose by.
FAMILY_THRESHOLDS: dict[str, float] = {
    "drums": 0.05,
    "guitar": 0.16,
    "keys": 0.03,
    "strings": 0.13,
    "synth": 0.17,
    "woodwind": 0.03,
    "voice": 0.2,
}
# Genre tags the caption may name, with how it says them.
GENRE_TAGS: dict[str, tuple[str, ...]] = {
    "classical": ("classical", "classical", "orchestral classical"),
    "techno": ("techno", "techno", "electronic techno"),
    "electronic": ("electronic", "electronica", "electronic"),
    "rock": ("rock", "rock", "guitar rock"),
    "pop": ("pop", "pop", "pop"),
    "ambient": ("ambient", "atmospheric ambient", "ambient"),
    "new age": ("new age", "new-age", "new age"),
    "dance": ("dance", "dance", "club dance"),
    "country": ("country", "country", "country and western"),
    "metal": ("metal", "heavy metal", "metal"),
    "indian": ("Indian", "Indian classical", "Indian"),
    "opera": ("operatic", "opera", "operatic"),
}
GENRE_THRESHOLD = 0.2
KEY_MIN_CORRELATION = 0.6  # below it the key is stored but not said
# Instrument words the caption uses for a family, by the tag that scored highest.
_TAG_WORDS: dict[str, tuple[str, ...]] = {
    "drums": ("drums", "a drum kit", "percussion"),
    "beat": ("drums", "a beat", "drum beats"),
    "beats": ("drums", "a beat", "drum beats"),
    "guitar": ("guitar", "guitars", "guitar"),
    "piano": ("piano", "piano", "keys"),
    "harpsichord": ("harpsichord",),
    "strings": ("strings", "a string section", "strings"),
    "violin": ("violin", "violins", "fiddle"),
    "cello": ("cello", "low strings"),
    "harp": ("harp",),
    "synth": ("synths", "synthesizer", "synth"),
    "flute": ("flute", "woodwinds"),
    "choir": ("choir", "voices"),
    "choral": ("choir", "choral voices"),
    "voice": ("voices", "vocals"),
    "vocal": ("vocals", "voices"),
    "vocals": ("vocals", "voices"),
    "singing": ("singing", "vocals"),
}
_NOUNS = ("track", "piece", "tune", "recording", "song", "instrumental")

# Words of file and folder names that say nothing about the music.
JUNK_WORDS = frozenset(
    "track tracks song songs audio music sound sounds file files untitled new final "
    "mix mixed master mastered remaster remastered edit edited version copy take rec recording "
    "demo export bounce bounced stereo mono wav flac mp3 ogg aiff opus disc cd side part pt "
    "full original orig inst tmp temp test sample samples clip clips".split()
)
# Small words kept inside a phrase ("along the nile") but not alone or at its ends.
_FILLER = frozenset("a an the of and in on my to at by for".split())


def instrument_family(name: str) -> str | None:
    """Family of an instrument name of the corpus (a GM program name), or None if unknown."""
    n = name.lower()
    for family, words in _FAMILY_WORDS:
        if any(w in n for w in words):
            return family
    return None


def family_scores(tags: dict[str, float]) -> dict[str, float]:
    """Each instrument family's score: the largest probability among its MTT tags."""
    return {f: max(tags.get(t, 0.0) for t in names) for f, names in FAMILY_TAGS.items()}


def detect_families(
    scores: dict[str, float], thresholds: dict[str, float] | None = None
) -> list[str]:
    """Families whose score reaches its threshold, highest score first."""
    thresholds = FAMILY_THRESHOLDS if thresholds is None else thresholds
    found = [f for f, s in scores.items() if s >= thresholds[f]]
    return sorted(found, key=lambda f: -scores[f])


def name_phrase(name: str) -> str:
    """The descriptive words of one file or folder name, lower case ("" if none).

    Names are split at ``_``, ``-``, ``.``, spaces and camelCase; number-only tokens (track
    numbers, years), tokens mixing letters and digits (``v2``, ``48k``), single letters and
    :data:`JUNK_WORDS` are dropped, and so are small words at either end:
    ``02-along-the-nile`` -> "along the nile".
    """
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)  # camelCase
    tokens = [t.lower() for t in re.split(r"[\s_.\-+,()\[\]{}&']+", name) if t]
    words = [t for t in tokens if t.isalpha() and (len(t) > 1 or t == "a") and t not in JUNK_WORDS]
    while words and words[0] in _FILLER:
        words.pop(0)
    while words and words[-1] in _FILLER:
        words.pop()
    return " ".join(words)


def name_words(rel_path: str | Path) -> dict[str, Any]:
    """Descriptive phrases of a file's relative path: ``file`` (its own name, or None) and
    ``folders`` (outermost first, empty ones dropped).

    ``Celtic_Pride/02-along-the-nile.flac`` -> ``{"file": "along the nile", "folders":
    ["celtic pride"]}``.
    """
    rel = Path(rel_path)
    folders = [p for p in (name_phrase(part) for part in rel.parent.parts) if p]
    return {"file": name_phrase(rel.stem) or None, "folders": folders}


def embedded_tags(path: str | Path) -> dict[str, str]:
    """Title, artist, album and genre tags stored in the file (empty values dropped).

    libsndfile reads the tags of WAV, FLAC, Ogg and AIFF files; mutagen, if installed, covers
    MP3 (ID3) and the rest. A file whose tags cannot be read has none.
    """
    keys = ("title", "artist", "album", "genre")
    found: dict[str, str] = {}
    try:
        import soundfile as sf

        with sf.SoundFile(str(path)) as f:
            meta = f.copy_metadata()
        found = {k: meta[k].strip() for k in keys if meta.get(k, "").strip()}
    except Exception:  # noqa: BLE001 - an unreadable tag block is no tags, never a failure
        found = {}
    try:
        import mutagen
    except ImportError:
        return found
    try:
        m = mutagen.File(str(path), easy=True)
    except Exception:  # noqa: BLE001 - as above
        m = None
    if m is not None and m.tags is not None:
        for k in keys:
            v = m.tags.get(k)
            if v and k not in found and str(v[0]).strip():
                found[k] = str(v[0]).strip()
    return found


def analyse(
    wav: np.ndarray, tagger: Any, sr: int = 48000, *, max_seconds: float = 120.0
) -> dict[str, Any]:
    """Estimate the attributes of one piece of audio.

    Args:
        wav: (2, L) audio at ``sr``.
        tagger: a :class:`jen1.eval.musicnn.MusicnnMTT`.
        max_seconds: longer audio is analysed on its middle ``max_seconds`` (bounds the time).

    Returns:
        ``bpm``, ``key``, ``mode``, ``key_correlation``, ``lufs``, ``tags`` (MTT tag ->
        probability, the 10 highest), ``families`` (the instrument families heard),
        ``family_scores`` (family -> score), ``instruments`` (the caption's instrument tags),
        ``genres`` and ``dynamics`` (a tag word or None).
    """
    n = wav.shape[-1]
    keep = round(max_seconds * sr)
    if n > keep:  # the middle: intros and fade-outs say least about a piece
        a = (n - keep) // 2
        wav = wav[:, a : a + keep]
    bpm = estimate_tempo(wav, sr)
    key, mode, r = estimate_key(wav, sr)
    lufs = loudness_lufs(wav, sr)
    emb = tagger.embed(wav[None], sr)
    probs = {t: float(p) for t, p in zip(emb["tag_names"], emb["tags"][0])}
    scores = family_scores(probs)
    families = detect_families(scores)
    instruments = [max(FAMILY_TAGS[f], key=lambda t: probs.get(t, 0.0)) for f in families]
    genres = sorted(
        (g for g in GENRE_TAGS if probs.get(g, 0.0) >= GENRE_THRESHOLD), key=lambda g: -probs[g]
    )
    quiet = max(probs.get("quiet", 0.0), probs.get("soft", 0.0))
    dynamics = None
    if probs.get("loud", 0.0) >= 0.2 and probs["loud"] > quiet:
        dynamics = "loud"
    elif quiet >= 0.2:
        dynamics = "soft"
    top = sorted(probs.items(), key=lambda kv: -kv[1])[:10]
    return {
        "bpm": round(bpm, 1),
        "key": key,
        "mode": mode,
        "key_correlation": round(r, 3),
        "lufs": round(lufs, 1) if np.isfinite(lufs) else None,
        "tags": {t: round(p, 3) for t, p in top},
        "families": families,
        "family_scores": {f: round(s, 3) for f, s in scores.items()},
        "instruments": instruments,
        "genres": genres[:2],
        "dynamics": dynamics,
    }


def _title(phrase: str) -> str:
    """Title case for lower-case name words, small words kept small: "along the nile" ->
    "Along the Nile"; a title with capitals of its own is kept as it is."""
    if not phrase.islower():
        return phrase
    words = phrase.split()
    return " ".join(w if i and w in _FILLER else w[:1].upper() + w[1:] for i, w in enumerate(words))


def _pick(rng: np.random.Generator, seq: tuple[str, ...] | list[str]) -> str:
    return str(seq[int(rng.integers(len(seq)))])


def rng_for(rel_path: str, seed: int = 0) -> np.random.Generator:
    """A wording generator fixed by the file's relative path and ``seed`` (re-runs agree)."""
    h = hashlib.sha256(f"{seed}:{rel_path}".encode()).digest()[:8]
    return np.random.default_rng(int.from_bytes(h, "big"))


def compose_caption(
    attrs: dict[str, Any],
    rng: np.random.Generator,
    *,
    title: str | None = None,
    album: str | None = None,
    genre: str | None = None,
) -> str:
    """One caption from :func:`analyse`'s attributes and, when known, the piece's title, its
    album (or folder) and a genre (from the file's tags, which win over the tagger's)."""
    from jen1.synth.captions import _join, _tidy, tempo_words

    bpm = round(attrs["bpm"])
    genre_words = [_pick(rng, GENRE_TAGS[g]) for g in attrs.get("genres", [])]
    if genre:
        genre_words = [genre] + [g for g in genre_words if g.lower() not in genre.lower()]
    style = " ".join(genre_words[:2])
    tword = _pick(rng, tempo_words(bpm))
    dyn = attrs.get("dynamics")
    adj = " ".join(w for w in (dyn if dyn and rng.random() < 0.6 else "", tword) if w)
    noun = _pick(rng, _NOUNS)
    instr = [_pick(rng, _TAG_WORDS.get(t, (t,))) for t in attrs.get("instruments", [])]
    instr = list(dict.fromkeys(instr))  # two tags can give the same word
    with_phrase = (
        f"{_pick(rng, ('with', 'featuring', 'built on', 'driven by'))} {_join(instr)}"
        if instr
        else ""
    )
    bpm_phrase = _pick(
        rng,
        (
            f"at {bpm} BPM",
            f"at {bpm} bpm",
            f"at a tempo of {bpm} BPM",
            f"around {bpm} beats per minute",
        ),
    )
    key = f"{attrs['key']} {attrs['mode']}"
    said_key = attrs.get("key_correlation", 0.0) >= KEY_MIN_CORRELATION
    key_phrase = _pick(rng, (f"in {key}", f"in the key of {key}")) if said_key else ""
    extra = ""
    if title:
        title = _title(title)
        extra += _pick(rng, (f', titled "{title}"', f', called "{title}"', f' ("{title}")'))
    if album and album != title:
        album = _title(album)
        extra += _pick(rng, (f', from "{album}"', f', off "{album}"'))
    t = int(rng.integers(5))
    if t == 0:
        text = f"A {adj} {style} {noun} {bpm_phrase} {key_phrase} {with_phrase}"
    elif t == 1:
        text = f"{adj} {style} {noun} {key_phrase}, {with_phrase}, {bpm_phrase}"
    elif t == 2:
        lead = f"{_join(instr)} in " if instr else ""
        text = f"{lead}a {adj} {style} {noun} {key_phrase} {bpm_phrase}"
    elif t == 3:  # tag list
        tags = [style, f"{bpm} bpm", tword, key if said_key else "", *instr, dyn or ""]
        text = ", ".join(x for x in tags if x)
    else:
        text = f"This {adj} {style} {noun} {with_phrase} {bpm_phrase} {key_phrase}"
    return _tidy(text + extra + ("" if t == 3 else "."))


def detail_phrase(attrs: dict[str, Any], rng: np.random.Generator) -> str:
    """What :func:`analyse` heard, as a phrase to add to a caption that names the style:
    instruments, tempo and (when confident) key, e.g. "with strings and piano, at 92 BPM in
    D minor"; empty when nothing is worth saying."""
    from jen1.synth.captions import _join, _tidy

    instr = [_pick(rng, _TAG_WORDS.get(t, (t,))) for t in attrs.get("instruments", [])]
    instr = list(dict.fromkeys(instr))
    parts = []
    if instr:
        parts.append(f"{_pick(rng, ('with', 'featuring', 'driven by'))} {_join(instr)}")
    bpm = attrs.get("bpm")
    tempo = ""
    if bpm:
        tempo = _pick(rng, (f"at {round(bpm)} BPM", f"around {round(bpm)} bpm"))
    if attrs.get("key") and attrs.get("key_correlation", 0.0) >= KEY_MIN_CORRELATION:
        tempo = f"{tempo} in {attrs['key']} {attrs['mode']}".strip()
    if tempo:
        parts.append(tempo)
    return _tidy(", ".join(parts)) if parts else ""


def estimated_controls(attrs: dict[str, Any]) -> dict[str, Any]:
    """The musical controls :func:`analyse` can vouch for, for ``attributes.estimated``: the
    tempo, and the key and mode only when the key profile fits well enough to be said."""
    out: dict[str, Any] = {"bpm": attrs["bpm"]}
    if attrs.get("key_correlation", 0.0) >= KEY_MIN_CORRELATION:
        out.update(key=attrs["key"], mode=attrs["mode"])
    return out
