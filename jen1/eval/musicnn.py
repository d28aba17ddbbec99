"""PyTorch port of musicnn's MTT_musicnn tagger (Pons & Serra 2019, ISC licence), for FAD and tags.

The network and preprocessing follow ``musicnn/models.py`` (``build_musicnn`` with
``num_filt_midend=64, num_units_backend=200``) and ``musicnn/extractor.py`` of the PyPI package
``musicnn`` 0.1.0; the weights are read from the TF1 checkpoint that package ships (no
TensorFlow needed, see :mod:`jen1.eval.tf_bundle`). Install it with
``pip install --no-deps musicnn``.

Preprocessing (as ``extractor.batch_data``): mono mix, 16 kHz (soxr here; librosa.load resamples
with soxr too), mel power spectrogram (n_fft 512, hop 256, Hann, centred with reflect padding,
96 Slaney mels 0-8 kHz), cast to float16, ``log10(10000 x + 1)``, then 187-frame (3 s) patches.
Network: batch norm on the input; front-end with two timbral convs (7x38, 7x67, 204 filters,
max over frequency) and three temporal convs (128x1, 64x1, 32x1, 51 filters, "same" padding, max
over frequency); mid-end with three 1D convs (64 filters, kernel 7) with residual connections;
back-end with max and mean pooling over time, batch norm, dense 200 + ReLU + batch norm (the
"penultimate" features) and dense 50 (tag logits). Batch norms use their moving statistics
(eps 1e-3, TF's default).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from jen1.errors import Jen1Error

MTT_LABELS = (
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
)  # musicnn/configuration.py MTT_LABELS, same order as the output units

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, as extractor.extractor computes it
_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default epsilon


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-scale, Slaney-normalised triangular mel filters (librosa.filters.mel defaults).

    Returns:
        (n_mels, n_fft // 2 + 1) float64.
    """
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        lin = f / f_sp
        return np.where(
            f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, lin
        )

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(
            m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m
        )

    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def find_checkpoint(name: str = "MTT_musicnn") -> Path:
    """Folder of the installed ``musicnn`` package's checkpoint ``name`` (without importing it)."""
    from jen1.optional import missing

    try:
        spec = importlib.util.find_spec("musicnn")
    except (ValueError, ImportError):  # a module without a spec (blocked or half-installed)
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise missing("musicnn", "FAD-musicnn (its MTT_musicnn weights)")
    folder = Path(list(spec.submodule_search_locations)[0]) / name
    if not (folder / ".index").exists():
        raise Jen1Error(f"no {name} checkpoint in {folder.parent}: pip install --no-deps musicnn")
    return folder


