"""Window planning: windows cover every frame, overlap by the context, start where told."""

import pytest

from jen1.inference.windows import (
    num_frames,
    plan_continuation,
    plan_inpaint,
    plan_windows,
)


def test_num_frames_rounds_up_but_not_for_float_noise():
    assert num_frames(1.0, 50.0) == 50 and num_frames(1.01, 50.0) == 51
    assert num_frames(0.1 * 3, 10.0) == 3  # 3.0000000000000004 frames is 3
    assert num_frames(0.0001, 50.0) == 1


CASES = [
    (10, 10, 5, 0),
    (7, 10, 5, 0),
    (23, 10, 5, 0),
    (23, 10, 3, 0),
    (40, 10, 5, 4),
    (12, 10, 9, 0),
]


@pytest.mark.parametrize("total, window, context, known", CASES)
def test_windows_cover_every_frame_with_the_context_overlap(total, window, context, known):
    wins = plan_windows(total, window, context, known)
    assert wins[0][0] == (max(0, known - context) if known else 0)
    assert wins[-1][1] == total
    for (a0, e0), (a1, _) in zip(wins, wins[1:]):
        assert e0 - a0 == window and a1 == e0 - context  # each sees `context` known frames
    assert all(e - a <= window for a, e in wins)


def test_windows_examples():
    assert plan_windows(10, 10, 5) == [(0, 10)]
    assert plan_windows(20, 10, 5) == [(0, 10), (5, 15), (10, 20)]
    assert plan_windows(30, 10, 5, known_frames=8) == [
        (3, 13),
        (8, 18),
        (13, 23),
        (18, 28),
        (23, 30),
    ]
    with pytest.raises(ValueError):
        plan_windows(10, 5, 5)


def test_inpaint_window_centres_the_gap_and_stays_in_the_audio():
    hop, rate = 960, 50.0
    w = plan_inpaint(2.0, 2.5, 480000, rate, hop, window=100)  # gap frames 100..125
    assert w.first == 100 - 75 // 2 and w.gap == (100 - w.first, 125 - w.first)
    assert (w.sample_start, w.sample_end) == (w.first * hop, (w.first + 100) * hop)
    start = plan_inpaint(0.0, 0.5, 480000, rate, hop, window=100)
    assert start.first == 0 and start.gap == (0, 25)
    end = plan_inpaint(9.5, 10.0, 480000, rate, hop, window=100)
    assert end.gap[1] + end.first == 500 and end.sample_end == 480000


def test_continuation_plan_keeps_whole_frames_of_context():
    p = plan_continuation(num_samples=10 * 960 + 100, new_samples=960 * 5, hop=960, context=4)
    assert (p.first, p.known) == (6, 4)  # 10 whole input frames, the last 4 as context
    assert p.total == -(-(10 * 960 + 100 + 5 * 960) // 960) - 6
    short = plan_continuation(num_samples=3 * 960, new_samples=960, hop=960, context=10)
    assert (short.first, short.known, short.total) == (0, 3, 4)
