"""Reading user arrays (``.npy``, ``.npz``) with bounded memory and never unpickling.

- ``.npy``: the header is read and checked first (numeric dtype, the declared bytes really are in the file),
  then the data is memory-mapped: nothing is allocated for rows that are never sampled, and a header that
  declares 10^12 elements is a one-line error, not a ``MemoryError``.
- ``.npz`` (a zip, usually compressed, so it cannot be mapped): each needed member's declared size and its
  array header are checked against ``max_array_bytes()`` before it is inflated; zipfile never inflates past
  the declared size, so a member that lies about it fails its CRC or its length check instead.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.core.limits import env_cap

MAX_ARRAY_BYTES_DEFAULT = 256 * 1024 * 1024  # one decoded .npz member; README "Limits and guarantees"
MAX_ARRAY_BYTES_ENV = "EDGELITE_MAX_ARRAY_BYTES"
MAX_NPZ_MEMBERS = 64
# all the members of one .npz read together (a multi-input model's arrays), as a multiple of the one-array cap
MAX_NPZ_TOTAL_FACTOR = 4


def max_array_bytes() -> int:
    return env_cap(MAX_ARRAY_BYTES_ENV, MAX_ARRAY_BYTES_DEFAULT, "bytes")


def _header(fh, where: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    """(shape, dtype, fortran_order) from an open .npy stream, refusing object dtypes (they need pickle)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError, OSError) as exc:
        text = str(exc) or type(exc).__name__
        raise UserInputError(f"{where}: not a .npy array ({text}); save it with np.save") from None
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        # numpy's reader accepts any Python int here; a negative one would reach np.memmap (OverflowError).
        raise UserInputError(f"{where}: its header declares the shape {tuple(shape)}, with a negative or "
                             "non-integer dimension; re-save the array with np.save")
    extent = dtype.itemsize
    for d in shape:
        extent *= max(d, 1)
    if extent > 2**48:
        # numpy cannot even describe such an array (an empty axis beside huge ones still overflows its size).
        raise UserInputError(f"{where}: its header declares an implausible shape {tuple(shape)}; re-save it")
    if dtype.hasobject:
        raise UserInputError(f"{where}: holds Python objects, which cannot be loaded without unpickling; "
                             "save plain numeric arrays (np.save(path, x.astype(np.float32)))")
    return tuple(int(d) for d in shape), dtype, bool(fortran)


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    n = 1
    for d in shape:
        n *= d
    return n * dtype.itemsize


def read_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """A read-only memory map of a .npy file (checked header; no pickle; nothing loaded until used)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            shape, dtype, fortran = _header(fh, str(p))
            offset = fh.tell()
        size = p.stat().st_size
    except FileNotFoundError:
        raise UserInputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise UserInputError(f"{p}: is a folder, expected a .npy file") from None
    need = _nbytes(shape, dtype)
    if offset + need > size:
        raise UserInputError(f"{p}: truncated: its header declares {shape} {dtype} ({need:,} bytes) but the file "
                             f"holds {size - offset:,}; re-save it with np.save")
    if need == 0:
        return np.zeros(shape, dtype)
    return np.memmap(p, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def npz_members(path: str | os.PathLike[str]) -> list[str]:
    """The array names a .npz holds, in the file's order (nothing inflated)."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as zf:
            names = [i.filename for i in zf.infolist()]
    except FileNotFoundError:
        raise UserInputError(f"{p}: no such file") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UserInputError(f"{p}: not a .npz file (a zip of .npy arrays: {exc}); save it with np.savez") from None
    if len(names) > MAX_NPZ_MEMBERS:
        raise UserInputError(f"{p}: {len(names)} members, over the cap of {MAX_NPZ_MEMBERS} arrays in a .npz")
    return [n[:-4] if n.endswith(".npy") else n for n in names]


def read_npz(path: str | os.PathLike[str], keys: tuple[str, ...] | None, required: tuple[str, ...] = ()
             ) -> dict[str, np.ndarray]:
    """The arrays named ``keys`` (None: every member, in the file's order) that a .npz holds (``required`` ones
    must be there), each capped in size and all of them together at ``MAX_NPZ_TOTAL_FACTOR`` times that."""
    p = Path(path)
    cap = max_array_bytes()
    total = 0
    try:
        zf = zipfile.ZipFile(p)
    except FileNotFoundError:
        raise UserInputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise UserInputError(f"{p}: is a folder, expected a .npz file") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UserInputError(f"{p}: not a .npz file (a zip of .npy arrays: {exc}); save it with np.savez") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            raise UserInputError(f"{p}: {len(infos)} members, over the cap of {MAX_NPZ_MEMBERS} arrays in a .npz")
        members = {i.filename[:-4] if i.filename.endswith(".npy") else i.filename: i for i in infos}
        missing = [k for k in required if k not in members]
        if missing:
            raise UserInputError(f"{p}: no array named {missing[0]!r} (found: {', '.join(members) or 'none'}); "
                                 "save with np.savez(path, x=..., y=...)")
        out = {}
        for key in (tuple(members) if keys is None else keys):
            info = members.get(key)
            if info is None:
                continue
            where = f"{p}[{key}]"
            if info.file_size > cap + 4096:  # the array plus its header
                raise UserInputError(f"{where}: inflates to {info.file_size:,} bytes, over the {cap:,}-byte cap "
                                     f"for one array; sample it down, or raise the cap with {MAX_ARRAY_BYTES_ENV}")
            try:
                with zf.open(info) as fh:
                    shape, dtype, fortran = _header(fh, where)
                    need = _nbytes(shape, dtype)
                    if need > cap:
                        raise UserInputError(f"{where}: {shape} {dtype} is {need:,} bytes, over the {cap:,}-byte "
                                             f"cap for one array; raise it with {MAX_ARRAY_BYTES_ENV}")
                    total += need
                    if total > MAX_NPZ_TOTAL_FACTOR * cap:
                        raise UserInputError(f"{p}: its arrays add up to over {MAX_NPZ_TOTAL_FACTOR * cap:,} bytes "
                                             f"({MAX_NPZ_TOTAL_FACTOR}x the one-array cap); sample the data down, "
                                             f"or raise the cap with {MAX_ARRAY_BYTES_ENV}")
                    raw = fh.read(need + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise UserInputError(f"{where}: corrupt member ({exc}); re-save the file with np.savez") from None
            if len(raw) != need:
                raise UserInputError(f"{where}: holds {len(raw):,} bytes but its header declares {need:,}; "
                                     "re-save the file with np.savez")
            arr = np.frombuffer(raw, dtype=dtype)
            out[key] = arr.reshape(shape, order="F" if fortran else "C")
    return out
