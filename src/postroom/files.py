"""File-system durability helpers shared by the blob store and the destinations that file messages.

A new file survives a crash only once its folder's entry for it is on disk too: :func:`fsync_folder`
for one folder, :func:`syncfs` (Linux ``syncfs(2)``) for everything on a file system at once.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import cast

_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


def _load_syncfs() -> Callable[[int], int] | None:
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "syncfs", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast("Callable[[int], int]", function)


_SYNCFS = _load_syncfs()


def has_syncfs() -> bool:
    return _SYNCFS is not None


def fsync_folder(path: str | os.PathLike[str]) -> None:
    """Make the entries of the folder ``path`` durable."""
    fd = os.open(path, _DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: str | os.PathLike[str]) -> None:
    """Write back and wait for everything on the file system holding ``path`` (files, folders, journal)."""
    if _SYNCFS is None:
        raise OSError("syncfs(2) is not available on this system")
    fd = os.open(path, _DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
    finally:
        os.close(fd)
