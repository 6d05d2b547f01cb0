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
import zipfile
from pathlib import Path

from edgelite.core.errors import UserInputError

MAX_MEMBERS = 100_000
MAX_CONFIG_BYTES = 64 << 20        # one payload config (JSON listing every weight)
MAX_SAMPLE_INPUT_BYTES = 256 << 20   # the archive's example inputs, read to vet them

UNSAFE = ("the archive holds pickled objects, which edgelite never loads (unpickling runs code from the file); "
          "re-export it with plain tensors: torch.export.save(torch.export.export(model, example), 'model.pt2'), "
          "or give a package.module:factory")


def vet(path: Path) -> None:
    """Raise ``UserInputError`` (one line) unless ``path`` is a torch.export archive that loads unpickling
    nothing; reads names, the JSON payload configs and (restricted) the sample inputs."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise UserInputError(f"{path}: {len(infos)} zip members, over the {MAX_MEMBERS} cap")
            names = [i.filename for i in infos]
            if not any(n.endswith("archive_format") for n in names) or not any("/models/" in n or
                                                                                n.startswith("models/")
                                                                                for n in names):
                raise UserInputError(f"{path}: not a torch.export archive (no archive_format/models/ members); "
                                     "save it with torch.export.save")
            for info in infos:
                name = info.filename
                if "/data/weights/" in f"/{name}" or "/data/constants/" in f"/{name}":
                    if name.endswith(".pt"):   # legacy single-file weights/constants: torch.load with fallback
                        raise UserInputError(f"{path}: {name} is a legacy pickled payload; {UNSAFE}")
                    base = name.rsplit("/", 1)[-1]
                    if base.startswith(("custom_obj_", "opaque_obj_")):
                        raise UserInputError(f"{path}: {name} is a pickled object constant; {UNSAFE}")
                    if name.endswith("_config.json"):
                        _vet_config(path, zf, info)
            for info in infos:
                if "/data/sample_inputs/" in f"/{info.filename}" and info.filename.endswith(".pt"):
                    _vet_sample_inputs(path, zf, info)
    except zipfile.BadZipFile:
        raise UserInputError(f"{path}: not a torch.export archive (not a zip); save it with torch.export.save")\
            from None


def _vet_config(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    if info.file_size > MAX_CONFIG_BYTES:
        raise UserInputError(f"{path}: {info.filename} is {info.file_size} bytes, over the {MAX_CONFIG_BYTES} cap")
    try:
        config = json.loads(zf.read(info))
    except (ValueError, UnicodeDecodeError):
        raise UserInputError(f"{path}: {info.filename} is not JSON; the archive is corrupt") from None
    entries = config.get("config", {}) if isinstance(config, dict) else {}
    for fqn, meta in (entries.items() if isinstance(entries, dict) else ()):
        if isinstance(meta, dict) and meta.get("use_pickle"):
            raise UserInputError(f"{path}: {fqn} is stored pickled (use_pickle); {UNSAFE}")


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
