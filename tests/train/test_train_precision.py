"""Training precision ``auto``: bf16 only where the device computes it natively."""

import pytest

import jen1.precision
from jen1.train.loop import resolve_train_precision


@pytest.mark.parametrize("native, expected", [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_follows_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(jen1.precision, "native_bf16", lambda device="cpu": native)
    assert resolve_train_precision("auto", "cpu") == expected


def test_explicit_precision_is_kept(monkeypatch):
    monkeypatch.setattr(jen1.precision, "native_bf16", lambda device="cpu": False)
    assert resolve_train_precision("bf16-mixed", "cpu") == "bf16-mixed"
    assert resolve_train_precision("32-true", "cpu") == "32-true"
