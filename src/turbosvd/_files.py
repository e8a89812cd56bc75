"""Files handled safely: atomic saves over regular files only, and untrusted ZIP input.

The guarantees every model file gets, whatever its model class (``persist`` builds the
format on these pieces):

Saving (``check_save_path``, ``atomic_write``)
    Only at a new path or over a regular file (through symlinks, which are followed): a
    folder, a path ending in a separator, a FIFO, a device or a socket is refused, so a save
    never turns a device node into a regular file. The bytes go to a temporary file in the
    target's folder, are flushed and fsynced, then renamed over the target: a failure at
    any point (an exception, Ctrl-C, a full disk) leaves what was there untouched.

Loading (``open_regular``, ``UntrustedZip``)
    Only regular files: a FIFO or a device is refused from ``fstat`` of a descriptor
    opened without blocking, so nothing hangs and nothing reads an endless stream. A ZIP
    entry is used only when its declared sizes fit in the file (stored: no larger than its
    bytes; deflated: at most deflate's 1032:1 ratio), its compression is stored or deflate,
    its ZIP version is supported and it is not encrypted. ``.npy`` members are read only
    after their header matches the expected dtype and shape, into an array allocated for
    that shape, never through pickle. Every failure is a ``ValueError`` naming the file.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from typing import IO

import numpy as np

__all__ = ["UntrustedZip", "atomic_write", "check_save_path", "json_depth", "open_regular"]

_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# Deflate cannot expand data by more than about 1032:1; a larger declared size is forged.
_DEFLATE_MAX_RATIO = 1032
# Bytes a .npy header may take (numpy pads headers to 64 bytes; allow slack).
NPY_HEADER_MAX = 1 << 16
# Array dtypes a file may hold: bool, integers, floats, unicode (never objects, records,
# datetimes or sub-arrays).
_ARRAY_KINDS = "biufU"


def file_kind(mode: int) -> str:
    """``'a FIFO (named pipe)'``, ``'a character device'``... for a non-regular ``st_mode``."""
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")


# --------------------------------------------------------------------------- saving
def check_save_path(path, what: str = "the model") -> str:
    """The file a save to ``path`` would write, or an error saying why it may not.

    Called by every save and, before any training, by ``turbosvd fit -o``.

    Returns
    -------
    str
        The real path (symlinks resolved): a regular file or a new path.

    Raises
    ------
    IsADirectoryError
        If ``path`` is a folder or ends with a path separator.
    ValueError
        If ``path`` exists and is not a regular file (a FIFO, a device, a socket).
    FileNotFoundError
        If the folder that would hold the file does not exist.
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or path.endswith(os.sep) or (os.altsep and path.endswith(os.altsep)):
        raise IsADirectoryError(
            f"cannot save {what} to {path!r}: a path ending in {os.sep!r} names a folder; "
            f"give a file name (e.g. {os.path.join(path, 'model.tsvd')!r})"
        )
    target = os.path.realpath(path)  # saving through a symlink updates its target
    try:
        st = os.stat(target)
    except FileNotFoundError:
        directory = os.path.dirname(target)
        if not os.path.isdir(directory):
            raise FileNotFoundError(
                f"cannot save {what} to {path!r}: folder {directory!r} does not exist"
            ) from None
        return target
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"cannot save {what} to {path!r}: it is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(
            f"cannot save {what} to {path!r}: it is {file_kind(st.st_mode)}; files are saved "
            "only over regular files or at new paths"
        )
    return target


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write through ``write(f)`` to a temporary file, fsync, then rename over ``path``."""
    target = check_save_path(path)
    directory = os.path.dirname(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        check_save_path(path)  # again: a FIFO or a device may have appeared meanwhile
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no portable way to read it without setting it
    os.umask(mask)
    return mask


def _fsync_dir(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -------------------------------------------------------------------------- loading
def open_regular(path: str, what: str = "model file") -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file (through symlinks); never blocks.

    A FIFO would block ``open`` until a writer appears, and the zero device never ends:
    the file is opened without blocking and checked with ``fstat`` on that descriptor (no
    race between the check and the open).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a regular file or cannot be opened; the message names it.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path!r}") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read the file ({e.strerror or e})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ValueError(f"{path}: is a directory, not a {what}")
        if not stat.S_ISREG(mode):
            raise ValueError(
                f"{path}: is {file_kind(mode)}; a {what} is read only from a regular file"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def json_depth(value, limit: int) -> int:
    """Nesting depth of lists and dicts in a JSON value, counted up to ``limit + 1``,
    without recursion (a file's metadata may be nested 100,000 levels deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            if level <= limit:  # deeper is refused anyway: stop counting
                stack.extend((child, level + 1) for child in node)
    return deepest


class UntrustedZip:
    """A ZIP archive from an untrusted source, read member by member within checked bounds.

    Use as a context manager; every problem raises ``ValueError`` naming the file (through
    ``fail``, which subclasses reuse for their own checks).
    """

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        self._file = open_regular(self.path)
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            self.zf = zipfile.ZipFile(self._file)
        except zipfile.BadZipFile:
            self._file.seek(0)
            head = self._file.read(4)
            self._file.close()
            if head.startswith(b"PK"):
                self.fail("the file is truncated or corrupted (its ZIP directory is unreadable)")
            self.fail("not a turbosvd model file (not a ZIP archive)")
        except NotImplementedError as e:
            self._file.close()
            self.fail(f"unsupported ZIP version or feature ({e})")
        except (OSError, EOFError, ValueError, OverflowError, MemoryError) as e:
            self._file.close()
            self.fail(f"the file is truncated or corrupted (its ZIP directory: {e})")
        except BaseException:
            self._file.close()
            raise
        return self

    def __exit__(self, *exc):
        self.zf.close()
        self._file.close()

    def fail(self, problem: str):
        raise ValueError(f"{self.path}: {problem}")

    def has(self, name: str) -> bool:
        return name in self.zf.namelist()

    def info(self, name: str) -> zipfile.ZipInfo:
        """The entry of a member, after checking its declared sizes against the file."""
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            self.fail(f"corrupted model file: member {name!r} is missing")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            self.fail(
                f"member {name!r} uses ZIP compression method {info.compress_type}; model "
                "files are stored or deflated"
            )
        if info.extract_version > zipfile.MAX_EXTRACT_VERSION:
            self.fail(
                f"unsupported ZIP version: member {name!r} needs version "
                f"{info.extract_version / 10:.1f} to extract (this reader supports up to "
                f"{zipfile.MAX_EXTRACT_VERSION / 10:.1f})"
            )
        if info.flag_bits & 0x1:
            self.fail(f"member {name!r} is encrypted")
        if info.header_offset + info.compress_size > self.size:
            self.fail(
                f"corrupted model file: member {name!r} declares {info.compress_size} bytes "
                f"at offset {info.header_offset}, beyond the end of the {self.size}-byte file"
            )
        limit = info.compress_size
        if info.compress_type == zipfile.ZIP_DEFLATED:
            limit = _DEFLATE_MAX_RATIO * info.compress_size + 64
        if info.file_size > limit:
            self.fail(
                f"corrupted model file: member {name!r} declares {info.file_size} bytes, more "
                f"than its {info.compress_size} stored bytes can hold"
            )
        return info

    def _read(self, name: str, reader):
        info = self.info(name)
        try:
            with self.zf.open(info) as f:
                return reader(f)
        except zipfile.BadZipFile as e:
            self.fail(f"the file is corrupted ({e})")
        except (EOFError, OSError, NotImplementedError, RuntimeError, zlib.error) as e:
            self.fail(f"the file is truncated or corrupted (reading {name!r}: {e})")
        except MemoryError:
            self.fail(f"corrupted model file: member {name!r} declares more data than fits")

    def read_bytes(self, name: str, limit: int) -> bytes:
        """A member's bytes, refused when larger than ``limit``."""
        data = self._read(name, lambda f: f.read(limit + 1))
        if len(data) > limit:
            self.fail(f"member {name!r} is larger than {limit >> 20} MiB")
        return data

    def check_dtype(self, where: str, text) -> np.dtype:
        """A declared array dtype, refused unless numeric or unicode."""
        try:
            dtype = np.dtype(text)
        except (TypeError, ValueError):
            self.fail(f"corrupted model file: {where} has an invalid dtype {text!r}")
        if dtype.hasobject:
            self.fail(f"corrupted model file: {where} declares an object dtype")
        if dtype.kind not in _ARRAY_KINDS or dtype.fields or dtype.subdtype:
            self.fail(f"corrupted model file: {where} has an unsupported dtype {text!r}")
        return dtype

    def read_npy(self, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        """A ``.npy`` member that must hold ``dtype`` and ``shape`` exactly (C order).

        The member's size and its header are checked before the array is allocated, so a
        header claiming a larger shape than the metadata never costs memory. Floating
        arrays must be finite.
        """
        nbytes = dtype.itemsize * math.prod(shape)
        info = self.info(name)
        if not nbytes <= info.file_size <= nbytes + NPY_HEADER_MAX:
            self.fail(
                f"corrupted model file: member {name!r} has {info.file_size} bytes, but its "
                f"declared shape {shape} and dtype {dtype} need {nbytes}"
            )

        def read(f):
            header = self._npy_header(f, name)
            found_shape, fortran, found_dtype = header
            if found_dtype != dtype or tuple(found_shape) != shape or fortran:
                self.fail(
                    f"corrupted model file: member {name!r} holds {found_dtype} {found_shape}"
                    f"{' (Fortran order)' if fortran else ''}, expected {dtype} {shape}"
                )
            if f.tell() + nbytes != info.file_size:
                self.fail(
                    f"corrupted model file: member {name!r} has {info.file_size} bytes, "
                    f"expected {f.tell() + nbytes} for {dtype} {shape}"
                )
            arr = np.empty(shape, dtype=dtype)
            view = memoryview(arr.reshape(-1).view(np.uint8))
            done = 0
            while done < nbytes:
                n = f.readinto(view[done:])
                if not n:
                    self.fail(f"the file is truncated or corrupted ({name!r} ends early)")
                done += n
            if f.read(1):  # also makes zipfile check the CRC
                self.fail(f"corrupted model file: member {name!r} has trailing data")
            return arr

        arr = self._read(name, read)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            self.fail(f"corrupted model file: {name} holds NaN or infinite values")
        return arr

    def _npy_header(self, f, name: str):
        fmt = np.lib.format
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                return fmt.read_array_header_1_0(f, max_header_size=NPY_HEADER_MAX)
            if version == (2, 0):
                return fmt.read_array_header_2_0(f, max_header_size=NPY_HEADER_MAX)
            raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError) as e:
            self.fail(f"corrupted model file: member {name!r} is not a valid array ({e})")
