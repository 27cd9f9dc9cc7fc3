"""Output paths checked before any work: every file and folder the tool will write, defaults included.

A sweep or a training run that fails at its very end, because the report's folder is read-only or
its name too long, wastes all of its work; these checks try the folder (root ignores permission
bits, and read-only mounts do not show in them) and measure names against the filesystem's own
limits.  Symbolic links are followed: a report written to a link goes to the file it points at.

Also: what an ``OSError`` means in one line (:func:`os_error_line`), "disk full" included.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

#: the errors that mean "no room left", whichever the filesystem reports
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class OutputPathError(ValueError):
    """An output path that cannot be written; the message names it and says why."""


def name_max(folder) -> int:
    """The longest file name (in bytes) the filesystem of ``folder`` allows."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def can_create_in(folder) -> bool:
    """Try it: permission bits say nothing to root, and nothing about read-only or virtual filesystems."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".parity-write-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _nearest_existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if os.path.lexists(p))


def _check_names(path: Path) -> None:
    existing = _nearest_existing(path)
    folder = existing if existing.is_dir() else existing.parent
    limit = name_max(folder)
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise OutputPathError(f"{path}: the name {part[:40]}... is {len(os.fsencode(part))} bytes long; "
                                  f"this filesystem allows at most {limit}")
    if len(os.fsencode(str(path))) >= 4096:
        raise OutputPathError(f"{str(path)[:60]}...: the path is longer than the system's limit (4096 bytes)")


def _check_folder_of(path: Path) -> None:
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise OutputPathError(f"{existing} is not a folder")
    if not can_create_in(existing):
        raise OutputPathError(f"{existing} is not writable")


def check_output_file(text) -> Path:
    """The file ``text`` can be written now (a link: the file it points at); return it as a Path.

    Its folder exists and is writable, or can be created (``reports/parity.json`` on a fresh clone).
    """
    path = Path(text).expanduser()
    _check_names(path.absolute())
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise OutputPathError(f"{text} is a folder, not a file")
    if os.path.lexists(target) and not target.is_file():
        raise OutputPathError(f"{text} is not a regular file")
    _check_names(target)
    _check_folder_of(target.parent)
    return path


def check_output_dir(text) -> Path:
    """The folder ``text`` exists and is writable, or can be created in a writable folder."""
    path = Path(text).expanduser()
    _check_names(path.absolute())
    if path.is_symlink() and not path.exists():
        raise OutputPathError(f"{text} is a symbolic link to {os.readlink(path)}, which does not exist; create "
                              "that folder, or give another one")
    target = Path(os.path.realpath(path))
    if os.path.lexists(target) and not target.is_dir():
        raise OutputPathError(f"{text} exists and is not a folder")
    _check_names(target)
    _check_folder_of(target)
    return path


def os_error_line(err: OSError) -> str:
    """One line for an ``OSError``: which file, and "disk full" when that is what it means."""
    where = f"{err.filename}: " if err.filename else ""
    if err.errno in DISK_FULL:
        return f"{where}disk full ({err.strerror or err}); free some space and run again"
    return f"{where}{err.strerror or err}"
