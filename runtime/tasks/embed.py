"""embed: the candidate's embeddings against the float model's — mean cosine similarity per sample, and k-NN
overlap@10: for each sample, the share of its 10 nearest neighbours (cosine, among the evaluation samples) that
the int8 embeddings keep. Paired bootstrap over samples (the neighbour sets are those of the full set)."""

from __future__ import annotations

import numpy as np

from edgelite.core import bootstrap
from edgelite.runtime.tasks.base import EvalContext, Outputs, TaskFigures, TaskMetric, worst_first

K = 10
KNN_MAX_SAMPLES = 4096   # the neighbour search holds an N×N similarity matrix: 4096² doubles = 128 MiB


def _unit(a: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    out: np.ndarray = a / np.where(norm > 0, norm, 1.0)
    return out


def _neighbours(unit: np.ndarray, k: int) -> np.ndarray:
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    out: np.ndarray = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return out


def judge(reference: Outputs, candidate: Outputs, ctx: EvalContext, *, output: str | None = None,
          candidate_output: str | None = None, basis: str = "") -> TaskFigures:
    name = output or next(iter(reference))
    ref = np.asarray(reference[name], np.float64).reshape(len(ctx.ids), -1)
    cand = np.asarray(candidate[candidate_output or name], np.float64).reshape(len(ctx.ids), -1)
    ru, cu = _unit(ref), _unit(cand)
    cos = (ru * cu).sum(1)
    n = len(cos)
    ones = np.ones(n)
    metrics = {"cosine": TaskMetric.vs_reference(bootstrap.paired_bootstrap(
        {"v": ones, "one": ones}, {"v": cos, "one": ones}, bootstrap.ratio("v", "one"), resamples=ctx.resamples,
        seed=ctx.seed))}
    notes = []
    k = K
    if n <= K:   # fewer than 11 samples have no 10 neighbours: the figure would be another one under this name
        notes.append(f"k-NN overlap@{K} needs more than {K} samples; {n} given")
    else:
        m = min(n, KNN_MAX_SAMPLES)
        if m < n:
            notes.append(f"k-NN overlap on the first {m} of {n} samples (the neighbour search's cap)")
        nr, nc = _neighbours(ru[:m], k), _neighbours(cu[:m], k)
        overlap = np.array([len(set(a) & set(b)) / k for a, b in zip(nr.tolist(), nc.tolist(), strict=True)])
        one = np.ones(m)
        metrics["knn_overlap10"] = TaskMetric.vs_reference(bootstrap.paired_bootstrap(
            {"v": one, "one": one}, {"v": overlap, "one": one}, bootstrap.ratio("v", "one"),
            resamples=ctx.resamples, seed=ctx.seed))
    method = (f"output {name}: cosine similarity of each sample's int8 and float embedding; k-NN overlap@{k}: "
              f"neighbours by cosine among the evaluation samples; paired bootstrap over samples "
              f"({ctx.resamples} resamples, seed {ctx.seed})")
    return TaskFigures(kind="embed", headline="cosine", metrics=metrics, basis=basis, method=method, notes=notes,
                       worst=worst_first(ctx.ids, 1.0 - cos), details={"output": name})
