"""Typed, nested configuration dataclasses for every jen1 component.

Every default lives here, once. Configs travel with the weights (``config.json`` in a model
directory, ``config`` in a training checkpoint). ``from_dict`` rejects unknown keys and wrong
types with a message naming the key, so a typo never falls back to a default silently.

Presets: ``tiny`` (tests), ``small`` (the shipped default, trains on a CPU box) and ``paper``
(JEN-1 as specified in arXiv 2308.04729, see ``shared/design.md``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from jen1.errors import Jen1Error

T = TypeVar("T")


class ConfigError(Jen1Error):
    """A configuration could not be built, parsed or validated."""


@dataclass(frozen=True)
class AutoencoderConfig:
    """Masked convolutional autoencoder: 48 kHz stereo waveform <-> continuous latent (B, C, T)."""

    sample_rate: int = 48000
    audio_channels: int = 2
    # "conv": strided waveform convolutions both ways (DAC / Oobleck); "stft": ConvNeXt blocks
    # between a complex STFT and the latent, the decoder ending in an inverse STFT (Vocos)
    arch: str = "conv"
    latent_dim: int = 32
    # widths: block i maps width * [1, *mults][i] -> width * [1, *mults][i + 1] (decoder mirrored);
    # narrow at 48/12 kHz, wide at the latent rate: cheap where there are many samples
    encoder_channels: int = 16
    encoder_mults: tuple[int, ...] = (2, 4, 8, 16)
    decoder_channels: int = 16
    decoder_mults: tuple[int, ...] = (2, 4, 16, 32)
    strides: tuple[int, ...] = (4, 4, 6, 10)
    dilations: tuple[int, ...] = (1, 3, 9)
    kernel_size: int = 7
    activation: str = "snake"  # "snake" | "elu"
    mask_ratio: float = 0.05  # JEN-1: share of latent frames masked before the decoder in training
    chunk_seconds: float = 10.0  # chunked encode/decode window for long audio
    overlap_seconds: float = 0.5  # overlap (each side) between chunks
    # arch "stft" only: STFT frames every stft_hop samples (window n_fft); `strides` then go
    # from the frame rate to the latent rate; stft_blocks = (at the latent rate, at the frame rate)
    stft_hop: int = 480
    n_fft: int = 1920
    stft_dim: int = 512
    stft_mlp_ratio: float = 3.0
    stft_blocks: tuple[int, int] = (4, 4)
    # arch "stft": how the decoder head gives each bin's phase. "scalar": one angle per bin
    # (Vocos); "vector": a 2-d vector whose direction is the phase (APNet's parallel phase
    # estimation), which has no wrap-around for the losses to get stuck on
    stft_phase: str = "scalar"
    # arch "stft": code the spectrum demodulated, each bin k turned back by its own rotation
    # 2 pi k hop n / n_fft at frame n, so that a steady partial has a steady phase (coded
    # spectra then vary slowly, and a decoder that does not know a bin's phase yet still gives
    # frames that add up instead of cancelling in the overlap-add)
    stft_demodulate: bool = False
    # arch "stft": the posterior log-variance the encoder starts from (the bias of its
    # log-variance outputs, their weights zeroed). At 0 the decoder first sees latents buried in
    # unit noise and takes hundreds of steps to get them clear; at -6 (std 0.05) they start clear
    logvar_init: float = 0.0
    # arch "stft": a hybrid codec. The first lowband_mid + lowband_side latent channels are the
    # lowest MDCT coefficients (one frame per latent frame, each hop / sample_rate * 2 wide in
    # time and sample_rate / (2 hop) Hz wide in frequency) of the mid and side signals, coded
    # exactly (jen1.autoencoder.lowband); the learnt encoder gives the other channels, and the
    # decoder adds the low band's inverse MDCT to its own output. 0 and 0: no low band.
    lowband_mid: int = 0
    lowband_side: int = 0
    # the fixed posterior log-variance of the low-band channels (their encoder has no noise to
    # learn; a little keeps the decoder from reading them as noiseless)
    lowband_logvar: float = -14.0
    # how the diffusion model sees the low band (the latent cache, the pipeline's latents):
    # "mdct", the coefficients as coded; "magnitude", their STFT log-magnitudes, the phase
    # rebuilt by Griffin-Lim before decoding (jen1.autoencoder.lowband_view). The autoencoder
    # itself, its training and its evaluation always use the coefficients.
    lowband_view: str = "mdct"

    def __post_init__(self) -> None:
        if self.arch not in ("conv", "stft"):
            raise ConfigError(f"autoencoder.arch must be 'conv' or 'stft', got {self.arch!r}")
        if self.logvar_init != 0.0 and self.arch != "stft":
            raise ConfigError("autoencoder.logvar_init applies to arch 'stft' only")
        if self.stft_phase not in ("scalar", "vector"):
            raise ConfigError(
                f"autoencoder.stft_phase must be 'scalar' or 'vector', got {self.stft_phase!r}"
            )
        if self.arch == "stft" and (self.n_fft - self.stft_hop) % 2:
            raise ConfigError("autoencoder.n_fft - autoencoder.stft_hop must be even")
        if self.lowband_channels and self.arch != "stft":
            raise ConfigError("autoencoder.lowband_mid/side apply to arch 'stft' only")
        if min(self.lowband_mid, self.lowband_side) < 0 or self.lowband_channels >= self.latent_dim:
            raise ConfigError(
                "autoencoder.lowband_mid + lowband_side must be >= 0 and below latent_dim "
                f"({self.latent_dim}), got {self.lowband_mid} + {self.lowband_side}"
            )
        if self.lowband_channels and max(self.lowband_mid, self.lowband_side) > self.hop:
            raise ConfigError(f"autoencoder.lowband_mid/side must be at most hop ({self.hop})")
        if self.lowband_view not in ("mdct", "magnitude"):
            raise ConfigError(
                f"autoencoder.lowband_view must be 'mdct' or 'magnitude', got {self.lowband_view!r}"
            )
        if self.lowband_view == "magnitude":
            from jen1.autoencoder.lowband_view import check_view

            check_view(self)

    @property
    def lowband_channels(self) -> int:
        """Latent channels the exactly coded low band takes (the first ones)."""
        return self.lowband_mid + self.lowband_side

    @property
    def frame_quantum(self) -> int:
        """Latent frames after which the demodulation carrier repeats (1 without it): chunked
        coding starts its windows on multiples of it, so every window sees the same carrier."""
        if self.arch != "stft" or not self.stft_demodulate:
            return 1
        period = self.n_fft // math.gcd(self.n_fft, self.stft_hop)  # STFT frames
        stride = math.prod(self.strides)
        return period * stride // math.gcd(period, stride) // stride

    @property
    def hop(self) -> int:
        """Waveform samples per latent frame."""
        if self.arch == "stft":
            return self.stft_hop * math.prod(self.strides)
        return math.prod(self.strides)

    @property
    def frame_rate(self) -> float:
        """Latent frames per second."""
        return self.sample_rate / self.hop


@dataclass(frozen=True)
class AutoencoderLossConfig:
    """Weights and schedule of the autoencoder losses."""

    stft_windows: tuple[int, ...] = (2048, 1024, 512, 256, 128)
    stft_weight: float = 1.0
    mel_weight: float = 1.0
    mel_bins: int = 80
    # log-mel L1 on power (|X|^2 summed per mel band) at the mel term's windows: the log of a
    # band's energy. L1 on log magnitudes aims at a median, which for a spectrum the decoder
    # draws smoother than its target (harmonics it cannot resolve yet) lies well below the
    # band's energy: the highs came out too quiet (benchmarks/README.md, "the hybrid codec")
    mel_power_weight: float = 0.0
    # log10 of each mel band's energy summed over the whole segment, L1 (the largest mel
    # window): the spectral balance of the segment, which per-frame log terms leave to the
    # median frame (an attack the decoder smears holds most of a band's energy in a few frames)
    band_energy_weight: float = 0.0
    l1_weight: float = 0.1
    # MR-STFT on mid (L+R)/2 and side (L-R)/2 too: per-channel spectral losses alone leave the
    # phase between channels free, and the mid channel then partly cancels (measured)
    mid_side_weight: float = 1.0
    # L1 between power-law compressed complex STFTs (|X|^0.3 with X's phase): the term that
    # holds the phase, which magnitude losses leave free
    complex_weight: float = 0.0
    complex_windows: tuple[int, ...] = (2048, 512, 128)
    # arch "stft": the same compressed complex L1 between the spectrum the decoder predicts and
    # the input's STFT at the codec's own frames, before the inverse STFT: a per-bin target for
    # the phase head that the overlap-add does not blur
    spectrum_weight: float = 0.0
    # arch "stft": log-magnitude L1 between the predicted spectrum and the input's STFT at the
    # codec's frames: the magnitudes taught apart from the phase, so that a bin whose phase is
    # not known yet is not made quiet (which the complex terms do) nor noisy (which magnitude
    # terms on the output do, by drawing on the latent's noise)
    spectrum_mag_weight: float = 0.0
    # steps (start, end) over which the magnitude terms (MR-STFT, mel, mid/side) rise from 0 to
    # their weights; before ``start`` they are not computed. (0, 0): full weight from step 0.
    # Phase is learnt from the complex terms only once the magnitude terms stop drowning their
    # gradients (benchmarks/bench_ae_phase.py): complex terms first, magnitudes after
    magnitude_ramp: tuple[int, int] = (0, 0)
    kl_weight: float = 1e-4
    # steps (start, end) over which the KL weight rises from 0 to ``kl_weight``. Under Adam a
    # KL gradient of any weight moves the encoder at the full learning rate wherever the
    # reconstruction gradient is about zero, as it is while the decoder does not use the latent
    # yet: the posterior then collapses to the prior early (measured, benchmarks/README.md).
    # (0, 0): full weight from step 0.
    kl_ramp: tuple[int, int] = (0, 0)
    adv_weight: float = 0.1
    feat_weight: float = 2.0
    disc_windows: tuple[int, ...] = (2048, 1024, 512)
    disc_channels: int = 8  # constant width of every STFT sub-discriminator (EnCodec: 32)
    disc_start_step: int = 2000  # adversarial loss off before this step
    feat_start_step: int = 3000  # feature matching switched on after this step
    # Train the decoder only (the encoder, and so the latent space a diffusion model was
    # trained on, stays fixed): for improving a shipped decoder without retraining the U-Net.
    freeze_encoder: bool = False

    def __post_init__(self) -> None:
        for name in ("magnitude_ramp", "kl_ramp"):
            ramp = getattr(self, name)
            if len(ramp) != 2 or not 0 <= ramp[0] <= ramp[1]:
                raise ConfigError(
                    f"ae_loss.{name} must be [start, end] with 0 <= start <= end, "
                    f"got {list(ramp)}"
                )


@dataclass(frozen=True)
class ControlConfig:
    """Musical-control conditioning of the U-Net (tempo, key, meter, chords; issue 21).

    ``global_embed``: Fourier features of log-BPM and key (tonic, mode) and meter embeddings,
    each with a learned "absent" entry, summed into the time/text embedding. ``aligned``:
    time-aligned channels at the latent frame rate (beat and downbeat phase as sin/cos, 12-d
    chord chroma, three presence flags; :mod:`jen1.conditioning.control_tensors`) concatenated
    to the U-Net input like the in-context mask. In training each of bpm, key, meter and chords
    is dropped independently with probability ``dropout``, and all of them where the text is
    dropped for guidance (the unconditional branch drops the controls too).
    """

    global_embed: bool = True
    aligned: bool = True
    fourier_features: int = 8  # frequencies of the log-BPM features (sin and cos of each)
    dropout: float = 0.3  # per control, so that any subset (or none) is seen in training


@dataclass(frozen=True)
class UNetConfig:
    """1D U-Net of residual conv blocks with self- and cross-attention (JEN-1 section 4)."""

    channels: tuple[int, ...] = (128, 256, 384)
    num_res_blocks: int = 2
    attn_levels: tuple[bool, ...] = (False, True, True)
    head_dim: int = 64
    kernel_size: int = 3
    time_dim: int = 256
    cross_attn_dim: int = 256
    groups: int = 8
    dropout: float = 0.0
    causal: bool = False  # default mode; forward(..., causal=...) overrides per call
    # None: no control conditioning, the network (and its state dict) of models before issue 21
    controls: ControlConfig | None = None


@dataclass(frozen=True)
class DiffusionConfig:
    """Noise schedule, objective and multi-task in-context training."""

    # "cosine" | "linear" (paper DDPM betas) | "scaled_linear" (LDM's) | "flow" (rectified flow)
    schedule: str = "cosine"
    objective: str = "v"  # "v" | "eps" | "flow" (velocity eps - z; needs schedule "flow")
    num_train_steps: int = 1000  # discrete steps of the linear DDPM schedule
    beta_start: float = 0.0015
    beta_end: float = 0.0195
    cfg_dropout: float = 0.2  # share of samples trained with the null text
    task_shares: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # generate, inpaint, continue
    generate_causal_share: float = 0.5  # text-to-music samples trained in causal mode
    mask_min: float = 0.2  # inpaint / continue: share of frames to generate, min
    mask_max: float = 0.8
    max_spans: int = 3  # inpainting: 1..max_spans masked spans
    # training times: "uniform" | "logit_normal" (sigmoid of N(train_t_mean, train_t_std), SD3)
    train_t: str = "uniform"
    train_t_mean: float = 0.0
    train_t_std: float = 1.0

    def __post_init__(self) -> None:
        # the flow objective's x0 = x_t - t * v holds only on the line alpha = 1 - t, sigma = t,
        # and v / eps on that line would divide by alpha = 0 at t = 1
        if (self.objective == "flow") != (self.schedule == "flow"):
            raise ConfigError(
                f"diffusion.objective '{self.objective}' does not go with diffusion.schedule "
                f"'{self.schedule}': objective 'flow' and schedule 'flow' go together"
            )
        if self.train_t not in ("uniform", "logit_normal"):
            raise ConfigError(
                f"diffusion.train_t must be 'uniform' or 'logit_normal', got {self.train_t!r}"
            )
        if not self.train_t_std > 0:
            raise ConfigError(f"diffusion.train_t_std must be positive, got {self.train_t_std}")


@dataclass(frozen=True)
class TextConfig:
    """Frozen text encoder, stored by name (never as weights in a jen1 checkpoint)."""

    name: str = "minilm"  # "minilm" | "t5:/local/path"
    dim: int = 384
    max_length: int = 64


@dataclass(frozen=True)
class SamplingConfig:
    """Inference defaults; every pipeline call can override them."""

    sampler: str = "dpmpp_2m"
    steps: int = 25
    cfg_scale: float = 2.0
    seconds: float = 10.0
    window_seconds: float = 10.0  # generation window; longer audio slides a causal window
    context_seconds: float = 5.0  # known context kept when sliding the window


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping for one training stage."""

    batch_size: int = 8
    segment_seconds: float = 2.0
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    warmup_steps: int = 200
    max_steps: int = 10000
    lr_decay: str = "cosine"  # "cosine" | "constant"
    min_lr_ratio: float = 0.1
    ema_decay: float = 0.999
    # "auto" (bf16-mixed where the device has native bf16, else 32-true) | "bf16-mixed" | "32-true"
    precision: str = "auto"
    accumulate: int = 1
    ckpt_every: int = 500
    keep_last: int = 3
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0


