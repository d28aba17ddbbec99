"""The HTTP API: ``POST /api/generate`` (JSON) and ``/api/inpaint``, ``/api/continue``,
``/api/remix`` (multipart) answer with the bytes of a WAV file; ``GET /api/health`` describes
the server.

Errors are ``{"error": "<one line>"}`` with status 400 (bad request), 408 (the body did not
arrive within ``settings.upload_timeout`` seconds), 411 (upload without Content-Length), 413
(upload too large), 503 (queue full: nothing ran, try again) or 500. A client that hangs up
mid-request is one warning line in the server's log.
Requests share the model slots with the web UI (see :class:`jen1.web.jobs.ModelRunner`).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route handlers' annotations
# (``request: Request``, imported inside build_api) as live objects.

import asyncio
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from jen1.errors import Jen1Error
from jen1.audio import AUDIO_EXTENSIONS, SAMPLE_RATE
from jen1.web.jobs import (
    BusyError,
    ModelRunner,
    Result,
    UploadTooLargeError,
    check_upload_size,
    load_upload,
    parse_controls,
    parse_sampling,
)
from jen1.web.results import wav_bytes

SAMPLING_FIELDS = ("seed", "steps", "cfg", "sampler", "negative_prompt", "adapter_scale")
CONTROL_FIELDS = ("bpm", "key", "meter", "chords")  # musical controls (issue 21)
FIELDS = {
    "generate": ("prompt", "seconds", *SAMPLING_FIELDS, *CONTROL_FIELDS),
    "inpaint": ("audio", "prompt", "start", "end", *SAMPLING_FIELDS, *CONTROL_FIELDS),
    "continue": ("audio", "prompt", "seconds", *SAMPLING_FIELDS, *CONTROL_FIELDS),
    "remix": ("audio", "prompt", "strength", *SAMPLING_FIELDS, *CONTROL_FIELDS),
}
FORM_OVERHEAD = 64 * 1024  # bytes of multipart framing and fields allowed beside the file
MAX_NAME_CHARS = 100
log = logging.getLogger("jen1.web")


def upload_name(filename: str | None) -> str:
    """What to call an uploaded file in messages: its last path part, printable, at most
    :data:`MAX_NAME_CHARS` characters; "upload" when nothing usable is left (``..``, NUL)."""
    name = (filename or "").replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if c.isprintable())[:MAX_NAME_CHARS].strip()
    return "upload" if name in ("", ".", "..") else name


def upload_disk_name(name: str) -> str:
    """The uploaded file's name on disk: fixed, with the name's suffix when it is an audio
    one (the client's name never becomes a path: ``..``, 300 bytes or a NUL would break it)."""
    suffix = Path(name).suffix.lower()
    return "upload" + (suffix if suffix in AUDIO_EXTENSIONS else "")


def _error(status: int, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def _refused(e: Jen1Error):
    return _error(413 if isinstance(e, UploadTooLargeError) else 400, str(e))


def _check_fields(task: str, data: dict) -> None:
    unknown = sorted(set(data) - set(FIELDS[task]))
    if unknown:
        raise Jen1Error(
            f"unknown field(s) {', '.join(unknown)}: {task} takes {', '.join(FIELDS[task])}"
        )


def _wav_response(r: Result):
    from fastapi.responses import Response

    name = f"jen1-{r.task}-seed{r.seed}.wav"
    return Response(
        wav_bytes(r.wav),
        media_type="audio/wav",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Jen1-Seed": str(r.seed),
            "X-Jen1-Seconds": f"{r.seconds:.6f}",
            "X-Jen1-Elapsed": f"{r.elapsed:.3f}",
            # what the model was told; ASCII so that it is a valid header ("♯" never occurs)
            **({"X-Jen1-Controls": r.controls} if r.controls else {}),
        },
    )


def build_api(runner: ModelRunner):
    """Make the ``/api`` routes over ``runner``.

    Returns:
        ``fastapi.APIRouter`` to include in the server's app.
    """
    from fastapi import APIRouter, Request
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    settings = runner.settings
    slots = asyncio.Semaphore(settings.concurrency)  # admitted requests wait here, not in threads
    router = APIRouter(prefix="/api")

    async def run(prepare: Callable[[], Callable[[], Result]]):
        """Admit (or refuse when full), prepare the inputs, wait for a slot, run, answer."""
        try:
            runner.admit()
        except BusyError as e:
            return _error(503, str(e))
        try:
            job = await run_in_threadpool(prepare)
            async with slots:
                result = await run_in_threadpool(job)
            return await run_in_threadpool(_wav_response, result)
        except Jen1Error as e:
            return _refused(e)
        except MemoryError:
            return _error(500, "out of memory: try a shorter duration or fewer steps")
        finally:
            runner.release()

    async def receive(read, what: str):
        """Await reading the request body, within the upload timeout."""
        try:
            return await asyncio.wait_for(read(), timeout=settings.upload_timeout)
        except asyncio.TimeoutError:
            raise _HTTPError(
                408, f"{what} did not arrive within {settings.upload_timeout:g} s"
            ) from None
        except ClientDisconnect:
            raise _Disconnected() from None

    async def read_json(request: Request) -> dict:
        body = await receive(request.body, "the request body")
        try:
            data = json.loads(body or b"null")
        except RecursionError:
            raise Jen1Error("the JSON is nested too deeply") from None
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, integers over 4300 digits
            hint = "a number has too many digits" if "digits" in str(e) else "not valid JSON"
            raise Jen1Error(
                f'the body must be JSON, e.g. {{"prompt": "calm piano", "seconds": 5}} ({hint})'
            ) from None
        if not isinstance(data, dict):
            raise Jen1Error('the body must be a JSON object, e.g. {"prompt": "calm piano"}')
        return data

    async def read_form(request: Request, task: str) -> tuple[dict, Path, str, Path]:
        """Multipart form -> (fields, uploaded file on disk, its name, temp dir to remove)."""
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            raise _HTTPError(411, "send the upload with a Content-Length header")
        if int(length) > settings.max_upload_bytes + FORM_OVERHEAD:
            check_upload_size(int(length) - FORM_OVERHEAD, settings, "the upload")
        try:
            form = await receive(
                lambda: request.form(max_files=1, max_fields=len(FIELDS[task])), "the upload"
            )
        except HTTPException as e:  # malformed multipart, too many parts
            raise _HTTPError(e.status_code, f"bad form: {e.detail}") from None
        fields = {k: v for k, v in form.multi_items()}
        _check_fields(task, fields)
        upload = fields.pop("audio", None)
        if not isinstance(upload, UploadFile):
            raise Jen1Error(
                "send the audio file as the form field 'audio' (curl -F audio=@song.wav)"
            )
        name = upload_name(upload.filename)
        tmp = Path(tempfile.mkdtemp(prefix="jen1-upload-"))
        path = tmp / upload_disk_name(name)
        try:
            with path.open("wb") as f:
                await run_in_threadpool(shutil.copyfileobj, upload.file, f)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            await upload.close()
        return fields, path, name, tmp

    @router.get("/health")
    async def health() -> dict:
        d = runner.pipeline.cfg.sampling
        return {
            "status": "ok",
            "sample_rate": SAMPLE_RATE,
            "max_seconds": settings.max_seconds,
            "max_upload_mb": settings.max_upload_mb,
            # whether bpm, key, meter and chords are accepted (a model trained with controls)
            "controls": runner.pipeline.cfg.unet.controls is not None,
            "queue": {
                "admitted": runner.admitted,
                "limit": settings.concurrency + settings.max_queue,
            },
            "defaults": {
                "seconds": d.seconds,
                "steps": d.steps,
                "cfg": d.cfg_scale,
                "sampler": d.sampler,
            },
        }

    @router.post("/generate")
    async def generate(request: Request):
        try:
            data = await read_json(request)
            _check_fields("generate", data)
        except _HTTPError as e:
            return _error(e.status, e.message)
        except _Disconnected:
            return _hung_up(request)
        except Jen1Error as e:
            return _error(400, str(e))

        def prepare() -> Callable[[], Result]:
            sampling = parse_sampling(
                data.get("steps"),
                data.get("cfg"),
                data.get("sampler"),
                data.get("seed"),
                data.get("negative_prompt"),
                data.get("adapter_scale"),
            )
            controls = parse_controls({k: data.get(k) for k in CONTROL_FIELDS})
            return lambda: runner.generate(
                data.get("prompt"), data.get("seconds"), sampling, controls=controls
            )

        return await run(prepare)

    async def audio_route(request: Request, task: str):
        try:
            fields, path, name, tmp = await read_form(request, task)
        except _HTTPError as e:
            return _error(e.status, e.message)
        except _Disconnected:
            return _hung_up(request)
        except Jen1Error as e:
            return _refused(e)

        def prepare() -> Callable[[], Result]:
            try:
                wav = load_upload(path, settings, name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            sampling = parse_sampling(
                fields.get("steps"),
                fields.get("cfg"),
                fields.get("sampler"),
                fields.get("seed"),
                fields.get("negative_prompt"),
                fields.get("adapter_scale"),
            )
            ctl = parse_controls({k: fields.get(k) for k in CONTROL_FIELDS})
            if task == "inpaint":
                return lambda: runner.inpaint(
                    wav, fields.get("start"), fields.get("end"), fields.get("prompt"), sampling,
                    controls=ctl,
                )  # fmt: skip
            if task == "remix":
                return lambda: runner.remix(
                    wav, fields.get("strength"), fields.get("prompt"), sampling, controls=ctl
                )
            return lambda: runner.continue_(
                wav, fields.get("seconds"), fields.get("prompt"), sampling, controls=ctl
            )

        try:
            return await run(prepare)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @router.post("/inpaint")
    async def inpaint(request: Request):
        return await audio_route(request, "inpaint")

    @router.post("/continue")
    async def continue_(request: Request):
        return await audio_route(request, "continue")

    @router.post("/remix")
    async def remix(request: Request):
        return await audio_route(request, "remix")

    return router


class _HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Disconnected(Exception):
    """The client hung up before its request had arrived."""


def _hung_up(request):
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.warning("jen1 serve: %s hung up mid-request on %s", client, request.url.path)
    return _error(400, "the client disconnected")  # nobody reads it; keeps the route's contract
