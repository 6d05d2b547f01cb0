"""One entry point for every task: ``judge(spec, reference, candidate, ctx, pairs)`` → ``TaskFigures``.

The candidate's outputs are first renamed to the reference's (``pairs``, as ``comparisons.match`` paired them), so
every task, decoder and user metric reads one set of names. With ``--metric`` the user metric is the headline and
the task's own figures stay beside it."""

from __future__ import annotations

import dataclasses

from edgelite.runtime.tasks.base import EvalContext, Outputs, TaskFigures, worst_first
from edgelite.runtime.tasks.spec import TaskSpec


def judge(spec: TaskSpec, reference: Outputs, candidate: Outputs, ctx: EvalContext,
          pairs: list[tuple[str, str]] | None = None) -> TaskFigures:
    """The task's figures of ``candidate`` against ``reference`` (outputs stacked over the same samples)."""
    pairs = pairs if pairs is not None else [(k, k) for k in reference]
    ref = {r: reference[r] for r, _ in pairs}
    cand = {r: candidate[c] for r, c in pairs}
    basis = spec.basis
    if spec.kind == "detect":
        from edgelite.runtime.tasks import detect

        figs = detect.judge(spec, ref, cand, ctx)
    elif spec.kind == "classify":
        from edgelite.runtime.tasks import classify

        figs = classify.judge(ref, cand, ctx, class_output=spec.class_output, basis=basis)
    elif spec.kind == "landmarks":
        from edgelite.runtime.tasks import landmarks

        figs = landmarks.judge(ref, cand, ctx, basis=basis, annotations=spec.annotations)
    elif spec.kind == "segment":
        from edgelite.runtime.tasks import segment

        figs = segment.judge(ref, cand, ctx, basis=basis, masks=spec.masks)
    elif spec.kind == "embed":
        from edgelite.runtime.tasks import embed

        figs = embed.judge(ref, cand, ctx, basis=basis)
    else:
        from edgelite.runtime.tasks import regress

        figs = regress.judge(ref, cand, ctx, pairs=[(r, r) for r, _ in pairs], basis=basis)
    if spec.notes:
        figs = dataclasses.replace(figs, notes=[*spec.notes, *figs.notes])
    if spec.metric is None:
        return figs
    from edgelite.runtime.tasks.user_metric import metric_figures

    record, per_sample_loss, method = metric_figures(spec.metric, ref, cand, ctx)
    worst = figs.worst if per_sample_loss is None else worst_first(ctx.ids, per_sample_loss)
    return dataclasses.replace(figs, headline="metric", metrics={"metric": record, **figs.metrics},
                               method=f"{method}; {figs.method}", worst=worst)
