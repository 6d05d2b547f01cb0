"""``edgelite run``: a model on images, arrays or evaluation data (one source per input of a multi-input model),
every output printed by name — top-k for class scores, a summary otherwise — and the run saved for ``compare``.

A detector's run prints its decoded boxes (the task and decoder as ``resolve`` finds them: ``--task``,
``--decoder``, the file's record, or outputs that leave no doubt), a landmark model's the point count and the
points' box. The task modules are imported only when the task can change what is printed: a classifier's
one-output run never imports them (its cold start, tests/cli/test_start_imports.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.cli import render
from edgelite.cli.commands import _check_outputs, _runtime, _spec_for
from edgelite.cli.task_args import task_request
from edgelite.core.errors import UserInputError
from edgelite.core.formatting import ms
from edgelite.runtime.metadata import TASK_KEY as TASK_KEY  # the file's task record (a test checks the key)

# The tasks whose run output differs from the per-output top-k / summary.
DECODED_TASKS = ("detect", "landmarks")


def _load_inputs(path: str) -> list[Any]:
    p = Path(path)
    if p.suffix.lower() == ".npy":
        from edgelite.calibration.arrays import read_npy

        arr = read_npy(p)
        if arr.ndim == 0 or len(arr) == 0:
            raise UserInputError(f"{p}: holds no samples (shape {arr.shape}); save at least one input")
        return [arr]
    if not p.is_file():
        raise UserInputError(f"{p}: no such input file; pass image files, .npy arrays, an image folder or .npz")
    return [p]


def _input_batch(name: Any, model: Any) -> tuple[Any, list[str], np.ndarray | None, Any]:
    """One INPUT as model-ready samples: (x, sample ids, labels or None, class names or None). Ids are the
    input as given (``name[row]`` for arrays of several); a folder's images go by their path inside it, so
    a board's run and a workstation's match."""
    if isinstance(name, dict):
        from edgelite.calibration import bind, collect, open_source

        source = bind(open_source(name, class_names=model.labels), model.slots, model=str(model.path))
        from edgelite.runtime.runs import sample_ids

        got = collect(source, model.spec, model.sample_shape, None, 0, desc="inputs", shuffle=False)
        return got.x, sample_ids(source, got.indices), got.y, model.labels or source.class_names
    p = Path(name)
    if p.is_dir() or p.suffix.lower() == ".npz" or len(model.inputs) > 1:
        from edgelite.calibration import bind, collect, open_source
        from edgelite.runtime.runs import sample_ids

        # a multi-input model's data: an .npz with one array per input (keys: input names or x0, x1, …)
        source = bind(open_source(p, class_names=model.labels), model.slots, model=str(model.path))
        got = collect(source, model.spec, model.sample_shape, None, 0, desc=str(p), shuffle=False)
        ids = sample_ids(source, got.indices) if source.kind == "images" else [f"{name}[{i}]" for i in got.indices]
        return got.x, ids, got.y, model.labels or source.class_names
    batches, ids = [], []
    for item in _load_inputs(name):
        x = model.prepare(item)
        batches.append(x)
        ids += [name] if len(x) == 1 else [f"{name}[{row}]" for row in range(len(x))]
    return np.concatenate(batches), ids, None, None


def _output_labels(model: Any, k: int, size: int) -> tuple[str, ...] | None:
    """Labels for output ``k`` of ``size`` values: the model file's, when they fit it. (A data folder's class
    names say nothing about which output index is which class, so they are not used.)"""
    labels = model.labels if k == 0 else None
    labels = labels or model.metadata.labels
    return tuple(labels) if labels and len(labels) == size else None


def _class_outputs(model: Any, run: Any) -> dict[str, tuple[str, ...] | None]:
    """The class-score outputs of a run and their labels (None: indices).

    A lone output of 2+ values is taken for class scores, as ``run`` always did (logits are not probability
    rows, and nothing else tells); among several outputs, only those labels fit or whose rows are
    probability vectors are (``comparisons.class_basis``)."""
    kinds: dict[str, tuple[str, ...] | None] = {}
    for k, (name, arr) in enumerate(run.outputs.items()):
        rows = arr.reshape(run.samples, -1)
        labels = _output_labels(model, k, rows.shape[1])
        if len(run.outputs) == 1:
            if rows.shape[1] >= 2:
                kinds[name] = labels
            continue
        # several outputs: the comparisons' rule (imported only here: a board's one-output run skips its ~35 ms)
        from edgelite.runtime.comparisons import class_basis

        if class_basis(rows, class_names=labels) is not None:
            kinds[name] = labels
    return kinds


def _run_results(model: Any, run: Any, top_k: int, kinds: dict[str, tuple[str, ...] | None] | None = None
                 ) -> list[dict[str, Any]]:
    """One JSON-ready result per sample: every output by name — top-k for class scores (``kinds``, found by
    ``_class_outputs`` when not given), else shape, summary and values — and, as before outputs were named,
    ``top_k`` of the first class-score output at the top."""
    kinds = _class_outputs(model, run) if kinds is None else kinds
    dtypes = {t.name: str(t.dtype) for t in model.outputs}   # the file's types (values come dequantized)
    results = []
    for i, (sample_id, seconds) in enumerate(zip(run.ids, run.times_s, strict=True)):
        outputs: dict[str, Any] = {}
        for name, arr in run.outputs.items():
            values = np.asarray(arr[i], dtype=np.float64)
            head = {"shape": list(values.shape), "dtype": dtypes.get(name, str(arr.dtype))}
            if name in kinds:
                flat = values.reshape(-1)
                labels = kinds[name] or tuple(str(j) for j in range(flat.size))
                order = np.argsort(-flat, kind="stable")[:top_k]
                outputs[name] = {"kind": "class scores", **head, "top_k": [
                    {"label": labels[j], "index": int(j), "score": round(float(flat[j]), 6)} for j in order]}
            else:
                stats = [round(float(f(values)), 6) if values.size else None for f in (np.min, np.max, np.mean)]
                outputs[name] = {"kind": "tensor", **head, **dict(zip(("min", "max", "mean"), stats, strict=True)),
                                 "values": np.round(values, 6).tolist()}
        first = next((outputs[n]["top_k"] for n in outputs if n in kinds), None)
        results.append({"input": sample_id, **({"top_k": first} if first is not None else {}),
                        "latency_ms": round(float(seconds) * 1e3, 3), "outputs": outputs})
    return results


def cmd_run(args: argparse.Namespace) -> int:
    from edgelite.runtime import Model
    from edgelite.runtime.runs import run_samples

    if args.top_k < 1:
        raise UserInputError(f"--top-k must be ≥ 1, got {args.top_k}")
    if args.save_run:
        # NAME=PATH inputs name their file after the '=' (a path that exists as written is itself)
        files = [i if Path(i).exists() or "=" not in i else i.split("=", 1)[1] for i in args.inputs]
        _check_outputs(args, ("save_run",), [args.model, *files])
    model = Model.load(args.model, threads=args.threads, probe=True, **_runtime(args))
    model.with_spec(_spec_for(model, args))
    xs, ids, ys, class_names = [], [], [], None
    inputs: list[Any] = list(args.inputs)
    if len(model.inputs) > 1 and inputs and all("=" in i and not Path(i).exists() for i in inputs):
        parts = [i.split("=", 1) for i in inputs]   # NAME=PATH per input: one multi-input source
        repeated = sorted({n for n, _ in parts if [m for m, _ in parts].count(n) > 1})
        if repeated:
            raise UserInputError(f"input {repeated[0]!r} is given twice; give NAME=PATH once per input")
        inputs = [dict(parts)]
    for name in inputs:
        try:
            x, got_ids, y, names = _input_batch(name, model)
        except UserInputError as exc:
            from edgelite.calibration.sources import describe

            shown = describe(name)
            parts = [str(p) for p in name.values()] if isinstance(name, dict) else []
            if str(exc).startswith((shown, str(model.path), *parts)):
                raise  # already names the input or the model
            raise UserInputError(f"{shown}: {exc}") from None
        xs.append(x)
        ids += got_ids
        ys.append(y)
        class_names = class_names or names
    known = [y for y in ys if y is not None]
    labelled = len(known) == len(ys)   # labels only when every input has them
    if len(xs) == 1 or all(isinstance(x, np.ndarray) for x in xs):
        x_all = xs[0] if len(xs) == 1 else np.concatenate(xs)
    else:   # a multi-input model's batches (imported only then: a board's one-input run skips it)
        from edgelite.calibration.multi_input import concatenate

        x_all = concatenate(xs)
    run = run_samples(model, x_all, ids, labels=np.concatenate(known) if labelled else None,
                      class_names=class_names if labelled else None)
    kinds = _class_outputs(model, run)
    results = _run_results(model, run, args.top_k, kinds)
    task = _task(model, args, run, next(iter(kinds), None))
    printed: str | None = None
    if task is not None and task.kind == "detect":
        printed = _add_detections(model, run, task, results)
    elif task is not None and task.kind == "landmarks":
        printed = _add_landmarks(model, run, results)
    if args.json:
        print(json.dumps({"model": str(args.model), "backend": model.backend.name,
                          **({"task": task.kind} if task is not None else {}), "results": results}, indent=2))
    else:
        print(printed if printed is not None else render.run_table(results))
    if args.save_run:
        run.save(args.save_run)
        # stdout stays pure JSON with --json
        print(f"run written to {args.save_run} ({run.samples} samples)", file=sys.stderr if args.json else sys.stdout)
    return 0


def _input_hw(model: Any) -> tuple[int, int] | None:
    """The image input's (height, width): a sample shaped (H, W, C)."""
    shape = tuple(model.sample_shape) if len(model.inputs) == 1 else ()
    return (int(shape[0]), int(shape[1])) if len(shape) == 3 else None


