"""The default model shipped in the package loads strictly and makes sound (not its quality:
that is measured by ``jen1 eval generation`` and written in its model card)."""

import numpy as np

from jen1.paths import default_model_dir
from jen1.pipeline import Pipeline


def test_shipped_model_loads_and_generates():
    d = default_model_dir()
    assert (d / "model_card.md").read_text().strip()
    pipe = Pipeline.from_pretrained()  # the default: strict loads of both networks
    wav = pipe.generate("a calm piano ballad", seconds=1.0, steps=4, seed=0)
    wav = wav.numpy()
    assert wav.shape == (1, 2, 48000)  # (batch, channels, samples)
    assert np.isfinite(wav).all()
    rms = float(np.sqrt((wav**2).mean()))
    assert 1e-3 < rms < 0.9  # sound, neither silence nor a clipped wall
