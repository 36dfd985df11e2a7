"""The files themselves: extension checks, atomic writes, and reading a ``.keras`` zip archive.

Writes go through ``scratchnet.utils.atomic_write`` (temporary file, flush, rename), so a crash
mid-write leaves the previous file intact. Reads turn a missing, truncated, foreign or hostile
file into a ``ValueError`` that names the file and says what is wrong with it:

* a member is looked up by name once: a missing, duplicated, encrypted or directory member is
  refused before anything is read;
* a member's size as its zip header declares it is checked against a bound *before* it is
  decompressed (``config.json`` at most ``CONFIG_LIMIT`` bytes; ``model.weights.h5`` in
  proportion to the model the config describes, see ``weights.check_proportion``), and it is
  read through a bounded read: zipfile stops at the declared size and checks the CRC, so a
  header that lies about the size gives an error, never more bytes. A zip bomb (a small member
  that inflates to gigabytes) is refused without inflating it;
* ``config.json`` must be UTF-8 JSON nested at most ``MAX_NESTING`` levels deep (Keras's
  configs are about 10 deep): deeper nesting is refused instead of overflowing the stack.
"""

import contextlib
import json
import os
import zipfile
import zlib

from ..utils import atomic_write


def _check_extension(filepath, extensions, what, hint):
    filepath = os.fspath(filepath)
    if not filepath.endswith(extensions):
        wanted = " or ".join(f"'{e}'" for e in extensions)
        message = (
            f"{what}: the file name must end in {wanted}, as Keras requires; got '{filepath}'."
        )
        if hint:
            message += f" (To save the other format, use {hint}.)"
        raise ValueError(message)
    return filepath


def _write_archive(filepath, members):
    """Write ``{member name: str or bytes}`` as an uncompressed zip archive (as Keras), atomically.

    The members are written in the dict's order.
    """

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            for member, data in members.items():
                archive.writestr(member, data)

    atomic_write(filepath, write)


def _write_bytes(filepath, data):
    """Write ``data`` (bytes) as the whole file, atomically."""
    atomic_write(filepath, lambda f: f.write(data))


def _existing(filepath):
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: '{filepath}'.")
    return filepath


CONFIG_LIMIT = 64 * 2**20  # bytes: config.json (a large model's is well under 1 MiB)
MAX_NESTING = 100  # levels of lists and dicts in config.json
# What reading a damaged zip member can raise: a bad header or CRC, a stream cut short, a
# corrupt compressed stream (zlib, bz2 and lzma errors are OSError or RuntimeError subclasses
# or zlib.error), an unsupported compression method, a corrupt extra field.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    zlib.error,
)


def _open_archive(filepath):
    """``zipfile.ZipFile(filepath)``, with a clear error for a file that is not a .keras zip.

    Use it as ``with _open_archive(path) as archive:``.
    """
    path = _existing(filepath)
    try:
        return zipfile.ZipFile(path, "r")
    except _ZIP_ERRORS as e:
        reason = e
    with open(path, "rb") as f:
        head = f.read(8)
    kind = (
        "an HDF5 file (use load_weights for .weights.h5 files)"
        if head.startswith(b"\x89HDF")
        else f"not a zip archive ({reason})"
    )
    raise ValueError(
        f"'{path}' is not a valid .keras file: it is {kind}. It may be truncated (a crash "
        "while copying or saving) or a different format."
    )


def _member(archive, member, filepath):
    """The ``ZipInfo`` of ``member``, after checking the archive holds it once and readably."""
    infos = [info for info in archive.infolist() if info.filename == member]
    if not infos:
        names = archive.namelist()[:10]
        raise ValueError(
            f"'{filepath}' is a zip archive but not a Keras .keras file: it has no '{member}' "
            f"(members: {names})."
        )
    if len(infos) > 1:
        raise ValueError(
            f"'{filepath}' is damaged: it has {len(infos)} members named '{member}' (a Keras "
            "file has one of each), so which one to load is ambiguous."
        )
    (info,) = infos
    if info.is_dir() or info.flag_bits & 0x1:
        kind = "a directory" if info.is_dir() else "encrypted"
        raise ValueError(f"'{filepath}' is damaged: its member '{member}' is {kind}.")
    return info


def _check_declared_size(info, limit, filepath, why):
    """Refuse a member whose header declares more than ``limit`` bytes, before decompressing."""
    if info.file_size > limit:
        raise ValueError(
            f"'{filepath}': its member '{info.filename}' declares {info.file_size:,} bytes "
            f"({info.compress_size:,} stored), more than the {limit:,} {why}; refusing to read "
            "it (a damaged header or a zip bomb)."
        )


def _read_member(archive, info, limit, filepath, why):
    """The member's bytes: its declared size checked against ``limit``, then a bounded read."""
    _check_declared_size(info, limit, filepath, why)
    try:
        with archive.open(info) as f:
            data = f.read(limit + 1)  # zipfile stops at the declared size, then checks the CRC
    except _ZIP_ERRORS as e:
        raise ValueError(
            f"'{filepath}' is damaged: cannot read '{info.filename}' ({type(e).__name__}: {e})."
        ) from None
    if len(data) != info.file_size:
        raise ValueError(
            f"'{filepath}' is damaged: '{info.filename}' declares {info.file_size:,} bytes but "
            f"holds {len(data):,}."
        )
    return data


def _read_json(archive, member, filepath):
    """``config.json`` (or another JSON member) parsed: bounded, UTF-8, at most MAX_NESTING deep."""
    info = _member(archive, member, filepath)
    data = _read_member(archive, info, CONFIG_LIMIT, filepath, "bytes a config may have")
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # JSONDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise ValueError(f"'{filepath}': '{member}' is not valid JSON ({reason}).") from None
    if _nesting(value) > MAX_NESTING:
        raise ValueError(
            f"'{filepath}': '{member}' is nested more than {MAX_NESTING} levels deep (a Keras "
            "config is about 10 levels deep)."
        )
    return value


def _nesting(value):
    """How many levels of lists and dicts ``value`` has (without recursion: the file chooses)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:  # deeper is refused anyway: stop counting
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, depth + 1) for child in children)
    return deepest


# What rebuilding a model from a config of the wrong types or values can raise: a list where a
# dict belongs (AttributeError), a missing key (KeyError), a string where a number belongs
# (TypeError), an impossible value (ValueError), a size too big for an int (OverflowError).
_CONFIG_ERRORS = (
    AttributeError,
    IndexError,
    KeyError,
    LookupError,
    NotImplementedError,
    OverflowError,
    RecursionError,
    TypeError,
    ValueError,
    ZeroDivisionError,
)


@contextlib.contextmanager
def errors_naming(filepath):
    """Within the block, an error from rebuilding the file's model becomes a ValueError that
    names the file (an error that already names it stays as it is)."""
    try:
        yield
    except _CONFIG_ERRORS as e:
        if isinstance(e, ValueError) and filepath in str(e):
            raise
        raise ValueError(
            f"Cannot load '{filepath}': its config is wrong or damaged ({type(e).__name__}: {e})."
        ) from e
