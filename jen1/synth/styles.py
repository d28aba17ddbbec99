"""Style tables for the composer: tempo ranges, progressions, patterns and GM instrument pools.

Progressions are roman numerals relative to the key's own scale (in minor, ``VI`` is the major
chord on the minor sixth; ``V`` the major dominant with the raised leading tone). Bars are
separated by spaces; ``ii7,V7`` splits one bar between two chords. Suffixes: ``7 maj7 h7 dim
sus2 sus4 add9 6 9``. Patterns use a grid of 4 steps per beat (``X`` accent, ``x`` normal,
``o`` ghost/soft, ``.`` rest); a pattern may span several bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The tables below are kept compact by hand (one pattern or pool per line).
# fmt: off

# --- General MIDI ---------------------------------------------------------------------------

GM_NAMES: dict[int, str] = {
    0: "piano", 1: "bright piano", 4: "electric piano", 5: "electric piano", 6: "harpsichord",
    7: "clavinet", 8: "celesta", 10: "music box", 11: "vibraphone", 12: "marimba", 16: "organ",
    18: "rock organ", 19: "church organ", 21: "accordion", 22: "harmonica", 24: "nylon guitar",
    25: "acoustic guitar", 26: "jazz guitar", 27: "clean electric guitar",
    29: "overdriven guitar", 30: "distorted guitar", 32: "upright bass", 33: "electric bass",
    34: "picked bass", 35: "fretless bass", 36: "slap bass", 38: "synth bass", 39: "synth bass",
    40: "violin", 41: "viola", 42: "cello", 43: "double bass", 45: "pizzicato strings",
    46: "harp", 48: "strings", 49: "slow strings", 52: "choir", 53: "voice oohs", 56: "trumpet",
    57: "trombone", 58: "tuba", 60: "french horn", 61: "brass section", 62: "synth brass",
    65: "alto sax", 66: "tenor sax", 68: "oboe", 70: "bassoon", 71: "clarinet", 73: "flute",
    74: "recorder", 75: "pan flute", 78: "whistle", 79: "ocarina", 80: "square lead",
    81: "sawtooth lead", 88: "new age pad", 89: "warm pad", 90: "polysynth", 91: "choir pad",
    92: "bowed pad", 94: "halo pad", 95: "sweep pad", 98: "crystal synth", 105: "banjo",
    110: "fiddle",
}
KIT_NAMES: dict[int, str] = {
    0: "drums", 8: "drums", 16: "drums", 24: "electronic drums", 25: "808 drum machine",
    32: "drums", 40: "brushed drums",
}
LOW_LEADS = frozenset({32, 33, 42, 43, 57, 58, 66, 70})  # played an octave lower as melody

DRUM_KEYS: dict[str, int] = {
    "kick": 36, "rim": 37, "snare": 38, "clap": 39, "hat": 42, "pedal": 44, "open": 46,
    "crash": 49, "ride": 51, "tamb": 54, "cowbell": 56, "shaker": 70, "claves": 75,
    "tom_lo": 45, "tom_mid": 47, "tom_hi": 50, "conga": 63, "conga_lo": 64,
}
HAND_PERCUSSION = frozenset({"tamb", "shaker", "claves", "conga", "conga_lo", "cowbell"})

# --- patterns ----------------------------------------------------------------------------------

# drum patterns: name -> (beats per bar, {drum: steps})
DRUMS: dict[str, tuple[int, dict[str, str]]] = {
    "rock1": (4, {"kick": "X.......X.X.....", "snare": "....X.......X...",
                  "hat": "x.x.x.x.x.x.x.x."}),
    "rock2": (4, {"kick": "X.....x.X.......", "snare": "....X.......X...",
                  "hat": "x.x.x.x.x.x.x.x."}),
    "rock_ride": (4, {"kick": "X.......X.x.....", "snare": "....X.......X...",
                      "ride": "x.x.x.x.x.x.x.x."}),
    "pop1": (4, {"kick": "X.....x...x.....", "snare": "....X.......X...",
                 "hat": "x.xox.xox.xox.xo"}),
    "pop2": (4, {"kick": "X.......X.......", "clap": "....X.......X...",
                 "hat": "..x...x...x...x.", "shaker": "xoxoxoxoxoxoxoxo"}),
    "jazz_ride": (4, {"ride": "x...x.x.x...x.x.", "pedal": "....x.......x...",
                      "kick": "o...o...o...o..."}),
    "bossa": (4, {"rim": "x.....x.....x.......x.....x.....",
                  "kick": "X.....x.X.....x.X.....x.X.....x.",
                  "hat": "oxoxoxoxoxoxoxoxoxoxoxoxoxoxoxox"}),
    "waltz": (3, {"kick": "X...........", "hat": "....x...x..."}),
    "waltz_brush": (3, {"kick": "X...........", "snare": "....o...o...", "ride": "x...x...x..."}),
    "edm1": (4, {"kick": "X...X...X...X...", "clap": "....X.......X...",
                 "open": "..x...x...x...x.", "hat": "xoxoxoxoxoxoxoxo"}),
    "edm2": (4, {"kick": "X...X...X...X...", "snare": "....X.......X...",
                 "open": "..x...x...x...x.", "shaker": "oooooooooooooooo"}),
    "ambient": (4, {"kick": "X...............", "shaker": "o...o...o...o..."}),
    "folk_perc": (4, {"tamb": "....x.......x...", "shaker": "x.o.x.o.x.o.x.o."}),
    "folk_kit": (4, {"kick": "X.......X.......", "rim": "....x.......x...",
                     "hat": "x.x.x.x.x.x.x.x."}),
    "folk_perc3": (3, {"tamb": "....x...x...", "kick": "X..........."}),
    "shuffle": (4, {"kick": "X.......X.......", "snare": "....X.......X...",
                    "hat": "x.x.x.x.x.x.x.x."}),
    "shuffle_ride": (4, {"kick": "X.......X.....x.", "snare": "....X.......X...",
                         "ride": "x.x.x.x.x.x.x.x."}),
    "boombap1": (4, {"kick": "X.........X.....", "snare": "....X.......X...",
                     "hat": "x.x.x.x.x.x.x.x."}),
    "boombap2": (4, {"kick": "X......X..X.....", "snare": "....X.......X..o",
                     "hat": "x.x.x.x.x.xox.x."}),
    "one_drop": (4, {"kick": "........X.......", "rim": "........X.......",
                     "hat": "x.x.x.x.x.x.x.x."}),
    "steppers": (4, {"kick": "X...X...X...X...", "rim": "........X.......",
                     "hat": "..x...x...x...x."}),
    "funk1": (4, {"kick": "X.....x...X..x..", "snare": "....X..o.o..X..o",
                  "hat": "xoxoxoxoxoxoxoxo"}),
    "funk2": (4, {"kick": "X..x..x...X.....", "snare": "....X......oX...",
                  "hat": "xxxxxxxxxxxxxxxx"}),
    "ballad": (4, {"kick": "X.......X.......", "rim": "....x.......x...",
                   "hat": "o.o.o.o.o.o.o.o."}),
    "synthwave1": (4, {"kick": "X...X...X...X...", "snare": "....X.......X...",
                       "hat": "x.x.x.x.x.x.x.x."}),
    "synthwave2": (4, {"kick": "X.....X.X.......", "snare": "....X.......X...",
                       "hat": "xxxxxxxxxxxxxxxx"}),
    "country": (4, {"kick": "X.......X.......", "snare": "....X.......X...",
                    "hat": "x.x.x.x.x.x.x.x."}),
    "train": (4, {"kick": "X.......X.......", "snare": "oxoXoxoXoxoXoxoX"}),
}

# comp patterns: name -> (beats per bar, mode, [(onset, duration, velocity scale)])
# modes: block, strum, power, arp, alberti, boogie, stab
COMPS: dict[str, tuple[int, str, list[tuple[float, float, float]]]] = {
    "whole": (4, "block", [(0, 4, 1.0)]),
    "half": (4, "block", [(0, 2, 1.0), (2, 2, 0.9)]),
    "quarters": (4, "block", [(0, 0.9, 1.0), (1, 0.9, 0.8), (2, 0.9, 0.9), (3, 0.9, 0.8)]),
    "rock8": (4, "power", [(i * 0.5, 0.45, 1.0 if i % 2 == 0 else 0.8) for i in range(8)]),
    "rock_half": (4, "power", [(0, 1.9, 1.0), (2, 1.5, 0.9), (3.5, 0.5, 0.8)]),
    "pop_sync": (4, "block", [(0, 1.4, 1.0), (1.5, 1.0, 0.85), (2.5, 1.4, 0.9)]),
    "pop_strum": (4, "strum", [(0, 0.9, 1.0), (1, 0.4, 0.7), (1.5, 0.9, 0.85), (2.5, 0.4, 0.7),
                               (3, 0.4, 0.85), (3.5, 0.5, 0.7)]),
    "charleston": (4, "block", [(0, 0.7, 1.0), (1.5, 0.5, 0.85)]),
    "jazz_comp": (4, "block", [(1.5, 0.4, 0.85), (3, 0.8, 0.9)]),
    "freddie": (4, "block", [(0, 0.6, 0.9), (1, 0.6, 0.75), (2, 0.6, 0.85), (3, 0.6, 0.75)]),
    "bossa": (4, "block", [(0, 0.9, 1.0), (1, 0.4, 0.8), (2.5, 0.9, 0.9), (3.5, 0.4, 0.8),
                           (5, 0.9, 0.85), (6.5, 0.9, 0.85)]),
    "waltz_pah": (3, "block", [(1, 0.8, 0.8), (2, 0.8, 0.75)]),
    "waltz_arp": (3, "arp", [(i * 0.5, 0.5, 1.0 if i == 0 else 0.75) for i in range(6)]),
    "block3": (3, "block", [(0, 3, 1.0)]),
    "strum3": (3, "strum", [(0, 0.9, 1.0), (1, 0.9, 0.8), (2, 0.9, 0.8)]),
    "offbeat": (4, "stab", [(0.5, 0.3, 1.0), (1.5, 0.3, 0.95), (2.5, 0.3, 1.0), (3.5, 0.3, 0.95)]),
    "edm_sync": (4, "stab", [(0, 0.4, 1.0), (0.75, 0.4, 0.85), (1.5, 0.4, 0.9), (2.5, 0.4, 0.9),
                             (3.25, 0.4, 0.85)]),
    "funk16": (4, "stab", [(0, 0.2, 1.0), (0.75, 0.2, 0.7), (1.5, 0.2, 0.9), (2.25, 0.2, 0.7),
                           (2.75, 0.2, 0.8), (3.5, 0.2, 0.9)]),
    "skank": (4, "stab", [(1, 0.3, 0.9), (3, 0.3, 0.9)]),
    "skank8": (4, "stab", [(0.5, 0.25, 0.8), (1.5, 0.25, 0.9), (2.5, 0.25, 0.8),
                           (3.5, 0.25, 0.9)]),
    "folk_strum": (4, "strum", [(0, 0.9, 1.0), (1, 0.45, 0.8), (1.5, 0.9, 0.7), (2.5, 0.45, 0.75),
                                (3, 0.45, 0.85), (3.5, 0.45, 0.7)]),
    "arp8": (4, "arp", [(i * 0.5, 0.5, 1.0 if i % 4 == 0 else 0.75) for i in range(8)]),
    "arp16": (4, "arp", [(i * 0.25, 0.25, 1.0 if i % 4 == 0 else 0.7) for i in range(16)]),
    "alberti": (4, "alberti", [(i * 0.5, 0.5, 0.9 if i % 2 == 0 else 0.7) for i in range(8)]),
    "boogie": (4, "boogie", [(i * 0.5, 0.45, 1.0 if i % 2 == 0 else 0.8) for i in range(8)]),
    "hiphop_keys": (4, "block", [(0, 1.4, 1.0), (2.5, 1.4, 0.85)]),
    "ballad_arp": (4, "arp", [(i * 0.5, 0.9, 0.9 if i % 4 == 0 else 0.7) for i in range(8)]),
}

# bass patterns: name -> (beats per bar, [(onset, duration, tone)]); tone "R" root, "5" fifth,
# "8" octave, "3" third, "A" approach to the next chord; integers are semitones above the root.
# Special: "walking" (quarter-note walking bass).
BASSES: dict[str, tuple[int, list[tuple[float, float, str | int]]]] = {
    "whole": (4, [(0, 4, "R")]),
    "root_half": (4, [(0, 1.9, "R"), (2, 1.9, "5")]),
    "rock8": (4, [(i * 0.5, 0.45, "R") for i in range(8)]),
    "pop": (4, [(0, 1.4, "R"), (1.5, 0.5, "R"), (2, 1.0, "5"), (3, 0.9, "8")]),
    "pop_sync": (4, [(0, 0.7, "R"), (0.75, 0.7, "R"), (2.5, 0.9, "R"), (3.5, 0.5, "A")]),
    "bossa": (4, [(0, 1.4, "R"), (1.5, 0.5, "5"), (2, 1.4, "5"), (3.5, 0.5, "R")]),
    "waltz": (3, [(0, 0.95, "R")]),
    "waltz_walk": (3, [(0, 0.95, "R"), (1, 0.9, "5"), (2, 0.9, "A")]),
    "offbeat": (4, [(0.5, 0.4, "R"), (1.5, 0.4, "R"), (2.5, 0.4, "R"), (3.5, 0.4, "8")]),
    "rolling": (4, [(i * 0.25, 0.22, "R" if i % 4 else "8") for i in range(16)]),
    "hiphop": (4, [(0, 0.7, "R"), (1.75, 0.25, "R"), (2.5, 1.0, "5"), (3.5, 0.5, "A")]),
    "reggae": (4, [(0.5, 0.45, "R"), (1, 0.45, "3"), (1.5, 0.9, "5"), (3, 0.45, "8"),
                   (3.5, 0.45, "5")]),
    "funk": (4, [(0, 0.25, "R"), (0.75, 0.2, "8"), (1.5, 0.25, "R"), (2, 0.25, "5"),
                 (2.75, 0.2, "8"), (3.5, 0.25, "R")]),
    "boogie": (4, [(0, 0.45, 0), (0.5, 0.45, 4), (1, 0.45, 7), (1.5, 0.45, 9), (2, 0.45, 10),
                   (2.5, 0.45, 9), (3, 0.45, 7), (3.5, 0.45, 4)]),
    "walking": (4, []),
    "country": (4, [(0, 0.9, "R"), (2, 0.9, "5")]),
}
# fmt: on


@dataclass(frozen=True)
class StyleSpec:
    """How one style is composed and orchestrated (see module docstring for the notations)."""

    name: str
    bpm: tuple[int, int]
    minor_prob: float
    major: tuple[str, ...]
    minor: tuple[str, ...]
    ensembles: tuple[dict[str, tuple[int, ...]], ...]  # role -> GM programs ("drums": kits)
    roles: dict[str, float]  # role -> probability the composition has it
    comp: tuple[str, ...] = ("quarters",)
    arp: tuple[str, ...] = ("arp8",)
    bass: tuple[str, ...] = ("root_half",)
    drums: tuple[str, ...] = ()
    meters: tuple[int, ...] = (4,)
    bars_per_chord: tuple[int, ...] = (1,)
    swing: tuple[float, float] = (0.5, 0.5)  # share of a beat taken by the first eighth
    melody_grid: float = 0.5
    melody_density: float = 0.5
    melody_scale: str = "diatonic"  # diatonic | pentatonic | blues
    velocity: tuple[int, int] = (70, 100)
    reverb: tuple[float, float] = (0.1, 0.25)  # wet share range
    rt60: tuple[float, float] = (0.8, 1.8)
    moods: tuple[str, ...] = field(default_factory=tuple)


# fmt: off
STYLES: dict[str, StyleSpec] = {s.name: s for s in [
    StyleSpec(
        "rock", (100, 150), 0.35,
        ("I IV V IV", "I bVII IV I", "I V IV IV", "I IV I V", "I bVI bVII I", "vi IV I V"),
        ("i VII VI VII", "i VI VII i", "i iv VII i", "i VI III VII"),
        ({"chords": (29, 30, 27, 25, 18), "bass": (33, 34), "melody": (29, 30, 27, 18),
          "pad": (16, 48), "drums": (0, 8, 16)},),
        {"chords": 1, "bass": 1, "drums": 1, "melody": 0.8, "pad": 0.2},
        comp=("rock8", "rock_half", "pop_strum"), bass=("rock8", "root_half", "pop"),
        drums=("rock1", "rock2", "rock_ride"), melody_scale="pentatonic", velocity=(90, 115),
        moods=("driving", "gritty", "energetic", "raw", "anthemic"),
    ),
    StyleSpec(
        "pop", (90, 128), 0.3,
        ("I V vi IV", "vi IV I V", "I vi IV V", "I IV vi V", "IV I V vi", "I iii IV V"),
        ("i VI III VII", "i iv VI V", "i VII VI VII", "i VI iv V"),
        ({"chords": (0, 4, 25, 27), "bass": (33, 38, 34), "melody": (80, 11, 65, 53, 0, 73),
          "pad": (48, 89, 49), "drums": (0, 24)},),
        {"chords": 1, "bass": 1, "drums": 0.95, "melody": 0.85, "pad": 0.5},
        comp=("pop_sync", "pop_strum", "quarters", "half"), bass=("pop", "pop_sync", "root_half"),
        drums=("pop1", "pop2"), bars_per_chord=(1, 1, 2), melody_density=0.55,
        velocity=(80, 105), moods=("catchy", "bright", "feel-good", "radio-friendly", "heartfelt"),
    ),
    StyleSpec(
        "jazz swing", (110, 180), 0.3,
        ("ii7,V7 Imaj7 ii7,V7 Imaj7", "Imaj7 vi7 ii7 V7", "iii7 vi7 ii7 V7", "Imaj7 VI7 ii7 V7",
         "Imaj7,vi7 ii7,V7 iii7,VI7 ii7,V7"),
        ("iih7,V7 i7 iih7,V7 i7", "i7 iv7 iih7 V7", "i7 VI7 iih7 V7"),
        ({"chords": (0, 26, 4, 11, 16), "bass": (32,), "melody": (65, 66, 56, 57, 71, 11, 73),
          "drums": (32, 40)},),
        {"chords": 1, "bass": 1, "drums": 1, "melody": 0.9},
        comp=("charleston", "jazz_comp", "freddie"), bass=("walking",), drums=("jazz_ride",),
        swing=(0.6, 0.67), melody_density=0.6, velocity=(70, 100), reverb=(0.1, 0.2),
        moods=("swinging", "smoky", "sophisticated", "lively", "classy"),
    ),
    StyleSpec(
        "bossa nova", (100, 140), 0.4,
        ("Imaj7 II7 ii7 bII7", "Imaj7 vi7 ii7 V7", "ii7 V7 Imaj7 VI7", "Imaj7 Imaj7 II7 II7"),
        ("i7 iv7 V7 i7", "i7 iih7,V7 i7 VI7", "i7 iv7 bII7 i7"),
        ({"chords": (24, 24, 0, 4), "bass": (32, 33), "melody": (73, 66, 65, 11, 71, 53),
          "drums": (40, 32)},),
        {"chords": 1, "bass": 1, "drums": 0.85, "melody": 0.85},
        comp=("bossa",), bass=("bossa",), drums=("bossa",), melody_density=0.45,
        velocity=(60, 90), moods=("laid-back", "breezy", "smooth", "sunny", "romantic"),
    ),
    StyleSpec(
        "waltz", (90, 180), 0.3,
        ("I IV V I", "I vi ii V", "I I IV V", "I V V I", "I IV I V"),
        ("i iv V i", "i VI iv V", "i i iv V"),
        ({"chords": (0, 21, 48, 46), "bass": (32, 43, 45), "melody": (40, 73, 21, 71, 68),
          "drums": (40, 0)},),
        {"chords": 1, "bass": 1, "melody": 0.9, "drums": 0.35},
        comp=("waltz_pah", "waltz_arp", "strum3"), bass=("waltz", "waltz_walk"),
        drums=("waltz", "waltz_brush"), meters=(3,), melody_density=0.5, velocity=(65, 95),
        moods=("graceful", "elegant", "romantic", "nostalgic", "whirling"),
    ),
    StyleSpec(
        "electronic dance", (118, 140), 0.6,
        ("vi IV I V", "I V vi IV", "IV V vi vi", "I V vi iii"),
        ("i VI III VII", "i VII VI VII", "i iv VI V", "i VI VII i"),
        ({"chords": (90, 81, 4, 0, 62), "bass": (38, 39), "melody": (80, 81, 62),
          "pad": (89, 90, 91, 94, 95), "arp": (81, 80, 98), "drums": (24, 25, 0)},),
        {"chords": 0.8, "bass": 1, "drums": 1, "melody": 0.6, "pad": 0.7, "arp": 0.6},
        comp=("offbeat", "edm_sync", "whole"), arp=("arp16", "arp8"),
        bass=("offbeat", "rolling"), drums=("edm1", "edm2"), bars_per_chord=(1, 2),
        melody_grid=0.25, velocity=(90, 115), reverb=(0.05, 0.15),
        moods=("euphoric", "pulsing", "energetic", "hypnotic", "uplifting"),
    ),
    StyleSpec(
        "ambient", (60, 84), 0.5,
        ("Imaj7 IVmaj7", "Iadd9 vi7 IVmaj7 Iadd9", "Isus2 IVadd9", "IVmaj7 Imaj7 vi7 V"),
        ("i7 VImaj7", "iadd9 VImaj7 III VII", "i7 iv7", "i VI III iv"),
        ({"pad": (88, 89, 92, 94, 95, 91, 48, 52), "arp": (11, 46, 0, 98, 10, 8),
          "melody": (73, 75, 11, 0, 79), "bass": (38, 48), "drums": (0, 24)},),
        {"pad": 1, "arp": 0.6, "melody": 0.4, "bass": 0.4, "drums": 0.15},
        arp=("arp8", "ballad_arp"), bass=("whole",), drums=("ambient",), bars_per_chord=(2,),
        melody_grid=1.0, melody_density=0.35, velocity=(45, 75), reverb=(0.3, 0.5),
        rt60=(2.5, 4.0), moods=("dreamy", "ethereal", "calm", "spacious", "meditative"),
    ),
    StyleSpec(
        "classical chamber", (60, 132), 0.4,
        ("I IV V I", "I ii V I", "I vi IV V", "I V vi iii IV I IV V", "I IV ii V"),
        ("i iv V i", "i VI iv V", "i iv VII III VI iidim V i", "i iv i V"),
        ({"melody": (40,), "counter": (41, 40), "chords": (41,), "bass": (42,)},  # string quartet
         {"chords": (0,), "melody": (40, 73), "bass": (42,)},  # piano trio
         {"melody": (73, 68), "counter": (71,), "chords": (60,), "bass": (70,)},  # wind quintet
         {"chords": (6,), "melody": (73, 40), "bass": (42,)},  # harpsichord and solo
         {"chords": (46,), "melody": (73, 40, 68)}),  # harp and solo
        {"chords": 1, "melody": 1, "bass": 0.9, "counter": 0.5},
        comp=("alberti", "arp8", "half", "quarters", "waltz_arp", "block3"),
        bass=("root_half", "whole"), meters=(4, 3), melody_density=0.5, velocity=(55, 90),
        reverb=(0.2, 0.35), rt60=(1.5, 2.5),
        moods=("elegant", "stately", "tender", "graceful", "lyrical"),
    ),
    StyleSpec(
        "folk", (80, 140), 0.3,
        ("I IV I V", "I V IV I", "I I IV V", "I vi IV V"),
        ("i VII i VII", "i VI VII i", "i iv i V", "i III VII i"),
        ({"chords": (25, 24, 105, 21), "bass": (32,), "melody": (110, 40, 73, 78, 22, 21),
          "drums": (0,)},),
        {"chords": 1, "melody": 0.9, "bass": 0.5, "drums": 0.45},
        comp=("folk_strum", "strum3", "quarters"), bass=("root_half", "waltz"),
        drums=("folk_perc", "folk_kit", "folk_perc3"), meters=(4, 4, 3),
        melody_scale="pentatonic", velocity=(70, 100),
        moods=("rustic", "earthy", "warm", "homespun", "wistful"),
    ),
    StyleSpec(
        "blues", (60, 120), 0.25,
        ("I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", "I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7"),
        ("i7 i7 i7 i7 iv7 iv7 i7 i7 VI7 V7 i7 V7",),
        ({"chords": (27, 26, 0, 16, 29), "bass": (33, 32), "melody": (22, 29, 66, 0, 27),
          "drums": (0, 8, 32)},),
        {"chords": 1, "bass": 1, "drums": 0.9, "melody": 0.85},
        comp=("boogie", "charleston", "quarters"), bass=("boogie", "walking"),
        drums=("shuffle", "shuffle_ride"), swing=(0.62, 0.68), melody_scale="blues",
        velocity=(75, 105), moods=("soulful", "gritty", "down-home", "smoky", "mournful"),
    ),
    StyleSpec(
        "hip-hop", (80, 100), 0.75,
        ("Imaj7 vi7 ii7 V7", "IVmaj7 iii7", "ii7 V7", "Imaj7 IVmaj7"),
        ("i7 iv7", "i7 VImaj7", "i7 VImaj7 iv7 V7", "iadd9 VImaj7", "i7 i7 iv7 iv7"),
        ({"chords": (4, 0, 11, 48, 5), "bass": (38, 33, 32), "melody": (11, 73, 0, 80),
          "drums": (25, 0, 8)},),
        {"chords": 1, "bass": 1, "drums": 1, "melody": 0.45},
        comp=("hiphop_keys", "whole", "half"), bass=("hiphop", "root_half"),
        drums=("boombap1", "boombap2"), swing=(0.5, 0.6), melody_density=0.35,
        velocity=(80, 110), reverb=(0.05, 0.15),
        moods=("chill", "gritty", "head-nodding", "mellow", "moody"),
    ),
    StyleSpec(
        "reggae", (66, 90), 0.4,
        ("I IV", "I V vi IV", "I vi IV V", "I IV I V"),
        ("i iv", "i VII", "i VI VII i"),
        ({"chords": (27, 16, 0), "bass": (33, 38), "melody": (56, 66, 22, 11),
          "drums": (0, 8)},),
        {"chords": 1, "bass": 1, "drums": 1, "melody": 0.6},
        comp=("skank", "skank8"), bass=("reggae",), drums=("one_drop", "steppers"),
        bars_per_chord=(1, 2), swing=(0.5, 0.58), velocity=(75, 100),
        moods=("easygoing", "sunny", "relaxed", "uplifting", "laid-back"),
    ),
    StyleSpec(
        "funk", (95, 120), 0.7,
        ("I7", "I7 IV7", "ii7 V7", "I7 I7 IV7 I7"),
        ("i7", "i7 IV7", "i7 i7 iv7 i7", "i7 VII7"),
        ({"chords": (27, 7, 4, 16), "bass": (36, 33, 36), "melody": (61, 56, 66, 80),
          "drums": (0, 8)},),
        {"chords": 1, "bass": 1, "drums": 1, "melody": 0.6},
        comp=("funk16",), bass=("funk",), drums=("funk1", "funk2"), bars_per_chord=(1, 2),
        melody_grid=0.25, melody_density=0.35, velocity=(85, 112), reverb=(0.05, 0.15),
        moods=("groovy", "tight", "funky", "playful", "strutting"),
    ),
    StyleSpec(
        "piano ballad", (60, 84), 0.35,
        ("I V vi IV", "I iii vi IV", "I IV ii V", "vi IV I V", "I vi IV V"),
        ("i VI III VII", "i iv VII III", "i VI iv V"),
        ({"chords": (0, 1, 4), "melody": (0, 40, 42, 73, 53), "pad": (48, 49, 89),
          "bass": (32, 42), "drums": (0, 40)},),
        {"chords": 1, "melody": 0.9, "pad": 0.5, "bass": 0.4, "drums": 0.3},
        comp=("ballad_arp", "arp8", "whole", "half"), bass=("whole", "root_half"),
        drums=("ballad",), melody_density=0.4, velocity=(55, 90), reverb=(0.2, 0.35),
        rt60=(1.5, 2.5), moods=("tender", "heartfelt", "intimate", "bittersweet", "emotional"),
    ),
    StyleSpec(
        "synthwave", (80, 118), 0.7,
        ("I V vi IV", "IV V vi vi", "I vi IV V"),
        ("i VI III VII", "i VI VII VII", "i iv VI VII"),
        ({"chords": (90, 81, 62, 89), "bass": (38, 39), "melody": (80, 81, 62),
          "arp": (81, 80), "pad": (89, 90, 95), "drums": (24, 25)},),
        {"chords": 0.8, "bass": 1, "drums": 1, "melody": 0.7, "arp": 0.7, "pad": 0.5},
        comp=("whole", "half", "offbeat"), arp=("arp8", "arp16"), bass=("rock8", "offbeat"),
        drums=("synthwave1", "synthwave2"), bars_per_chord=(1, 2), velocity=(85, 110),
        reverb=(0.15, 0.3), rt60=(1.5, 2.5),
        moods=("retro", "nostalgic", "neon-lit", "cinematic", "brooding"),
    ),
    StyleSpec(
        "country", (90, 140), 0.1,
        ("I IV I V", "I I IV I", "I V I I", "I IV V I"),
        ("i VII i VII", "i iv VII i"),
        ({"chords": (25, 105, 0), "bass": (32, 33), "melody": (110, 27, 22),
          "drums": (0, 8)},),
        {"chords": 1, "bass": 1, "drums": 0.9, "melody": 0.85},
        comp=("folk_strum", "quarters"), bass=("country",), drums=("country", "train"),
        melody_scale="pentatonic", velocity=(75, 105),
        moods=("twangy", "homespun", "cheerful", "rollicking", "sunny"),
    ),
]}
# fmt: on
