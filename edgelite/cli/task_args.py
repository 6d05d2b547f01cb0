"""The task flags (``--task``, ``--decoder``, ``--annotations``, ``--masks``, ``--metric``, ``--resamples``) shared
by compare, convert and analyze (run and serve take ``--task``/``--decoder``), and the ``TaskRequest`` they
make."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

TASK_CHOICES = ("classify", "detect", "landmarks", "segment", "embed", "regress")


def add_task_flags(p: argparse.ArgumentParser, *, what: str = "the verdict", judged: bool = True) -> Any:
    """The task flags on ``p``; ``judged=False`` (run, serve: one model, no float model beside it, no labels)
    gives only ``--task`` and ``--decoder``, so no flag is taken and then ignored."""
    g = p.add_argument_group(f"task ({what} in the model's own task)")
    g.add_argument("--task", choices=TASK_CHOICES,
                   help="what the model does (default: what the file records, else a guess from its labels and "
                        "output shapes, said in one line; regress when nothing fits)")
    g.add_argument("--decoder", metavar="FILE",
                   help="detector decoder: TOML with [anchors] (SsdAnchorsCalculatorOptions), [decode] "
                        "(TensorsToDetectionsCalculatorOptions) and optional [nms] tables, MediaPipe's option "
                        "names (examples/decoders/); or kind = \"yolo\" / \"postprocess\"")
    if not judged:
        return g
    g.add_argument("--annotations", metavar="COCO.json",
                   help="COCO annotations of the evaluation images (file names as in the data): detect, boxes — "
                        "adds mAP@0.5:0.95, mAP@0.5 and AR@100 of both models; landmarks, keypoints — adds OKS AP")
    g.add_argument("--masks", metavar="DIR",
                   help="segment: label masks, one PNG per evaluation image (same file stem): mIoU against labels")
    g.add_argument("--metric", metavar="MODULE:FUNC",
                   help="your own metric, package.module:function or path/to/file.py:function, called as "
                        "f(outputs, reference=..., labels=...) -> float (higher is better) or (float, "
                        "per_sample); RUNS YOUR CODE, imported only when named")
    g.add_argument("--resamples", type=int, default=1000, metavar="B",
                   help="paired bootstrap resamples for the task metrics' 95 %% intervals (default 1000, seeded "
                        "by --seed)")
    return g


def task_request(args: argparse.Namespace) -> Any:
    """The ``TaskRequest`` of the parsed flags (None when the command has no task flags)."""
    if not hasattr(args, "task"):
        return None
    from edgelite.runtime.tasks.spec import TaskRequest

    def path(v: str | None) -> Path | None:
        return None if v is None else Path(v)

    return TaskRequest(kind=args.task, decoder=path(args.decoder), annotations=path(getattr(args, "annotations", None)),
                       masks=path(getattr(args, "masks", None)), metric=getattr(args, "metric", None),
                       resamples=getattr(args, "resamples", 1000), seed=getattr(args, "seed", 0) or 0)
