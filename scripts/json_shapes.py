#!/usr/bin/env python3
"""The shape of every command's JSON on the embedded example, and the difference between two such shapes.

    collect: runs a fixed list of edgelite commands on examples/mnist, each with its JSON output, and writes one
             JSON file mapping command name -> shape. The edgelite under test is chosen by --python and
             --pythonpath, so the same script measures an older checkout through an import shim:
                 python scripts/json_shapes.py collect --out new.json
                 python scripts/json_shapes.py collect --pythonpath /tmp/json_oldpkg --out old.json
    diff:    python scripts/json_shapes.py diff old.json new.json  (keys removed / type changed / added)

A shape maps each key path to the sorted list of JSON types seen there (null, bool, int, float, str, array,
object). Paths: `a.b` for object members; `a[]` for the items of a list (the union over all items); `a{}` for
the values of a map keyed by data rather than by schema (per-class tables, per-thread or per-layer figures, op
counts, ...), whose keys are dropped and whose values are merged like list items. A map counts as keyed by data
when every key is a number, a class label of the example, or a name no schema would use (holding '/', ':', ';',
' ', '.', or an ALL_CAPS op name), or when its path is in DATA_KEYED. Keys that are not identifier-like are
written ["key"]. A field whose types gain "null" became nullable; int vs float is told apart (a float field that
holds an integral value still dumps as 1.0). An empty list shows only as `array` with no `a[]` entries, so a
list empty in one run and filled in the other shows up as added/removed items: such lines are marked.

The commands run with their working directory in a scratch folder (never the repo root, whose edgelite/ would
shadow --pythonpath) and write every artefact there.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "mnist"

# Maps keyed by data whose keys the generic rule below would not recognise (dotted paths, list items as []).
DATA_KEYED: set[str] = set()

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_OP_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _key(k: str) -> str:
    return k if _IDENT.match(k) else json.dumps([k])


def _join(path: str, k: str) -> str:
    seg = _key(k)
    if not path:
        return seg
    return path + seg if seg.startswith("[") else f"{path}.{seg}"


def _data_keyed(path: str, d: dict, labels: set[str]) -> bool:
    if not d:
        return False
    if path in DATA_KEYED:
        return True
    keys = list(d)
    if all(_NUMBER.match(k) or k in labels for k in keys):
        return True
    odd = [k for k in keys if any(c in k for c in "/:; .") or _OP_NAME.match(k)]
    return len(odd) == len(keys)


def shape(doc: object, labels: set[str]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}

    def walk(v: object, path: str) -> None:
        out.setdefault(path or "$", set()).add(_type(v))
        if isinstance(v, dict):
            if _data_keyed(path, v, labels):
                for item in v.values():
                    walk(item, path + "{}")
            else:
                for k, item in v.items():
                    walk(item, _join(path, k))
        elif isinstance(v, list):
            for item in v:
                walk(item, path + "[]")

    walk(doc, "")
    return {p: sorted(t) for p, t in sorted(out.items())}


def commands(ex: Path, w: Path, check_toml: Path) -> list[tuple[str, list[str], object]]:
    """(name, edgelite argv, JSON source: a file path or 'stdout'), in dependency order."""
    model, labels, calib, ev = str(ex / "model.keras"), str(ex / "labels.txt"), str(ex / "calib"), str(ex / "eval")
    i8, f32 = str(w / "int8.tflite"), str(w / "float32.tflite")
    image = str(sorted((ex / "eval" / "3").iterdir())[0])
    cal = ["--calib", calib, "--samples", "50"]
    evs = ["--eval", ev, "--eval-samples", "100"]

    def conv(name: str, out: str, *extra: str) -> tuple[str, list[str], object]:
        j = w / f"{name}.json"
        return name, ["convert", model, "-o", out, "--labels", labels, *extra, "--json", str(j)], j

    def jf(name: str, argv: list[str]) -> tuple[str, list[str], object]:
        j = w / f"{name}.json"
        return name, [*argv, "--json", str(j)], j

    return [
        conv("convert_int8", i8, *cal),
        conv("convert_float32", f32, "--mode", "float32"),
        conv("convert_max_drop", str(w / "max_drop.tflite"), *cal, "--max-drop", "1", *evs),
        conv("convert_optimize", str(w / "optimize.tflite"), *cal, "--optimize", "accuracy", *evs),
        conv("convert_percentile", str(w / "percentile.tflite"), *cal, "--calibration", "percentile",
             "--bias-correction", "--equalize"),
        jf("analyze", ["analyze", model, *cal, *evs]),
        ("run_image", ["run", i8, image, "--json"], "stdout"),
        ("run_data", ["run", i8, ev, "--json"], "stdout"),
        jf("bench", ["bench", i8, "--threads", "1,2", "--runs", "20", "--warmup", "3"]),
        jf("bench_reference", ["bench", i8, "--reference", f32, "--runs", "20", "--warmup", "3"]),
        jf("compare", ["compare", f32, i8, "--data", ev]),
        ("inspect", ["inspect", i8, "--json"], "stdout"),
        ("inspect_gpu", ["inspect", f32, "--gpu", "--json"], "stdout"),
        jf("check", ["check", "--config", str(check_toml)]),
        jf("qat", ["qat", model, "--train", ev, "--epochs", "1", *cal, *evs, "--labels", labels,
                   "-o", str(w / "qat.tflite")]),
        # the example's only labelled data is eval/, which distill refuses as both --data and --eval: the
        # student trains on the unlabelled calib/ (the teacher's outputs alone)
        jf("distill", ["distill", model, "--student", model, "--data", calib, "--labels-optional", "--epochs", "1",
                       "--samples", "50", *evs, "--labels", labels, "-o", str(w / "distill.tflite")]),
    ]


def write_check_config(ex: Path, w: Path) -> Path:
    """The example's edgelite.toml with absolute paths, its baseline copied and its work_dir in the scratch
    folder (the committed config writes into the repo's build/)."""
    shutil.copy(ex / "edgelite-baseline.json", w / "edgelite-baseline.json")
    text = (ex / "edgelite.toml").read_text()
    text = re.sub(r'^work_dir\s*=.*$', f'work_dir = "{w / "check"}"', text, flags=re.M)
    for key, name in (("source", "model.keras"), ("calib", "calib"), ("eval", "eval"), ("labels", "labels.txt")):
        text = re.sub(rf'^{key}\s*=\s*"{re.escape(name)}"', f'{key} = "{ex / name}"', text, flags=re.M)
    p = w / "edgelite.toml"
    p.write_text(text)
    return p


def collect(a: argparse.Namespace) -> int:
    ex = Path(a.example).resolve()
    w = Path(a.workdir).resolve() if a.workdir else Path(tempfile.mkdtemp(prefix="json_shapes_"))
    w.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if a.pythonpath:
        env["PYTHONPATH"] = a.pythonpath
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    prefix = [a.python, "-m", "edgelite"]
    where = subprocess.run([a.python, "-c", "import edgelite, edgelite.converter as c; print(edgelite.__file__);"
                            "print(c.__file__)"], cwd=w, env=env, capture_output=True, text=True)
    print(f"edgelite from: {where.stdout.split()} (cwd {w})", file=sys.stderr)
    labels = {ln.strip() for ln in (ex / "labels.txt").read_text().splitlines() if ln.strip()}
    check_toml = write_check_config(ex, w)
    skip = set(a.skip or [])
    only = set(a.only or [])
    result: dict[str, object] = {}
    for name, argv, src in commands(ex, w, check_toml):
        if name in skip or (only and name not in only):
            continue
        t0 = time.monotonic()
        try:
            p = subprocess.run([*prefix, *argv], cwd=w, env=env, capture_output=True, text=True,
                               timeout=a.timeout)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = "timeout", "", f"timed out after {a.timeout} s: {e.stderr!r:.2000}"
        dt = time.monotonic() - t0
        doc = None
        try:
            if src == "stdout":
                doc = json.loads(out)
            elif isinstance(src, Path) and src.exists():
                doc = json.loads(src.read_text())
        except json.JSONDecodeError as e:
            err += f"\n(JSON unreadable: {e})"
        if doc is None:
            result[name] = {"__error__": f"rc {rc}: {err.strip()[-3000:]}"}
            print(f"{name}: FAILED rc {rc} in {dt:.0f} s\n{err.strip()[-1500:]}", file=sys.stderr)
            continue
        if a.keep:
            Path(a.keep).mkdir(parents=True, exist_ok=True)
            (Path(a.keep) / f"{name}.json").write_text(json.dumps(doc, indent=1))
        result[name] = shape(doc, labels)
        print(f"{name}: rc {rc}, {len(result[name])} paths, {dt:.0f} s", file=sys.stderr)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def diff(a: argparse.Namespace) -> int:
    old, new = json.loads(Path(a.old).read_text()), json.loads(Path(a.new).read_text())
    lines: list[str] = []
    for name in sorted(set(old) | set(new), key=lambda n: ([*old, *new].index(n))):
        o, n = old.get(name), new.get(name)
        lines.append(f"== {name}")
        if o is None or n is None:
            lines.append(f"  only in {'new' if o is None else 'old'} run")
            continue
        if "__error__" in o or "__error__" in n:
            for tag, s in (("old", o), ("new", n)):
                if "__error__" in s:
                    lines.append(f"  {tag} run FAILED: {s['__error__'][-800:]}")
                else:
                    lines.append(f"  {tag} run gave JSON: {len(s)} paths (nothing to compare it with)")
            continue
        removed = [p for p in o if p not in n]
        added = [p for p in n if p not in o]
        changed = [p for p in o if p in n and o[p] != n[p]]

        def note(p: str, s: dict) -> str:
            parent = p.rsplit("[]", 1)[0] if p.endswith("[]") or "[]." in p else None
            if parent is not None and parent in s and f"{parent}[]" not in s:
                return "  (the list is empty in this run)"
            return ""

        for p in removed:
            lines.append(f"  REMOVED  {p}: {'|'.join(o[p])}{note(p, n)}")
        for p in changed:
            tag = "NULLABLE" if "null" in n[p] and "null" not in o[p] else "CHANGED "
            lines.append(f"  {tag} {p}: {'|'.join(o[p])} -> {'|'.join(n[p])}")
        for p in added:
            lines.append(f"  added    {p}: {'|'.join(n[p])}{note(p, o)}")
        if not (removed or added or changed):
            lines.append("  identical")
        else:
            lines.append(f"  ({len(removed)} removed, {len(changed)} changed, {len(added)} added)")
    text = "\n".join(lines) + "\n"
    if a.out:
        Path(a.out).write_text(text)
    print(text, end="")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="run the commands and write their JSON shapes")
    c.add_argument("--python", default=sys.executable, help="interpreter that runs `-m edgelite`")
    c.add_argument("--pythonpath", help="PYTHONPATH for it (e.g. an import shim of an older checkout)")
    c.add_argument("--example", default=str(EXAMPLE), help="the example folder (default examples/mnist)")
    c.add_argument("--workdir", help="scratch folder for artefacts and the cwd (default: a new temp folder)")
    c.add_argument("--keep", metavar="DIR", help="also save every command's JSON document here")
    c.add_argument("--only", action="append", help="run only these commands (repeatable)")
    c.add_argument("--skip", action="append", help="skip these commands (repeatable)")
    c.add_argument("--timeout", type=float, default=600, help="seconds per command (default 600)")
    c.add_argument("--out", required=True, help="output JSON: command name -> shape")
    d = sub.add_parser("diff", help="keys removed / type changed / added between two shape files")
    d.add_argument("old")
    d.add_argument("new")
    d.add_argument("--out", help="also write the report here")
    a = ap.parse_args()
    return collect(a) if a.cmd == "collect" else diff(a)


if __name__ == "__main__":
    sys.exit(main())
