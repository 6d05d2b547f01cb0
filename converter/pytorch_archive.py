"""Vet a ``torch.export`` archive (``.pt2``) so that loading it unpickles nothing.

``torch.export.load`` (torch 2.13) reads the program as JSON and the weights as raw tensor bytes, but three
paths in it run the full unpickler (``torch.load(weights_only=False)``): a weight or constant whose payload
config says ``use_pickle`` (tensor subclasses), custom/opaque object constants, and the legacy single-file
weights, constants and sample inputs, where ``weights_only=True`` is tried first and **falls back** to
``weights_only=False`` when it fails. ``vet`` reads the zip's member names and the small JSON configs — no
pickle — and refuses an archive that would reach any of those paths. The sample inputs a current archive
holds are a ``torch.save`` payload too; they are checked with the restricted loader
(``torch.load(weights_only=True)``), so torch's own first attempt succeeds and its fallback never runs.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from edgelite.core.errors import UserInputError

MAX_MEMBERS = 100_000
MAX_CONFIG_BYTES = 64 << 20        # one payload config (JSON listing every weight)
MAX_SAMPLE_INPUT_BYTES = 256 << 20   # the archive's example inputs, read to vet them

UNSAFE = ("the archive holds pickled objects, which edgelite never loads (unpickling runs code from the file); "
          "re-export it with plain tensors: torch.export.save(torch.export.export(model, example), 'model.pt2'), "
          "or give a package.module:factory")


# Every member a plain ``torch.export.save`` archive holds (torch 2.13), relative to its one top folder. Anything
# else is refused: AOTInductor/ExecuTorch payloads (native code torch would dlopen), legacy pickled payloads,
# object constants. Case-sensitive on purpose: torch's zip reader finds members case-insensitively, so a
# differently-cased name must not pass as one of these.
ALLOWED = re.compile(r"(archive_format|archive_version|version|byteorder|\.data/[A-Za-z0-9_.]+"
                     r"|models/[A-Za-z0-9_]+\.json"
                     r"|data/weights/(weight_\d+|[A-Za-z0-9_]+_(weights|model_param)_config\.json)"
                     r"|data/constants/(tensor_\d+|[A-Za-z0-9_]+_(constants|model_constants)_config\.json)"
                     r"|data/sample_inputs/[A-Za-z0-9_]+\.pt|extra/[A-Za-z0-9_.]+)")
# What a payload config may name (torch picks the loader by this prefix: custom_obj_/opaque_obj_ unpickle).
PAYLOAD_NAME = {"weights": re.compile(r"weight_\d+"), "constants": re.compile(r"tensor_\d+")}
MAX_TOTAL_BYTES = 8 << 30   # all members inflated together (a deflated member is inflated by torch as declared)


def vet(path: Path) -> None:
    """Raise ``UserInputError`` (one line) unless ``path`` is a torch.export archive that loads unpickling
    nothing and running no native code: every member on the allowlist under one top folder, every payload
    config naming plain tensors, the sample inputs loadable by the restricted unpickler. Reads names, the JSON
    configs and the sample inputs only."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise UserInputError(f"{path}: {len(infos)} zip members, over the {MAX_MEMBERS} cap")
            if not infos:
                raise UserInputError(f"{path}: an empty zip, not a torch.export archive")
            total = sum(i.file_size for i in infos)
            if total > MAX_TOTAL_BYTES:
                raise UserInputError(f"{path}: {total} bytes inflated, over the {MAX_TOTAL_BYTES} byte cap")
            top = infos[0].filename.split("/", 1)[0]
            for info in infos:
                head, _, rest = info.filename.partition("/")
                if head != top or not ALLOWED.fullmatch(rest):
                    raise UserInputError(f"{path}: member {info.filename!r} is not part of a plain torch.export "
                                         f"archive; {UNSAFE}")
            if not any(i.filename == f"{top}/archive_format" for i in infos):
                raise UserInputError(f"{path}: not a torch.export archive (no archive_format member); save it "
                                     "with torch.export.save")
            for info in infos:
                rest = info.filename.partition("/")[2]
                if rest.endswith("_config.json"):
                    _vet_config(path, zf, info, "weights" if rest.startswith("data/weights/") else "constants")
                elif rest.startswith("data/sample_inputs/"):
                    _vet_sample_inputs(path, zf, info)
    except zipfile.BadZipFile:
        raise UserInputError(f"{path}: not a torch.export archive (not a zip); save it with torch.export.save")\
            from None


def _vet_config(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, kind: str) -> None:
    if info.file_size > MAX_CONFIG_BYTES:
        raise UserInputError(f"{path}: {info.filename} is {info.file_size} bytes, over the {MAX_CONFIG_BYTES} cap")
    try:
        config = json.loads(zf.read(info))
    except (ValueError, UnicodeDecodeError):
        raise UserInputError(f"{path}: {info.filename} is not JSON; the archive is corrupt") from None
    entries = config.get("config", {}) if isinstance(config, dict) else {}
    if not isinstance(entries, dict):
        raise UserInputError(f"{path}: {info.filename} has no config table; the archive is corrupt")
    for fqn, meta in entries.items():
        if not isinstance(meta, dict):
            raise UserInputError(f"{path}: {info.filename}: entry {fqn!r} is not a table; the archive is corrupt")
        if meta.get("use_pickle"):
            raise UserInputError(f"{path}: {fqn} is stored pickled (use_pickle); {UNSAFE}")
        if not PAYLOAD_NAME[kind].fullmatch(str(meta.get("path_name", ""))):
            raise UserInputError(f"{path}: {fqn} names payload {meta.get('path_name')!r}, not a plain tensor; {UNSAFE}")


def _vet_sample_inputs(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    import torch

    if info.file_size > MAX_SAMPLE_INPUT_BYTES:
        raise UserInputError(f"{path}: {info.filename} is {info.file_size} bytes, over the "
                             f"{MAX_SAMPLE_INPUT_BYTES} cap")
    try:
        torch.load(io.BytesIO(zf.read(info)), weights_only=True)
    except Exception as exc:   # noqa: BLE001 - the restricted unpickler refusing anything is the verdict
        raise UserInputError(f"{path}: {info.filename} does not load with torch.load(weights_only=True) "
                             f"({type(exc).__name__}); {UNSAFE}") from None
