"""Local payloads: files named with `--file`, folders of them, and drop folders.

Files are hostile until proven otherwise. Only regular files are read: a symbolic link (to
``/etc/shadow`` or to a folder), a hard link, a FIFO, a device or a socket is skipped with a
message naming it, and is never opened (a hard link is refused once opened). The check is made on the open descriptor (``O_NOFOLLOW |
O_NONBLOCK``, then ``fstat``), so a file swapped for a link between listing and reading is
refused too, and a FIFO cannot hang the run.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from envwatch.errors import FetchError, UsageError

_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class NotRegularFile(FetchError):
    """A path that is not a regular file (link, FIFO, device, socket, folder): skipped."""


def what_is(mode: int, links: int = 1) -> str | None:
    """Words for a file that is not a plain regular file, or None for one.

    A regular file with more than one name (a hard link) is refused too: it may be another
    user's file (``/etc/shadow``) given a second name in the drop folder.
    """
    if stat.S_ISREG(mode):
        return None if links <= 1 else f"a hard link (a file with {links} names)"
    for test, words in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def _skipped(path: Path, what: str) -> NotRegularFile:
    return NotRegularFile(
        f"{path}: skipped, {what}: envwatch reads only regular files; "
        "copy the file itself into the folder"
    )


def read_regular(path: Path) -> bytes:
    """The bytes of `path` if it is a regular file (not through a link); else NotRegularFile.

    Raises FetchError (retryable) when the file does not exist, and OSError for other
    failures to read (permissions, I/O errors), which fail this payload alone.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise FetchError(
            f"{path}: no file for this day yet; the next run tries again", retryable=True
        ) from None
    what = what_is(st.st_mode, st.st_nlink)
    if what is not None:
        raise _skipped(path, what)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:  # replaced by a link since lstat
            raise _skipped(path, "a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        what = what_is(st.st_mode, st.st_nlink)
        if what is not None:
            raise _skipped(path, what)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def modified_at(path: Path) -> datetime:
    """When the file was last modified (not after now), aware UTC; links are not followed."""
    now = datetime.now(UTC)
    try:
        return min(datetime.fromtimestamp(os.lstat(path).st_mtime, tz=UTC), now)
    except OSError:
        return now


def local_files(files: Sequence[str | Path], patterns: Sequence[str]) -> Iterator[Path]:
    """The files to read: each file named, and in each folder named the entries matching
    `patterns` (sorted by name). Entries that are not regular files are listed too: reading
    them fails that payload alone, with a message naming it."""
    for f in files:
        p = Path(f)
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            raise UsageError(f"{p}: no such file") from None
        except OSError as e:
            raise UsageError(f"{p}: cannot read it ({e.strerror}); check the path") from None
        if stat.S_ISDIR(st.st_mode) or (stat.S_ISLNK(st.st_mode) and p.is_dir()):
            # a folder named by the operator (even through a link) is read; links inside it are not
            yield from _folder(p, patterns)
        else:
            yield p


def _folder(folder: Path, patterns: Sequence[str]) -> Iterator[Path]:
    try:
        names = sorted(e.name for e in os.scandir(folder))
    except OSError as e:
        raise UsageError(f"{folder}: cannot list this folder ({e.strerror})") from None
    found = [n for n in names if any(fnmatch.fnmatch(n, pat) for pat in patterns)]
    if not found:
        raise UsageError(f"{folder}: no {' or '.join(patterns)} files in this folder")
    for name in found:
        yield folder / name
