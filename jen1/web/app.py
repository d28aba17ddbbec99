"""The Gradio web UI: Generate, Inpaint, Continue and Remix tabs over one loaded pipeline.

``build_app(pipeline, settings)`` returns a ``gr.Blocks`` with its bounded queue set; it holds
no module-level model and no globals (the model is passed in and loaded once per server).
``jen1.web.server`` mounts it next to the HTTP API; ``jen1 serve`` runs both.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jen1.errors import Jen1Error
from jen1.request import DEFAULT_STRENGTH, MAX_ADAPTER_SCALE
from jen1.web.jobs import READABLE, ModelRunner, Result, load_upload, parse_sampling
from jen1.web.results import ResultStore
from jen1.web.settings import ServerSettings

EXAMPLES = (
    "calm solo piano ballad, slow, in C major",
    "upbeat funk with slap bass and drums at 110 BPM",
    "ambient pad with soft strings, dreamy",
    "energetic rock with distorted guitars and drums",
)


def _user_error(e: BaseException) -> Exception:
    """Turn what went wrong into the one-line message the browser shows."""
    import gradio as gr

    if isinstance(e, Jen1Error):
        return gr.Error(str(e), print_exception=False)
    text = str(e).lower()
    if isinstance(e, MemoryError) or "out of memory" in text or "can't allocate memory" in text:
        return gr.Error(
            "out of memory: try a shorter duration or fewer steps", print_exception=False
        )
    return e


def _info(r: Result) -> str:
    new = r.region[1] - r.region[0]
    what = {
        "generate": f"{r.seconds:.2f} s generated",
        "inpaint": f"{new:.2f} s regenerated "
        f"({r.region[0]:.2f}-{r.region[1]:.2f} s) of {r.seconds:.2f} s",
        "continue": f"{new:.2f} s added, {r.seconds:.2f} s in all",
        "remix": f"{r.seconds:.2f} s remixed",
    }[r.task]
    told = f" · controls: {r.controls}" if r.controls else ""
    return (
        f"**seed {r.seed}** · {what} · {r.steps} steps {r.sampler}, "
        f"CFG {r.cfg_scale:g} · {r.elapsed:.1f} s{told}"
    )


def _controls(bpm: Any, key: Any, meter: Any, chords: Any) -> dict[str, Any]:
    return {"bpm": bpm, "key": key, "meter": meter, "chords": chords}


def _history_table(history: list[dict]) -> str:
    if not history:
        return "_No results yet in this tab._"
    rows = ["| # | task | prompt | seed | length | file |", "|---|---|---|---|---|---|"]
    for k, h in enumerate(reversed(history), 1):
        prompt = (h["prompt"] or "(none)").replace("|", "\\|")[:80]
        rows.append(
            f"| {k} | {h['task']} | {prompt} | {h['seed']} | {h['seconds']:.2f} s "
            f"| {Path(h['path']).name} |"
        )
    return "\n".join(rows)


def build_app(
    pipeline: Any,
    settings: ServerSettings | None = None,
    *,
    runner: ModelRunner | None = None,
    store: ResultStore | None = None,
):
    """Build the web UI.

    Args:
        pipeline: a loaded :class:`jen1.pipeline.Pipeline`.
        settings: limits and queue size (default :class:`ServerSettings()`).
        runner: the shared model runner (made from ``pipeline`` when not given; pass the
            server's so that the UI and the HTTP API share the model slots).
        store: where result WAVs go (a new temporary directory when not given).

    Returns:
        ``gr.Blocks`` with ``queue(max_size=settings.max_queue,
        default_concurrency_limit=settings.concurrency)`` applied.
    """
    import gradio as gr

    from jen1.diffusion.samplers import SAMPLERS
    from jen1.web.plots import render_audio_image

    settings = settings or ServerSettings()
    runner = runner or ModelRunner(pipeline, settings)
    if store is None:
        directory = settings.results_dir or tempfile.mkdtemp(prefix="jen1-web-")
        store = ResultStore(directory, settings.keep_results)
    defaults = pipeline.cfg.sampling
    max_s = settings.max_seconds

    def finish(r: Result, history: list[dict]) -> tuple:
        path = str(store.save(r.wav, f"{r.task}-seed{r.seed}"))
        image = render_audio_image(r.wav, r.region)
        entry = {
            "task": r.task,
            "prompt": r.prompt,
            "seed": r.seed,
            "seconds": r.seconds,
            "path": path,
        }
        history = (list(history or []) + [entry])[-settings.history :]
        files = [h["path"] for h in reversed(history) if Path(h["path"]).exists()]
        return path, path, _info(r), image, history, _history_table(history), files or None

    def progress_fn(progress: Any, desc: str) -> Callable[[int, int], None]:
        return lambda i, n: progress((i, n), desc=desc, unit="steps")

    def upload(audio_path: Any) -> Any:
        if not audio_path:
            raise gr.Error("upload an audio file first", print_exception=False)
        try:
            return load_upload(audio_path, settings)
        except Jen1Error as e:
            raise _user_error(e) from None

    def run_generate(
        prompt,
        seconds,
        steps,
        cfg,
        sampler,
        seed,
        negative,
        adapter_scale,
        bpm,
        key,
        meter,
        chords,
        history,
        progress=gr.Progress(),  # noqa: B008 (Gradio injects progress this way)
    ):
        try:
            sampling = parse_sampling(steps, cfg, sampler, seed, negative, adapter_scale)
            progress(0, desc="waiting for the model")
            ctl = _controls(bpm, key, meter, chords)
            cb = progress_fn(progress, "generating")
            r = runner.generate(prompt, seconds, sampling, cb, controls=ctl)
        except Exception as e:  # noqa: BLE001 - re-raised as the message the user sees
            raise _user_error(e) from None
        return finish(r, history)

    def run_inpaint(
        audio_path,
        start,
        end,
        prompt,
        steps,
        cfg,
        sampler,
        seed,
        negative,
        adapter_scale,
        bpm,
        key,
        meter,
        chords,
        history,
        progress=gr.Progress(),  # noqa: B008 (Gradio injects progress this way)
    ):
        wav = upload(audio_path)
        try:
            sampling = parse_sampling(steps, cfg, sampler, seed, negative, adapter_scale)
            progress(0, desc="waiting for the model")
            ctl = _controls(bpm, key, meter, chords)
            cb = progress_fn(progress, "inpainting")
            r = runner.inpaint(wav, start, end, prompt, sampling, cb, controls=ctl)
        except Exception as e:  # noqa: BLE001
            raise _user_error(e) from None
        return finish(r, history)

    def run_continue(
        audio_path,
        seconds,
        prompt,
        steps,
        cfg,
        sampler,
        seed,
        negative,
        adapter_scale,
        bpm,
        key,
        meter,
        chords,
        history,
        progress=gr.Progress(),  # noqa: B008 (Gradio injects progress this way)
    ):
        wav = upload(audio_path)
        try:
            sampling = parse_sampling(steps, cfg, sampler, seed, negative, adapter_scale)
            progress(0, desc="waiting for the model")
            ctl = _controls(bpm, key, meter, chords)
            cb = progress_fn(progress, "continuing")
            r = runner.continue_(wav, seconds, prompt, sampling, cb, controls=ctl)
        except Exception as e:  # noqa: BLE001
            raise _user_error(e) from None
        return finish(r, history)

    def run_remix(
        audio_path,
        strength,
        prompt,
        steps,
        cfg,
        sampler,
        seed,
        negative,
        adapter_scale,
        bpm,
        key,
        meter,
        chords,
        history,
        progress=gr.Progress(),  # noqa: B008 (Gradio injects progress this way)
    ):
        wav = upload(audio_path)
        try:
            sampling = parse_sampling(steps, cfg, sampler, seed, negative, adapter_scale)
            progress(0, desc="waiting for the model")
            ctl = _controls(bpm, key, meter, chords)
            cb = progress_fn(progress, "remixing")
            r = runner.remix(wav, strength, prompt, sampling, cb, controls=ctl)
        except Exception as e:  # noqa: BLE001
            raise _user_error(e) from None
        return finish(r, history)

    def on_upload(audio_path: Any) -> tuple:
        """Check an upload at once and fit the start/end sliders to its duration."""
        if not audio_path:
            return gr.update(), gr.update(), ""
        from jen1.audio import audio_info
        from jen1.errors import AudioError
        from jen1.web.jobs import check_upload_size

        name = Path(audio_path).name
        try:
            check_upload_size(Path(audio_path).stat().st_size, settings, name)
            seconds = audio_info(audio_path)["seconds"]
        except AudioError:
            raise gr.Error(
                f"{name} is not an audio file jen1 can read (use {READABLE})", print_exception=False
            ) from None
        except OSError:
            raise gr.Error(
                f"the upload {name} is missing; upload it again", print_exception=False
            ) from None
        except Jen1Error as e:
            raise _user_error(e) from None
        if seconds > max_s + 1e-6:
            raise gr.Error(
                f"{name} is {seconds:.1f} s long; this server accepts at most {max_s:g} s",
                print_exception=False,
            )
        # default gap: a fifth of the track in its middle, well inside the model's window
        gap = min(0.2 * seconds, 0.4 * defaults.window_seconds)
        start = round(max(0.0, seconds / 2 - gap / 2), 2)
        end = round(min(seconds, start + gap), 2)
        return (
            gr.update(maximum=round(seconds, 2), value=start),
            gr.update(maximum=round(seconds, 2), value=end),
            f"{name}: {seconds:.2f} s",
        )

    def sampling_controls(tab: str) -> list:
        with gr.Accordion("Sampling", open=True):
            with gr.Row():
                steps = gr.Slider(
                    1, 200, value=defaults.steps, step=1, label="Steps", elem_id=f"{tab}-steps"
                )
                cfg = gr.Slider(
                    0,
                    10,
                    value=defaults.cfg_scale,
                    step=0.1,
                    label="CFG scale",
                    elem_id=f"{tab}-cfg",
                )
            with gr.Row():
                sampler = gr.Dropdown(
                    list(SAMPLERS),
                    value=defaults.sampler,
                    label="Sampler",
                    elem_id=f"{tab}-sampler",
                )
                seed = gr.Textbox(
                    value="", label="Seed (empty = random)", max_lines=1, elem_id=f"{tab}-seed"
                )
            negative = gr.Textbox(
                "", label="Negative prompt (optional)", lines=1, elem_id=f"{tab}-negative"
            )
            adapter = getattr(pipeline, "adapter", None)
            if adapter is None:  # no adapter loaded: the request leaves the scale alone
                adapter_scale: Any = gr.State(None)
            else:
                adapter_scale = gr.Slider(
                    0,
                    MAX_ADAPTER_SCALE,
                    value=adapter.scale,
                    step=0.05,
                    label=f"Adapter scale ({adapter.path.parent.name}; 0 = the base model)",
                    elem_id=f"{tab}-adapter-scale",
                )
        return [steps, cfg, sampler, seed, negative, adapter_scale, *music_controls(tab)]

    has_controls = runner.pipeline.cfg.unet.controls is not None

    def music_controls(tab: str) -> list:
        """Tempo, key, meter and chords (blank: from the prompt, or estimated from the audio)."""
        label = "Musical controls" + ("" if has_controls else " (this model has none)")
        with gr.Accordion(label, open=has_controls):
            with gr.Row():
                one = {"max_lines": 1}
                bpm = gr.Textbox("", label="Tempo (BPM)", elem_id=f"{tab}-bpm", **one)
                key = gr.Textbox("", label="Key (e.g. D minor)", elem_id=f"{tab}-key", **one)
                meter = gr.Textbox("", label="Meter (e.g. 3/4)", elem_id=f"{tab}-meter", **one)
            chords = gr.Textbox(
                "", label="Chords per bar (e.g. Am F | C G)", max_lines=1, elem_id=f"{tab}-chords"
            )
        return [bpm, key, meter, chords]

    def result_panel(tab: str) -> list:
        audio = gr.Audio(
            type="filepath",
            interactive=False,
            label="Result",
            buttons=["download"],
            waveform_options=gr.WaveformOptions(show_recording_waveform=False),
            elem_id=f"{tab}-audio",
        )  # the browser's own player
        info = gr.Markdown(elem_id=f"{tab}-info")
        file = gr.File(
            label="Download WAV (48 kHz stereo, 24-bit)", interactive=False, elem_id=f"{tab}-file"
        )
        image = gr.Image(
            type="numpy",
            format="png",
            interactive=False,
            label="Waveform and spectrogram",
            elem_id=f"{tab}-image",
        )
        return [audio, file, info, image]

    wave_in = gr.WaveformOptions(sample_rate=48000)  # trimming in the browser keeps 48 kHz
    job = {"concurrency_limit": settings.concurrency, "concurrency_id": "model"}
    with gr.Blocks(title="jen1", analytics_enabled=False, delete_cache=(1800, 3600)) as app:
        history = gr.State([])
        gr.Markdown(
            "# jen1: text-guided music generation\n"
            f"48 kHz stereo · up to {max_s:g} s "
            f"· uploads up to {settings.max_upload_mb:g} MB ({READABLE})"
        )
        with gr.Tab("Generate", id="generate"):
            with gr.Row():
                with gr.Column():
                    g_prompt = gr.Textbox(
                        label="Prompt",
                        lines=2,
                        elem_id="generate-prompt",
                        placeholder="e.g. " + EXAMPLES[0],
                    )
                    gr.Examples([[e] for e in EXAMPLES], [g_prompt], label="Examples")
                    g_seconds = gr.Slider(
                        0.5,
                        max_s,
                        value=min(defaults.seconds, max_s),
                        step=0.5,
                        label="Duration (seconds)",
                        elem_id="generate-seconds",
                    )
                    g_sampling = sampling_controls("generate")
                    g_button = gr.Button("Generate", variant="primary", elem_id="generate-button")
                with gr.Column():
                    g_out = result_panel("generate")
        with gr.Tab("Inpaint", id="inpaint"):
            with gr.Row():
                with gr.Column():
                    i_audio = gr.Audio(
                        sources=["upload"],
                        type="filepath",
                        label="Audio to edit",
                        waveform_options=wave_in,
                        elem_id="inpaint-input",
                    )
                    i_loaded = gr.Markdown(elem_id="inpaint-loaded")
                    with gr.Row():
                        i_start = gr.Slider(
                            0, 10, value=4, step=0.01, label="Start (s)", elem_id="inpaint-start"
                        )
                        i_end = gr.Slider(
                            0, 10, value=6, step=0.01, label="End (s)", elem_id="inpaint-end"
                        )
                    i_prompt = gr.Textbox(
                        "",
                        label="Prompt for the new part (optional)",
                        lines=2,
                        elem_id="inpaint-prompt",
                    )
                    i_sampling = sampling_controls("inpaint")
                    i_button = gr.Button("Inpaint", variant="primary", elem_id="inpaint-button")
                with gr.Column():
                    i_out = result_panel("inpaint")
        with gr.Tab("Continue", id="continue"):
            with gr.Row():
                with gr.Column():
                    c_audio = gr.Audio(
                        sources=["upload"],
                        type="filepath",
                        label="Audio to continue",
                        waveform_options=wave_in,
                        elem_id="continue-input",
                    )
                    c_loaded = gr.Markdown(elem_id="continue-loaded")
                    c_seconds = gr.Slider(
                        0.5,
                        max_s,
                        value=min(defaults.seconds, max_s),
                        step=0.5,
                        label="Seconds to add",
                        elem_id="continue-seconds",
                    )
                    c_prompt = gr.Textbox(
                        "",
                        label="Prompt for the continuation (optional)",
                        lines=2,
                        elem_id="continue-prompt",
                    )
                    c_sampling = sampling_controls("continue")
                    c_button = gr.Button("Continue", variant="primary", elem_id="continue-button")
                with gr.Column():
                    c_out = result_panel("continue")
        with gr.Tab("Remix", id="remix"):
            with gr.Row():
                with gr.Column():
                    r_audio = gr.Audio(
                        sources=["upload"],
                        type="filepath",
                        label="Audio to remix",
                        waveform_options=wave_in,
                        elem_id="remix-input",
                    )
                    r_loaded = gr.Markdown(elem_id="remix-loaded")
                    r_strength = gr.Slider(
                        0,
                        1,
                        value=DEFAULT_STRENGTH,
                        step=0.05,
                        label="Strength (0 keeps the input, 1 ignores it)",
                        elem_id="remix-strength",
                    )
                    r_prompt = gr.Textbox(
                        "",
                        label="Prompt: what the remix should sound like",
                        lines=2,
                        elem_id="remix-prompt",
                    )
                    r_sampling = sampling_controls("remix")
                    r_button = gr.Button("Remix", variant="primary", elem_id="remix-button")
                with gr.Column():
                    r_out = result_panel("remix")
        with gr.Accordion("Recent results in this tab", open=True):
            h_table = gr.Markdown(_history_table([]), elem_id="history")
            h_files = gr.File(
                file_count="multiple",
                interactive=False,
                label="Recent files",
                elem_id="history-files",
            )

        tail = [history, h_table, h_files]
        g_button.click(
            run_generate,
            [g_prompt, g_seconds, *g_sampling, history],
            [*g_out, *tail],
            api_name="generate",
            **job,
        )
        i_button.click(
            run_inpaint,
            [i_audio, i_start, i_end, i_prompt, *i_sampling, history],
            [*i_out, *tail],
            api_name="inpaint",
            **job,
        )
        c_button.click(
            run_continue,
            [c_audio, c_seconds, c_prompt, *c_sampling, history],
            [*c_out, *tail],
            api_name="continue",
            **job,
        )
        light = {
            "concurrency_limit": None,
            "api_visibility": "undocumented",
            "show_progress": "hidden",
        }
        i_audio.upload(on_upload, [i_audio], [i_start, i_end, i_loaded], **light)
        c_audio.upload(lambda p: on_upload(p)[2], [c_audio], [c_loaded], **light)
        r_button.click(
            run_remix,
            [r_audio, r_strength, r_prompt, *r_sampling, history],
            [*r_out, *tail],
            api_name="remix",
            **job,
        )
        r_audio.upload(lambda p: on_upload(p)[2], [r_audio], [r_loaded], **light)
    app.queue(max_size=settings.max_queue, default_concurrency_limit=settings.concurrency)
    return app
