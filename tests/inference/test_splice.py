"""Splicing generated audio into the input: exact outside the gap, linear crossfades inside."""

import numpy as np
import torch

from jen1.inference.splice import fade_in, splice_continuation, splice_gap


def test_splice_continuation_joins_pieces_cut_anywhere():
    rng = np.random.default_rng(0)
    wav = torch.from_numpy(rng.uniform(-1, 1, (1, 2, 500)).astype(np.float32))
    dec = torch.from_numpy(rng.uniform(-1, 1, (1, 2, 900)).astype(np.float32))
    j, xf = 300, 40  # the decoding starts 200 samples before the input's end
    ref = torch.cat([wav, dec[..., j:]], dim=-1)
    ramp = torch.linspace(0, 1, xf + 2)[1:-1]
    ref[..., 500 - xf : 500] = wav[..., 500 - xf :] * (1 - ramp) + dec[..., j - xf : j] * ramp
    for cuts in ([900], [270, 290, 900], [100, 301, 650, 900], [261, 262, 299, 300, 900]):
        edges = [0, *cuts]
        pieces = (dec[..., a:e] for a, e in zip(edges, edges[1:]))
        out = torch.cat(list(splice_continuation(wav, pieces, j, xf)), dim=-1)
        assert torch.allclose(out, ref, atol=1e-7), cuts


def test_splice_gap_keeps_the_input_outside_and_fades_inside():
    rng = np.random.default_rng(1)
    wav = torch.from_numpy(rng.uniform(-1, 1, (2, 2, 1000)).astype(np.float32))
    gen = torch.from_numpy(rng.uniform(-1, 1, (2, 2, 600)).astype(np.float32))
    offset, a, e, xf = 200, 300, 700, 50  # gen's sample 0 is the input's sample 200
    out = splice_gap(wav, gen, offset, a, e, xf)
    assert torch.equal(out[..., :a], wav[..., :a]) and torch.equal(out[..., e:], wav[..., e:])
    assert torch.equal(out[..., a + xf : e - xf], gen[..., a + xf - offset : e - xf - offset])
    r = fade_in(xf)
    head = wav[..., a : a + xf] * (1 - r) + gen[..., a - offset : a - offset + xf] * r
    assert torch.equal(out[..., a : a + xf], head)
    assert 0 < r[0] < r[-1] < 1 and r.shape == (xf,)
    assert torch.equal(splice_gap(wav, gen, offset, a, e, 0)[..., a:e], gen[..., 100:500])