def _task(model: Any, args: argparse.Namespace, run: Any, class_output: str | None) -> Any:
    """The resolved task (``TaskSpec``) when it can change what ``run`` prints, else None (today's output).
    Resolved — and the task modules imported — only when ``--task``/``--decoder`` name detect or landmarks,
    the file records either, or nothing is recorded and an output has 2+ axes per sample (the only outputs
    the guess reads as a detector's or a score map)."""
    rec = model.metadata.recorded_task()
    asked = getattr(args, "task", None)
    if getattr(args, "decoder", None) is None:
        known = asked or (rec.get("kind") if rec is not None else None)
        if known is not None and known not in DECODED_TASKS:
            return None
        if known is None and all(np.ndim(a) <= 2 for a in run.outputs.values()):
            return None   # every output ≤ 1 axis per sample: the guess can only say classify or regress
    from edgelite.runtime.tasks.spec import OutputInfo, resolve

    outputs = [OutputInfo(name, tuple(int(d) for d in arr.shape[1:])) for name, arr in run.outputs.items()]
    labels = model.labels or model.metadata.labels
    spec = resolve(task_request(args), outputs, labels=labels, recorded=rec, input_hw=_input_hw(model),
                   class_output=class_output)
    if spec.kind in DECODED_TASKS and spec.basis.startswith("guessed"):
        print(f"note: task {spec.kind}, {spec.basis}", file=sys.stderr)
    for note in spec.notes:
        print(f"note: {note}", file=sys.stderr)
    return spec