class _BatchNorm(nn.Module):
    """Inference batch norm over dim 1 with TF's moving statistics: (x - m) / sqrt(v + eps) * g + b.

    Buffers keep TF's names (gamma, beta, moving_mean, moving_variance).
    """

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("gamma", torch.ones(n))
        self.register_buffer("beta", torch.zeros(n))
        self.register_buffer("moving_mean", torch.zeros(n))
        self.register_buffer("moving_variance", torch.ones(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        scale = self.gamma * torch.rsqrt(self.moving_variance + _EPS)
        shift = self.beta - self.moving_mean * scale
        return x * scale.view(shape) + shift.view(shape)


class MusicnnMTT(nn.Module):
    """MTT_musicnn: log-mel patches (N, 187, 96) -> 50 MagnaTagATune tag logits.

    Build with :meth:`from_package` to load the pretrained weights; :meth:`embed` takes 48 kHz
    stereo audio end to end.
    """

    tag_names = MTT_LABELS

    def __init__(self) -> None:
        super().__init__()
        self.bn_input = _BatchNorm(1)
        # front-end: timbral (7 x 0.4*96, 7 x 0.7*96) and temporal (128, 64, 32 x 1) convs
        self.timbral = nn.ModuleList([nn.Conv2d(1, 204, (7, k)) for k in (38, 67)])
        self.bn_timbral = nn.ModuleList([_BatchNorm(204) for _ in range(2)])
        self.temporal_kernels = (128, 64, 32)
        self.temporal = nn.ModuleList([nn.Conv2d(1, 51, (k, 1)) for k in self.temporal_kernels])
        self.bn_temporal = nn.ModuleList([_BatchNorm(51) for _ in range(3)])
        # mid-end: 1D convs over time, dense residual
        self.midend = nn.ModuleList([nn.Conv1d(c, 64, 7) for c in (561, 64, 64)])
        self.bn_midend = nn.ModuleList([_BatchNorm(64) for _ in range(3)])
        # back-end
        self.bn_pool = _BatchNorm(1506)
        self.dense = nn.Linear(1506, 200)
        self.bn_dense = _BatchNorm(200)
        self.out = nn.Linear(200, len(MTT_LABELS))
        self.register_buffer("mel_fb", torch.from_numpy(mel_filterbank()).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)

    # --- weights ----------------------------------------------------------------------------------
    @classmethod
    def from_package(cls, folder: str | Path | None = None) -> MusicnnMTT:
        """Load MTT_musicnn's weights from the installed ``musicnn`` package (or ``folder``)."""
        from jen1.eval.tf_bundle import read_bundle

        folder = Path(folder) if folder is not None else find_checkpoint("MTT_musicnn")
        tf = read_bundle(str(folder) + "/")
        model = cls()
        model.load_tf_weights(tf)
        return model.eval().requires_grad_(False)

    def load_tf_weights(self, tf: dict[str, np.ndarray]) -> None:
        """Copy TF variables (auto-named in creation order, see module docstring) into the port."""
        t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tf.items()}

        def bn(mod: _BatchNorm, i: int) -> None:
            name = "batch_normalization" + (f"_{i}" if i else "")
            for field in ("gamma", "beta", "moving_mean", "moving_variance"):
                getattr(mod, field).copy_(t[f"{name}/{field}"])

        def conv(mod: nn.Module, i: int) -> None:
            name = "conv2d" + (f"_{i}" if i else "")
            k = t[f"{name}/kernel"]  # (kh, kw, in, out)
            if isinstance(mod, nn.Conv1d):  # (7, in, 1, out) -> (out, in, 7)
                w = rearrange(k[:, :, 0, :], "k i o -> o i k")
            else:  # (kh, kw, in, out) -> (out, in, kh, kw)
                w = rearrange(k, "h w i o -> o i h w")
            mod.weight.copy_(w)
            mod.bias.copy_(t[f"{name}/bias"])

        missing = [
            k
            for k in ("conv2d_7/kernel", "dense_1/kernel", "batch_normalization_10/gamma")
            if k not in t
        ]
        if missing:
            raise Jen1Error(f"the checkpoint is not MTT_musicnn (missing {missing[0]})")
        with torch.no_grad():
            bn(self.bn_input, 0)
            convs = [*self.timbral, *self.temporal, *self.midend]
            bns = [*self.bn_timbral, *self.bn_temporal, *self.bn_midend]
            for i, (c, b) in enumerate(zip(convs, bns)):
                conv(c, i)
                bn(b, i + 1)
            bn(self.bn_pool, 9)
            self.dense.weight.copy_(t["dense/kernel"].T)
            self.dense.bias.copy_(t["dense/bias"])
            bn(self.bn_dense, 10)
            self.out.weight.copy_(t["dense_1/kernel"].T)
            self.out.bias.copy_(t["dense_1/bias"])

    # --- preprocessing ----------------------------------------------------------------------------
    def log_mel(self, wav16k: torch.Tensor, float16_log: bool = False) -> torch.Tensor:
        """(B, L) mono 16 kHz -> (B, F, 96) log-compressed mel, F = 1 + L // 256.

        The mel power is rounded to float16 as musicnn stores it. musicnn's ``extractor.py``
        then computes ``log10(10000 x + 1)`` in float16 arithmetic under numpy, which overflows
        to inf wherever x > 6.55 (loud bass: a sine above about -19 dBFS); the network then
        outputs inf/nan. The training statistics in the checkpoint (input batch norm mean 1.59,
        variance 1.75) show that training saw finite inputs, so by default the log is taken in
        float32. ``float16_log=True`` reproduces the extractor's arithmetic bit for bit (used to
        check the port against TensorFlow).
        """
        spec = torch.stft(
            wav16k.float(),
            N_FFT,
            HOP,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (B, 257, F)
        mel = torch.einsum("mf,bft->btm", self.mel_fb, power).half().float()
        if not float16_log:
            return torch.log10(10000.0 * mel + 1.0)
        y = (10000.0 * mel).half().float()  # numpy float16 ufuncs round after every operation
        y = (y + 1.0).half().float()
        return torch.log10(y).half().float()

    @staticmethod
    def patches(mel: torch.Tensor, hop_frames: int = PATCH_FRAMES) -> torch.Tensor:
        """(B, F, 96) -> (B, P, 187, 96): patches every ``hop_frames``.

        The tail shorter than a patch is dropped (as musicnn does); clips shorter than one patch
        are repeat-padded (as in musicnn's training, ``pad_short: repeat-pad``).
        """
        if mel.shape[1] < PATCH_FRAMES:
            reps = -(-PATCH_FRAMES // mel.shape[1])
            mel = mel.repeat(1, reps, 1)[:, :PATCH_FRAMES]
        out = mel.unfold(1, PATCH_FRAMES, hop_frames)  # (B, P, 96, 187)
        return rearrange(out, "b p m f -> b p f m")

    # --- network ----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the network on log-mel patches.

        Args:
            x: (N, 187, 96) log-mel patches (time, mel).

        Returns:
            dict of ``logits`` (N, 50), ``penultimate`` (N, 200), ``mean_pool`` and ``max_pool``
            (N, 753) (the mid-end features pooled over time).
        """
        h = self.bn_input(x[:, None])  # (N, 1, 187, 96): time as height, mel as width
        front = []
        padded = F.pad(h, (0, 0, 3, 3))
        for conv, bn in zip(self.timbral, self.bn_timbral):
            front.append(bn(F.relu(conv(padded))).amax(dim=-1))  # (N, 204, 187)
        for k, conv, bn in zip(self.temporal_kernels, self.temporal, self.bn_temporal):
            p = F.pad(h, (0, 0, (k - 1) // 2, k // 2))  # TF "same": the extra pad goes after
            front.append(bn(F.relu(conv(p))).amax(dim=-1))  # (N, 51, 187)
        feats = [torch.cat(front, dim=1)]  # (N, 561, 187)
        y = feats[0]
        for i, (conv, bn) in enumerate(zip(self.midend, self.bn_midend)):
            z = bn(F.relu(conv(F.pad(y, (3, 3)))))  # (N, 64, 187)
            y = z if i == 0 else z + y
            feats.append(y)
        mid = torch.cat(feats, dim=1)  # (N, 753, 187)
        max_pool, mean_pool = mid.amax(dim=-1), mid.mean(dim=-1)
        # TF concatenates (N, 753, 1) max and mean on the last axis then flattens: interleaved
        pooled = rearrange(torch.stack([max_pool, mean_pool], dim=-1), "n c two -> n (c two)")
        pen = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        return {
            "logits": self.out(pen),
            "penultimate": pen,
            "mean_pool": mean_pool,
            "max_pool": max_pool,
        }

    @torch.inference_mode()
    def embed(
        self,
        wav: np.ndarray | torch.Tensor,
        sample_rate: int = 48000,
        *,
        hop_seconds: float | None = None,
        batch_patches: int = 16,
        float16_log: bool = False,
    ) -> dict[str, Any]:
        """Tag and embed audio end to end.

        Args:
            wav: (B, 2, L) or (B, L) or (L,) audio (numpy or torch) at ``sample_rate``; channels are
                averaged to mono.
            sample_rate: input rate (resampled to 16 kHz with soxr).
            hop_seconds: patch hop; None = 3 s patches without overlap (musicnn's default).
                Converted to frames as musicnn does (``librosa.time_to_frames``: 1 s -> 61).
            batch_patches: patches per network call (memory bound).
            float16_log: reproduce the extractor's float16 log (see :meth:`log_mel`).

        Returns:
            dict of numpy float32 arrays: ``penultimate`` (B, P, 200), ``taggram`` (B, P, 50) tag
            probabilities per patch, ``mean_pool``/``max_pool`` (B, P, 753), ``embedding`` (B, 200)
            and ``tags`` (B, 50) averaged over patches; and ``tag_names`` (50 strings).
        """
        import soxr

        x = (
            wav.detach().cpu().float().numpy()
            if isinstance(wav, torch.Tensor)
            else np.asarray(wav, np.float32)
        )
        if x.ndim == 1:
            x = x[None]
        if x.ndim == 3:
            x = x.mean(axis=1)  # (B, L) mono
        if x.ndim != 2 or x.shape[-1] == 0:
            raise Jen1Error(f"expected audio of shape (B, 2, L), got {tuple(np.shape(wav))}")
        if sample_rate != SAMPLE_RATE:
            x = np.stack([soxr.resample(c.astype(np.float64), sample_rate, SAMPLE_RATE) for c in x])
        dev = self.window.device
        mel = self.log_mel(torch.from_numpy(x.astype(np.float32)).to(dev), float16_log)
        hop = PATCH_FRAMES
        if hop_seconds is not None:
            hop = max(1, int((round(hop_seconds * SAMPLE_RATE) - N_FFT // 2) // HOP))
        patches = self.patches(mel, hop)  # (B, P, 187, 96)
        b, p = patches.shape[:2]
        flat = rearrange(patches, "b p f m -> (b p) f m")
        outs = [self(flat[i : i + batch_patches]) for i in range(0, flat.shape[0], batch_patches)]
        res = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
        res["taggram"] = torch.sigmoid(res.pop("logits"))
        out = {
            k: rearrange(v, "(b p) d -> b p d", b=b, p=p).float().cpu().numpy()
            for k, v in res.items()
        }
        out["embedding"] = out["penultimate"].mean(axis=1)
        out["tags"] = out["taggram"].mean(axis=1)
        out["tag_names"] = list(MTT_LABELS)
        return out
