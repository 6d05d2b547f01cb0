"""Check edgelite's layer contracts (``[tool.importlinter]`` in pyproject.toml) with import-linter.

import-linter (grimp) finds a package's modules by walking the folder of its top-level package, but edgelite
maps three top-level folders of the checkout (runtime/, calibration/, converter/) into ``edgelite.*``
(``[tool.setuptools] package-dir``). So this script first lays the sources out as installed — a copy of every
mapped folder under a temporary ``edgelite/`` — then runs ``lint-imports`` on that copy. The mapping is read
from pyproject.toml, so a new package cannot be missed. Exit code: lint-imports' own (0 kept, 1 broken).

    python scripts/lint_layers.py [--source CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def mirror(checkout: Path, dest: Path) -> None:
    """Copy each package of ``package-dir`` to where the install puts it (``edgelite.runtime`` → dest/edgelite/runtime)."""
    config = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    for package in sorted(mapping, key=lambda p: p.count(".")):   # parents first
        target = dest.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for file in (checkout / mapping[package]).glob("*.py"):
            shutil.copy2(file, target / file.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout to check (default: this one)")
    args = parser.parse_args(argv)
    lint = Path(sys.executable).with_name("lint-imports")
    with tempfile.TemporaryDirectory(prefix="edgelite-layers-") as tmp:
        mirror(args.source, Path(tmp))
        # The copy comes first on the path; the editable install's finder is consulted only after it.
        env = {**os.environ, "PYTHONPATH": tmp}
        return subprocess.run([str(lint), "--no-cache", str(args.source / "pyproject.toml")], env=env,
                              cwd=tmp).returncode


if __name__ == "__main__":
    sys.exit(main())