@dataclass(frozen=True)
class Jen1Config:
    """The whole model: autoencoder, U-Net, diffusion, text encoder, sampling and training."""

    name: str = "small"
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    ae_loss: AutoencoderLossConfig = field(default_factory=AutoencoderLossConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    train_autoencoder: TrainConfig = field(default_factory=TrainConfig)
    train_diffusion: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            batch_size=32, segment_seconds=10.0, lr=2e-4, weight_decay=0.01, betas=(0.9, 0.99)
        )
    )

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; optional sections that are off (None) are left out, so a model without
        them writes the config it wrote before they existed (and older jen1 reads it)."""
        data = _to_jsonable(dataclasses.asdict(self))
        for section, key in _OMITTED_WHEN_NONE:
            if data[section][key] is None:
                del data[section][key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Jen1Config":
        return from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def save_json(self, path: str | Path) -> None:
        from jen1.fsutil import atomic_write_text

        atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def load_json(cls, path: str | Path) -> "Jen1Config":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
        return cls.from_dict(data)


_OMITTED_WHEN_NONE = (("unet", "controls"),)  # (section, key): absent from to_dict() when None


def _to_jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_jsonable(v) for v in x]
    return x


def _check_value(tp: Any, value: Any, key: str) -> Any:
    """Validate ``value`` against annotation ``tp`` and convert JSON lists to tuples."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be an object, got {type(value).__name__}")
        return from_dict(tp, value, prefix=key + ".")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check_value(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"config key '{key}' must have {len(args)} items, got {len(value)}")
        return tuple(_check_value(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(tp):
            try:
                return _check_value(a, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}' has an invalid value {value!r}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"config key '{key}' must be null")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"config key '{key}': unsupported type {tp}")


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.') or '<root>'}' must be an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}'")
    kwargs = {k: _check_value(hints[k], v, prefix + k) for k, v in data.items()}
    return cls(**kwargs)


# --- presets ------------------------------------------------------------------------------


def _tiny() -> Jen1Config:
    return Jen1Config(
        name="tiny",
        autoencoder=AutoencoderConfig(
            latent_dim=8,
            encoder_channels=8,
            encoder_mults=(1, 2, 4),
            decoder_channels=8,
            decoder_mults=(1, 2, 4),
            strides=(4, 4, 8),
            dilations=(1, 3),
            kernel_size=7,
            chunk_seconds=0.5,
            overlap_seconds=0.05,
        ),
        ae_loss=AutoencoderLossConfig(
            stft_windows=(512, 256, 128),
            mel_bins=32,
            disc_windows=(256, 128),
            disc_channels=4,
            disc_start_step=20,
            feat_start_step=30,
        ),
        unet=UNetConfig(
            channels=(32, 64),
            num_res_blocks=1,
            attn_levels=(False, True),
            head_dim=16,
            time_dim=32,
            cross_attn_dim=32,
            groups=4,
        ),
        text=TextConfig(max_length=16),
        sampling=SamplingConfig(steps=4, seconds=1.0, window_seconds=1.0, context_seconds=0.5),
        train_autoencoder=TrainConfig(
            batch_size=2,
            segment_seconds=0.25,
            max_steps=20,
            warmup_steps=2,
            ckpt_every=10,
            log_every=1,
            lr=1e-3,
        ),
        train_diffusion=TrainConfig(
            batch_size=4,
            segment_seconds=1.0,
            max_steps=20,
            warmup_steps=2,
            ckpt_every=10,
            log_every=1,
            lr=1e-3,
        ),
    )


def _small() -> Jen1Config:
    return Jen1Config(name="small")


def _small_v2() -> Jen1Config:
    """``small`` with the STFT autoencoder (64 channels at 50 Hz): the next default's recipe.

    benchmarks/README.md, "the autoencoder's phase": demodulated STFT phase, every
    reconstruction term from step 0 (the complex terms alone gave silent output), and the KL
    rising from 0 at step 2000 to 1e-6 at step 4000 (a KL from step 0 pulled the posterior to
    the prior while the decoder still ignored the latent); log-variance starting at -6.
    """
    return Jen1Config(
        name="small-v2",
        autoencoder=AutoencoderConfig(
            arch="stft", latent_dim=64, strides=(2,), stft_hop=480, n_fft=1920, stft_dim=384,
            stft_mlp_ratio=3.0, stft_blocks=(4, 4), stft_phase="vector", stft_demodulate=True,
            logvar_init=-6.0,
        ),
        ae_loss=AutoencoderLossConfig(
            stft_weight=0.1, mel_weight=0.1, mid_side_weight=0.1, complex_weight=1.0,
            spectrum_weight=1.0, magnitude_ramp=(0, 0), kl_weight=1e-6, kl_ramp=(2000, 4000),
            disc_channels=32, disc_start_step=30_000, feat_start_step=30_000,
        ),
        train_autoencoder=TrainConfig(
            batch_size=12, segment_seconds=1.0, lr=5e-4, betas=(0.8, 0.99), warmup_steps=500,
            max_steps=100_000, ckpt_every=250, keep_last=3, log_every=25,
        ),
    )


def _small_v3() -> Jen1Config:
    """The hybrid STFT codec: 128 channels at 50 Hz, the first 64 the exactly coded low band.

    Channels 0-47 are the mid signal's MDCT coefficients up to 1.2 kHz and 48-63 the side
    signal's up to 400 Hz (about nine tenths of the energy of the real-music corpus, phase
    included); the learnt encoder codes the rest in channels 64-127, and the decoder's network,
    which reads all 128, predicts what lies above the low band. Magnitude terms only: the phase
    that matters for SI-SDR and for a crossfade against the original is in the low band, and
    the complex and waveform terms make the bins whose phase the latent cannot carry quiet; the
    log-mel power and segment band-energy terms at 4 pull the highs towards their energy, which
    the per-frame log-magnitude terms leave at a quarter (benchmarks/README.md, "the hybrid
    codec").
    """
    v2 = _small_v2()
    return dataclasses.replace(
        v2,
        name="small-v3",
        autoencoder=dataclasses.replace(
            v2.autoencoder, latent_dim=128, lowband_mid=48, lowband_side=16
        ),
        ae_loss=dataclasses.replace(
            v2.ae_loss,
            stft_weight=1.0,
            mel_weight=1.0,
            mid_side_weight=1.0,
            l1_weight=0.0,
            complex_weight=0.0,
            spectrum_weight=0.0,
            mel_power_weight=4.0,
            band_energy_weight=4.0,
        ),
    )


def _paper() -> Jen1Config:
    """JEN-1 as the paper specifies (hop 320, 128-d latent, FLAN-T5, ~700M U-Net, DDIM 200)."""
    return Jen1Config(
        name="paper",
        autoencoder=AutoencoderConfig(
            latent_dim=128,
            encoder_channels=64,
            encoder_mults=(1, 2, 4, 8),
            decoder_channels=96,
            decoder_mults=(1, 2, 4, 8),
            strides=(2, 4, 5, 8),
            dilations=(1, 3, 9),
        ),
        unet=UNetConfig(
            channels=(512, 1024, 1536, 1984),
            num_res_blocks=2,  # 728M params (paper: 726M)
            attn_levels=(False, True, True, True),
            head_dim=64,
            time_dim=1024,
            cross_attn_dim=1024,
            groups=32,
        ),
        diffusion=DiffusionConfig(schedule="linear", objective="eps"),
        text=TextConfig(name="t5:flan-t5-large", dim=1024, max_length=128),
        sampling=SamplingConfig(sampler="ddim", steps=200, cfg_scale=2.0),
        train_autoencoder=TrainConfig(batch_size=32, segment_seconds=2.0, lr=1e-4),
        train_diffusion=TrainConfig(
            batch_size=512,
            segment_seconds=10.0,
            lr=3e-5,
            betas=(0.9, 0.95),
            weight_decay=0.1,
            grad_clip=1.0,
            max_steps=200_000,
            warmup_steps=1000,
        ),
    )


PRESETS = {
    "tiny": _tiny,
    "small": _small,
    "small-v2": _small_v2,
    "small-v3": _small_v3,
    "paper": _paper,
}


def apply_overrides(config: Jen1Config, assignments: list[str]) -> Jen1Config:
    """Apply ``section.key=value`` overrides (values parsed as JSON, else as strings) at once.

    The config is rebuilt (and validated) after all of them, so keys that must change together
    (``diffusion.objective=flow`` with ``diffusion.schedule=flow``) can be given one by one.
    """
    data = _to_jsonable(dataclasses.asdict(config))  # every key, also those to_dict() omits
    for assignment in assignments:
        if "=" not in assignment:
            raise ConfigError(f"override '{assignment}' must look like section.key=value")
        key, raw = assignment.split("=", 1)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            if not isinstance(node, dict) or p not in node:
                raise ConfigError(f"unknown config key '{key}'")
            node = node[p]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise ConfigError(f"unknown config key '{key}'")
        node[parts[-1]] = value
    return Jen1Config.from_dict(data)


def parse_override(config: Jen1Config, assignment: str) -> Jen1Config:
    """Apply one ``section.key=value`` override (value parsed as JSON, else as a string)."""
    return apply_overrides(config, [assignment])


def load_config(spec: str | Path, overrides: list[str] | None = None) -> Jen1Config:
    """Resolve ``tiny|small|paper|FILE`` (a JSON file or a model directory) plus overrides."""
    spec_s = str(spec)
    if spec_s in PRESETS:
        cfg = PRESETS[spec_s]()
    else:
        path = Path(spec_s)
        if path.is_dir():
            path = path / "config.json"
        if not path.exists():
            raise ConfigError(
                f"unknown config '{spec_s}': use one of {', '.join(PRESETS)} or a JSON file path"
            )
        cfg = Jen1Config.load_json(path)
    return apply_overrides(cfg, list(overrides or []))
