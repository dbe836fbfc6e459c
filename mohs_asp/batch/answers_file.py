"""Where batch's answers go: a file written whole or not at all (through a symlink, into a
FIFO or a character device straight), never INPUT itself; a write that fails said in words."""

from __future__ import annotations

import errno
import os
import sys
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from ..errors import OutputClosed, OutputError, UsageError


def identity(stream: Any) -> os.stat_result | None:
    """The file behind an open stream (its st_dev and st_ino say which), or None when it has none."""
    try:
        return os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or a stand-in with no descriptor
        return None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def writing(name: str) -> Iterator[None]:
    """A failure to write `name` said in words: OutputClosed when its reader has gone,
    OutputError for anything else (a full disk, a file grown past its limit, an I/O error)."""
    try:
        yield
    except BrokenPipeError:
        raise OutputClosed(f"{name}: its reader has gone") from None
    except OSError as e:
        raise OutputError(f"cannot write {name}: {e.strerror or e}") from None


@dataclass
class Sink:
    """Where the answers are written; `whole` when they replace a file at the end (so after a
    failure that file is as it was)."""

    stream: IO[bytes]
    name: str
    whole: bool

    def write(self, data: bytes) -> None:
        with writing(self.name):  # flushed at once: a failure is said here, never later by surprise
            self.stream.write(data)
            self.stream.flush()


@contextmanager
def output(out: Path | None, source: IO[bytes] | None = None) -> Iterator[Sink]:
    """Where the answers go, refused (UsageError) when it is `source`'s own regular file:

    - None, `/dev/stdout` or any name of the file standard output goes to: standard output;
    - a FIFO or a character device (`/dev/null`): written straight through;
    - a regular file, or a name that does not exist yet: written whole (`_replacing`), behind
      any symlinks (the file the link leads to is replaced; the link stays);
    - anything else (a folder, a socket, a block device): refused."""
    stdout = identity(sys.stdout)
    info, replace, to_stdout = stdout, None, out is None
    if out is not None:
        try:
            info = os.stat(out)
        except FileNotFoundError:
            info = None
        except OSError as e:  # a name too long, a folder it may not enter, a symlink loop
            raise UsageError(f"cannot write {out}: {e.strerror}") from None
        if info is not None and stdout is not None and os.path.samestat(info, stdout):
            to_stdout = True
        elif info is None or stat.S_ISREG(info.st_mode):  # (a new file behind a dangling symlink: the file it names)
            replace = Path(os.path.realpath(out))
        elif not (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else (
                "a block device" if stat.S_ISBLK(info.st_mode) else "not a file")
            raise UsageError(f"--out {out} is {kind}: answers go to a file, a FIFO or a character device")
    read = identity(source)
    if info is not None and read is not None and stat.S_ISREG(info.st_mode) and os.path.samestat(info, read):
        raise UsageError(f"{'standard output' if out is None else f'--out {out}'} is INPUT itself: the answers would replace the cases")
    name = "standard output" if to_stdout else str(out)
    if replace is not None:
        with _replacing(replace, name) as stream:
            yield Sink(stream, name, whole=True)
        return
    if to_stdout:
        with writing(name):
            sys.stdout.flush()  # anything printed before, then the answers
        yield Sink(sys.stdout.buffer, name, whole=False)
        with writing(name):
            sys.stdout.buffer.flush()
        return
    try:
        stream = open(out, "wb")  # noqa: SIM115 -- closed below
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror}") from None
    try:
        yield Sink(stream, name, whole=False)
        with writing(name):
            stream.close()
    finally:
        close_stream(stream)


@contextmanager
def _replacing(target: Path, name: str) -> Iterator[IO[bytes]]:
    """`target` written whole: into a file beside it that replaces it at the end (os.replace:
    atomic, so a reader sees the old file or the new one; another hard link to the old file
    keeps the old answers). On any failure or interruption `target` is left as it was and the
    file goes. Where Linux allows (O_TMPFILE), that file has no name until it is complete, so
    even a SIGKILL leaves nothing behind; elsewhere it is the hidden `.NAME.*.part`."""
    try:
        stream, temp = _temporary(target.parent, target.name)
    except OSError as e:  # no such folder, no right to write there
        raise UsageError(f"cannot write {name}: {e.strerror}") from None
    try:
        try:
            yield stream
            with writing(name):
                stream.flush()
                os.fsync(stream.fileno())
                os.chmod(stream.fileno(), stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask())
                if temp is None:  # named only now, for the moment it takes to rename it
                    temp = _name(stream, target)
                stream.close()
        finally:
            close_stream(stream)  # after a failure, what is still buffered is dropped
        with writing(name):
            os.replace(temp, target)
    except OutputError as e:
        _remove(temp)
        raise type(e)(f"{e}; {name} left as it was") from None
    except BaseException:
        _remove(temp)
        raise


def close_stream(stream: IO[bytes]) -> None:
    try:
        stream.close()
    except OSError:  # the failure that brought us here, again: already reported
        pass


def _temporary(folder: Path, name: str) -> tuple[IO[bytes], str | None]:
    """An open file in `folder` for the answers, and its name: None for a file with no name
    (Linux's O_TMPFILE, where the file system has it), else a new hidden `.NAME.*.part`."""
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        try:
            return os.fdopen(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600), "wb"), None
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):  # not this file system, or kernel
                raise
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name[:200]}.", suffix=".part")
    return os.fdopen(fd, "wb"), temp


def _name(stream: IO[bytes], target: Path) -> str:
    """A new hidden name beside `target` for the unnamed file open as `stream`."""
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        while True:
            temp = f".{target.name[:200]}.{os.urandom(4).hex()}.part"
            try:  # given dst_dir_fd, os.link calls linkat, which follows the /proc link to the open file
                os.link(f"/proc/self/fd/{stream.fileno()}", temp, dst_dir_fd=folder)
                return str(target.parent / temp)
            except FileExistsError:
                pass
    finally:
        os.close(folder)


def _remove(temp: str | None) -> None:
    if temp is not None:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
