"""Per-sample generators: a sample's draws depend on its id alone, not on its batch."""

import pytest
import torch

from jen1.rng import rand, randn, sample_generators


def test_a_sample_draws_the_same_numbers_in_any_batch():
    whole = randn((4, 3, 5), sample_generators(7, [10, 11, 12, 13], salt=1))
    split = torch.cat(
        [
            randn((2, 3, 5), sample_generators(7, [10, 11], salt=1)),
            randn((2, 3, 5), sample_generators(7, torch.tensor([12, 13]), salt=1)),
        ]
    )
    assert torch.equal(whole, split)
    alone = randn((1, 3, 5), sample_generators(7, [12], salt=1))
    assert torch.equal(alone[0], whole[2])


def test_seed_salt_and_id_each_change_the_draw():
    ref = rand((1, 8), sample_generators(7, [3], salt=1))
    for seed, ids, salt in ((8, [3], 1), (7, [4], 1), (7, [3], 2)):
        assert not torch.equal(ref, rand((1, 8), sample_generators(seed, ids, salt=salt)))
    assert ((ref >= 0) & (ref < 1)).all()


def test_one_generator_or_none_draws_the_whole_batch():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(randn((2, 3), g1), torch.randn(2, 3, generator=g2))
    assert randn((2, 3), None, dtype=torch.float64).dtype == torch.float64


def test_a_generator_per_row_must_match_the_batch():
    with pytest.raises(ValueError, match="2 generators for a batch of 3"):
        randn((3, 4), sample_generators(0, [1, 2]))
