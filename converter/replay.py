"""``convert --recipe FILE``: read the recipe a previous conversion (or ``--optimize``) chose, to make the same
model again from the same source and calibration data without searching again (``edgelite.core.recipe``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgelite.core.errors import UserInputError
from edgelite.core.recipe import Recipe
from edgelite.runtime import metadata, tflite_file

# A recipe file is small (a few hundred bytes; a search that kept 300 layers float, ~40 KB). A .tflite is read
# with the model reader's own checks, and its metadata with the metadata reader's caps.
MAX_RECIPE_BYTES = 1024 * 1024


def read_recipe(path: str | os.PathLike[str]) -> Recipe:
    """The recipe in a converted ``.tflite`` (its provenance), a ``convert --json`` report, or a recipe JSON
    file. One-line ``UserInputError`` naming the file otherwise."""
    p = Path(path)
    if p.suffix == ".tflite":
        data = tflite_file.read_model_bytes(p)
        found = metadata.read(data, where=str(p)).provenance.get("recipe")
        if not isinstance(found, dict):
            raise UserInputError(f"--recipe {p}: the file carries no edgelite recipe (made by another converter, "
                                 "or by edgelite before recipes were recorded); give the recipe JSON instead")
        return _parse(found, p)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise UserInputError(f"--recipe {p}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_RECIPE_BYTES:
        raise UserInputError(f"--recipe {p}: over the {MAX_RECIPE_BYTES:,}-byte cap for a recipe file")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserInputError(f"--recipe {p}: not JSON ({exc}); give a recipe JSON, a convert --json report or "
                             "a .tflite edgelite made") from None
    if isinstance(doc, dict) and isinstance(doc.get("recipe"), dict):   # a convert --json report
        doc = doc["recipe"]
    if not isinstance(doc, dict):
        raise UserInputError(f"--recipe {p}: expected a JSON object with the recipe's fields")
    return _parse(doc, p)


def _parse(doc: dict[str, Any], where: Path) -> Recipe:
    try:
        return Recipe.from_dict(doc)
    except UserInputError as exc:
        raise UserInputError(f"--recipe {where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"--recipe {where}: not a recipe ({exc})") from None
