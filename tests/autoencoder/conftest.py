"""Autoencoder tests run single-threaded: their tensors are tiny, and on a busy 2-core machine
OpenMP threads waiting for each other made the overfit test 20x slower (36 s vs 1.9 s)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
