"""The files themselves: extension checks, atomic writes, and opening a ``.keras`` zip archive.

Writes go through ``scratchnet.utils.atomic_write`` (temporary file, flush, rename), so a crash
mid-write leaves the previous file intact. Reads turn a missing, truncated or foreign file
into an error that says what is wrong with it.
"""

import json
import os
import zipfile

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


def _open_archive(filepath):
    """``zipfile.ZipFile(filepath)``, with a clear error for a file that is not a .keras zip.

    Use it as ``with _open_archive(path) as archive:``.
    """
    path = _existing(filepath)
    try:
        return zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile:
        with open(path, "rb") as f:
            head = f.read(8)
    kind = (
        "an HDF5 file (use load_weights for .weights.h5 files)"
        if head.startswith(b"\x89HDF")
        else "not a zip archive"
    )
    raise ValueError(
        f"'{path}' is not a valid .keras file: it is {kind}. It may be truncated (a crash "
        "while copying or saving) or a different format."
    )


def _read_member(archive, member, filepath):
    if member not in archive.namelist():
        raise ValueError(
            f"'{filepath}' is a zip archive but not a Keras .keras file: it has no '{member}' "
            f"(members: {archive.namelist()[:10]})."
        )
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"'{filepath}' is damaged: cannot read '{member}' ({e}).") from None


def _read_json(archive, member, filepath):
    try:
        return json.loads(_read_member(archive, member, filepath))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"'{filepath}': '{member}' is not valid JSON ({e}).") from None
