"""File writes jen1 makes: output paths checked before any work, atomic writes that keep the
user's umask.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from jen1.errors import Jen1Error

# Kernel file systems: a "file" there is a kernel interface, never an output.
VIRTUAL_ROOTS = ("/proc", "/sys", "/dev")


def check_writable(path: Path, overwrite: bool) -> None:
    """Raise if ``path`` exists and ``overwrite`` is False (nothing the user gave is clobbered)."""
    if path.exists() and not overwrite:
        raise Jen1Error(f"{path} already exists (pass --overwrite to replace it)")


def check_output_path(
    path: str | Path,
    *,
    overwrite: bool = False,
    suffixes: Sequence[str] | None = (".wav",),
    flag: str = "the output",
) -> Path:
    """Check that jen1 can write ``path`` before any work starts; raise a one-line error if not.

    Refused: a suffix not in ``suffixes`` (``None`` allows any), a path that is a directory or
    any other non-regular file (``--overwrite`` or not), an existing file without ``overwrite``,
    a path under /proc, /sys or /dev, a parent folder that is missing, is a file, or cannot be
    written (checked by creating and removing a probe file there, which also catches read-only
    file systems and permissions root alone would pass).

    Returns:
        ``path`` as a :class:`Path`.
    """
    path = Path(path)
    if path.is_dir():
        raise Jen1Error(f"{path} is a directory; give a file name such as {path / 'out.wav'}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise Jen1Error(f"{flag} must be a {' or '.join(suffixes)} file, got {path}")
    resolved = Path(os.path.abspath(path))
    root = next((r for r in VIRTUAL_ROOTS if Path(r) in resolved.parents), None)
    if root is not None:
        raise Jen1Error(f"cannot write {path}: {root} is a kernel file system, not for files")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise Jen1Error(f"{path} exists and is not a regular file")
        if not overwrite:
            raise Jen1Error(f"{path} already exists (pass --overwrite to replace it)")
    parent = resolved.parent
    if not parent.exists():
        above = next((p for p in parent.parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise Jen1Error(f"cannot write {path}: {above} is a file, not a folder")
        raise Jen1Error(f"cannot write {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise Jen1Error(f"cannot write {path}: {parent} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
    except OSError as e:
        why = "it is read-only" if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else None
        raise Jen1Error(f"cannot write {path}: {why or e.strerror} ({parent})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def current_umask() -> int:
    """The process umask, read without changing it (``os.umask`` can only set it, which races
    with other threads creating files); falls back to set-and-restore off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the umask (mkstemp's files are 0600)."""
    return 0o666 & ~current_umask()


def make_temp_beside(path: Path) -> Path:
    """Create an empty hidden temporary file next to ``path`` with a new file's usual mode."""
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
    )
    try:
        os.fchmod(fd, new_file_mode())
    finally:
        os.close(fd)
    return Path(tmp)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    The parent directory is created; the file gets the permissions the umask gives a new file;
    on failure the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = make_temp_beside(path)
    try:
        write(tmp_path)
        # writers that replace the file (rather than write into it) would reset the mode
        os.chmod(tmp_path, new_file_mode())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda p: p.write_bytes(data))


def copy_folder(src: Path, dst: Path) -> None:
    """Copy the files of the flat folder ``src`` to a new folder ``dst``, with the modes the
    umask gives new files (not the source's); a copy cut short leaves no ``dst`` behind."""
    import shutil

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        for f in sorted(Path(src).iterdir()):
            if f.is_file():
                shutil.copyfile(f, tmp / f.name)  # content only: the new file's own mode
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
