"""Small I/O helpers shared by every stage: atomic writes, stale-temporary cleanup, folder locks and
progress bars."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from acoustic_ssl.errors import OutputError, printable_path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: temporaries are not locked, stale ones never removed
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
_UMASK = os.umask(0)
os.umask(_UMASK)
TEMPORARY_SUFFIX = ".tmp"
LOCK_FILE = ".acoustic-ssl.lock"


def _write_error(target: Path, exc: OSError) -> OutputError:
    return OutputError(f"{printable_path(target)}: cannot write ({exc.strerror or exc})")


def _lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd``; False where the platform or file system has no locks (then
    ``remove_stale_temporaries`` cannot tell live temporaries from stale ones and removes none)."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # e.g. ENOLCK on some network file systems
        return False
    return True


def _locked_temporary(target: Path) -> tuple[int, Path]:
    """A new temporary sibling of ``target``, open and exclusively locked for as long as we write it.

    The lock marks it as in use: ``remove_stale_temporaries`` only removes temporaries it can lock, i.e. those
    whose writer died (the kernel drops a killed process's locks). A cleaner that won the race for a brand-new
    file has unlinked it by the time we hold the lock, so we check the name still leads to our file.
    """
    while True:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent)
        if not _lock(fd):
            return fd, Path(name)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(name).st_ino == os.fstat(fd).st_ino:
                return fd, Path(name)
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds.

    Readers never see a half-written file and an interrupted write leaves the old file intact. A failed
    write (full disk, no permission) raises ``OutputError`` naming ``path``.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _locked_temporary(target)
    except OSError as exc:
        raise _write_error(target, exc) from exc
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions an ordinary open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) != tmp:
            raise  # about another file (an input read inside the block): the CLI names that one
        raise _write_error(target, exc) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.close(fd)


@contextlib.contextmanager
def staging_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new, locked temporary sibling folder of ``path`` to fill and then ``os.replace`` onto it; it is
    removed if it is still there when the block ends (an error), and by ``remove_stale_temporaries`` if the
    process is killed."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent))
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise _write_error(target, exc) from exc
    try:
        _lock(fd)
        yield folder
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def replace_folder(staging: Path, target: Path) -> None:
    """Put the complete folder ``staging`` (a ``staging_dir``) in the place of ``target``, which may hold an
    older result: readers see the old folder or the new one, never a mixture of both (no stale file of a
    longer old result survives). The old folder is moved to a temporary name first and then removed; a kill
    between the two renames leaves both as temporaries, which ``remove_stale_temporaries`` removes."""
    try:
        if target.is_dir() and any(target.iterdir()):
            old = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent)
            os.replace(target, old)  # onto the new, empty folder: rename(2) allows that
            try:
                os.replace(staging, target)
            except OSError:
                os.replace(old, target)  # put the old result back
                raise
            shutil.rmtree(old, ignore_errors=True)
            return
        if target.is_dir():
            target.rmdir()
        os.replace(staging, target)
    except OSError as exc:
        raise _write_error(target, exc) from exc


def _lock_holder(fd: int) -> str:
    """Who holds the lock file ``fd``: what the holder wrote into it (it writes just after taking the lock,
    so wait a moment for a holder that has only just started)."""
    for _ in range(40):
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
        if text:
            return text
        time.sleep(0.005)
    return "another process"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], command: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (its ``LOCK_FILE``, created with the folder) for the block.

    Two writers into one folder (two ``import-video`` or ``train`` runs) would interleave or lose each other's
    files; the second stops at once with one line naming the holder (command, pid and host, which the holder
    writes into the lock file). The kernel drops a killed holder's lock, so a lock is never stale. Where the
    file system has no locks (some network file systems) the block runs unlocked.
    """
    folder = Path(folder)
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(fd)
                raise OutputError(
                    f"{printable_path(folder)}: in use by {holder}; wait for it to finish or choose another "
                    "output"
                ) from None
            except OSError:  # ENOLCK: no locks here
                pass
        holder = f"acoustic-ssl {command} (pid {os.getpid()} on {socket.gethostname()})\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode("utf-8"), 0)
        yield
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | os.PathLike[str], pattern: str) -> int:
    """Remove the temporaries (``atomic_path`` files, ``staging_dir`` folders) left for outputs named
    ``pattern`` (a glob) in ``folder`` by a writer that was killed (SIGKILL, power loss); temporaries being
    written right now are locked by their writer and kept.

    Returns the number removed.
    """
    if fcntl is None:
        return 0
    removed = 0
    for name in glob.glob(os.path.join(glob.escape(os.fspath(folder)), f".{pattern}.*{TEMPORARY_SUFFIX}")):
        try:
            fd = os.open(name, os.O_RDONLY)
        except OSError:  # already gone, or not ours to read
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer holds it
            if os.stat(name).st_ino == os.fstat(fd).st_ino:  # not renamed away meanwhile
                if os.path.isdir(name):
                    shutil.rmtree(name)
                else:
                    os.unlink(name)
                removed += 1
        except OSError:  # in use, or cannot be removed
            continue
        finally:
            os.close(fd)
    return removed


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    """A progress bar with rates on stderr; silent when ACOUSTIC_SSL_NO_PROGRESS is set (tests, CI logs)."""
    disable = bool(os.environ.get("ACOUSTIC_SSL_NO_PROGRESS")) or not sys.stderr
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True)
