"""The static checks that need the sources laid out as installed: layer contracts (import-linter) and types (mypy).

Both tools find a package's modules by walking the folder of its top-level package, but edgelite maps three
top-level folders of the checkout (runtime/, calibration/, converter/) into ``edgelite.*`` (``[tool.setuptools]
package-dir``). So this script first copies the sources to where the install puts them — every mapped folder
under a temporary ``edgelite/``, the mapping read from pyproject.toml so a new package cannot be missed — then
runs the tools there with the checkout's pyproject.toml. mypy's paths are mapped back to the checkout's.

    python scripts/static_checks.py [--only layers|types] [--source CHECKOUT]

Exit code: 0 when every check passes, else 1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def package_dirs(checkout: Path) -> dict[str, str]:
    config = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(config["tool"]["setuptools"]["package-dir"])


def mirror(checkout: Path, dest: Path) -> dict[str, str]:
    """Copy each package of ``package-dir`` where the install puts it (``edgelite.runtime`` → edgelite/runtime);
    returns {mirrored folder: checkout folder}, both relative, for mapping reports back."""
    back = {}
    for package, folder in sorted(package_dirs(checkout).items(), key=lambda kv: kv[0].count(".")):
        target = Path(*package.split("."))
        (dest / target).mkdir(parents=True, exist_ok=True)
        # subpackages too (runtime/decoders, runtime/tasks): the packages list names them, package-dir does not
        for file in (checkout / folder).rglob("*"):
            if file.suffix in (".py", ".typed") and "__pycache__" not in file.parts:
                out = dest / target / file.relative_to(checkout / folder)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)
        back[target.as_posix() + "/"] = Path(folder).as_posix() + "/"
    return back


def layers(checkout: Path, tree: Path) -> int:
    lint = Path(sys.executable).with_name("lint-imports")
    # The copy comes first on the path; the editable install's finder is consulted only after it.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(lint), "--no-cache", str(checkout / "pyproject.toml")], env=env, cwd=tree).returncode


def types(checkout: Path, tree: Path, back: dict[str, str]) -> int:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(checkout / "pyproject.toml"),
                           "--cache-dir", str(tree / ".mypy_cache"), "-p", "edgelite"],
                          cwd=tree, capture_output=True, text=True)
    # deepest mirrored folders first, so edgelite/runtime/ is not read as edgelite/ + runtime/
    pattern = re.compile("^(" + "|".join(re.escape(k) for k in sorted(back, key=len, reverse=True)) + ")", re.M)
    print(pattern.sub(lambda m: back[m.group(1)], proc.stdout), end="")
    print(proc.stderr, end="", file=sys.stderr)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("layers", "types"))
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout to check (default: this one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgelite-static-") as tmp:
        tree = Path(tmp)
        back = mirror(args.source, tree)
        codes = []
        if args.only in (None, "layers"):
            codes.append(layers(args.source, tree))
        if args.only in (None, "types"):
            codes.append(types(args.source, tree, back))
    return 0 if not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