def _class_name(labels: Any, class_id: int | None) -> str:
    if class_id is None:
        return "-"
    return str(labels[class_id]) if labels and 0 <= class_id < len(labels) else str(class_id)


def _add_detections(model: Any, run: Any, task: Any, results: list[dict[str, Any]]) -> str:
    """Decode every sample's detections into ``results`` (``detections``: score, class id, normalized box
    xmin, ymin, xmax, ymax, normalized keypoints) and return the table ``run`` prints: one row per detection,
    the box in input pixels and normalized."""
    hw = _input_hw(model)
    h, w = hw if hw is not None else (1, 1)
    labels = model.labels or model.metadata.labels
    rows: list[tuple[Any, ...]] = []
    for i, res in enumerate(results):
        det = task.decoder.decode_one(run.outputs, i)
        order = np.argsort(-np.asarray(det.scores), kind="stable")
        found = []
        for k in order:
            box = [float(v) for v in det.boxes[k]]
            cls = int(det.classes[k]) if det.classes is not None else None
            kps = [] if det.keypoints is None else [[round(float(x), 6), round(float(y), 6)]
                                                    for x, y in det.keypoints[k]]
            found.append({"score": round(float(det.scores[k]), 6), "class_id": cls,
                          **({"label": _class_name(labels, cls)} if labels and cls is not None else {}),
                          "box": [round(v, 6) for v in box], "keypoints": kps})
            px = f"{box[0] * w:.1f}, {box[1] * h:.1f}, {box[2] * w:.1f}, {box[3] * h:.1f}"
            norm = ", ".join(f"{v:.3f}" for v in box)
            first = len(found) == 1
            rows.append((res["input"] if first else "", f"{float(det.scores[k]):.3f}", _class_name(labels, cls),
                         px, norm, len(kps), ms(res["latency_ms"]) if first else ""))
        res["detections"] = found
        if not found:
            rows.append((res["input"], "-", "-", "no detections", "", "", ms(res["latency_ms"])))
    head = f"{task.decoder.describe()}; boxes xmin, ymin, xmax, ymax"
    return head + "\n" + render.table(rows, header=("input", "score", "class", f"box (px of {w}x{h})",
                                                     "box (normalized)", "keypoints", "invoke"))


def _add_landmarks(model: Any, run: Any, results: list[dict[str, Any]]) -> str:
    """Each sample's landmark points into ``results`` (``landmarks``: point count and the points' box) and the
    table ``run`` prints. The points are the output with the most values (a face mesh's 1404 beside its
    presence score)."""
    from edgelite.runtime.tasks.landmarks import points_of

    name = max(run.outputs, key=lambda k: int(np.prod(np.shape(run.outputs[k])[1:] or (1,))))
    points, _ = points_of(run.outputs[name])
    rows: list[tuple[Any, ...]] = []
    for i, res in enumerate(results):
        p = points[i]
        box = [float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())] \
            if len(p) else []
        res["landmarks"] = {"output": name, "points": int(len(p)), "box": [round(v, 6) for v in box]}
        rows.append((res["input"], name, len(p), ", ".join(f"{v:.4g}" for v in box) or "-", ms(res["latency_ms"])))
    return render.table(rows, header=("input", "output", "points", "points' box (xmin, ymin, xmax, ymax)", "invoke"))
