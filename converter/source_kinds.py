"""What kind of model a source path is, decided before any loader runs — and the PyTorch files that are refused.

A ``.pt``/``.pth`` file written by ``torch.save(model)`` is a **pickle**: loading it runs whatever code the file
names (``torch.load`` without ``weights_only=True``). edgelite never unpickles. Such a file is refused in one line
with the safe alternatives: a ``torch.export`` archive (``.pt2``), a ``package.module:factory`` that builds the
``nn.Module`` (its weights, if any, loaded by the factory with ``torch.load(..., weights_only=True)``), or the model
exported to ONNX. The check reads at most the file's first bytes and a zip's member names — never a pickle.

Recognised by content as well as by name: a pickle stream (protocol 2–5 starts with ``0x80`` and the protocol
byte; protocol 0/1 streams are not sniffed) or a zip holding a ``data.pkl`` member (``torch.save``'s format since
PyTorch 1.6) is refused under any file name, since model hubs ship them as ``.bin`` and ``.ckpt`` too.

PyTorch (``.pt2``, ``module:factory``) and ONNX (``.onnx``) sources are exported by ``pytorch_source``; a
``.pt2`` archive is vetted there (``pytorch_archive``) so that loading it unpickles nothing either.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from edgelite.core.errors import UserInputError

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# How much of a file is read to recognise it: the pickle protocol header is its first 2 bytes.
SNIFF_BYTES = 4
# A zip's central directory is read for member names only; more members than this is not a torch.save file.
MAX_ZIP_MEMBERS = 100_000
FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")   # package.module:function

SAFE_ALTERNATIVES = ("export it with torch.export.save(torch.export.export(model, example), 'model.pt2'), or "
                     "give a factory as package.module:function that builds the nn.Module (loading a state dict "
                     "with torch.load(path, weights_only=True)), or export it to ONNX")


def _is_pickle(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _is_torch_zip(path: Path) -> bool:
    """A zip whose members include ``<archive>/data.pkl`` (``torch.save``'s layout); names only, nothing read."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                return False
            return any(i.filename == "data.pkl" or i.filename.endswith("/data.pkl") for i in infos)
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def pickled(path: Path) -> bool:
    """Whether ``path`` is a pickled (or ``torch.save``-zipped) file, by content; reads a few bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    if _is_pickle(head):
        return True
    return head[:2] == b"PK" and path.suffix not in (".keras", ".zip") and _is_torch_zip(path)


def refuse_unsupported(source: str | Path) -> None:
    """One ``UserInputError`` line for a source edgelite will not load (a pickle); nothing for the kinds the
    loaders handle."""
    p = Path(str(source))
    if p.is_file() and (p.suffix.lower() in PICKLE_SUFFIXES or pickled(p)):
        if p.suffix.lower() == ".ckpt" and not pickled(p):
            return   # a TensorFlow checkpoint shard, not a pickle: the loaders say what they make of it
        raise UserInputError(f"{p}: a pickled PyTorch file; edgelite never unpickles (loading it would run code "
                             f"from the file): {SAFE_ALTERNATIVES}")
