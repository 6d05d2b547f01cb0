"""``convert``: source model → calibrated TFLite with the preprocessing contract and labels inside the file."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgelite.calibration.multi_input import first_input
from edgelite.converter import io_names, preflight
from edgelite.converter.calibrated import Calibrated, Node, layer_of
from edgelite.converter.config import ConvertConfig, QuantMode
from edgelite.converter.finalize import created_utc, finalize, provenance
from edgelite.converter.float_fallback import BudgetReport, search
from edgelite.converter.prepare import input_pin, prepared, resolve_spec  # noqa: F401 - resolve_spec: public API
from edgelite.converter.pytorch_source import source_digest
from edgelite.converter.report import CalibrationInfo, ConvertReport, Evaluation, FloatOp, IOTypes
from edgelite.converter.scoring import Scorer
from edgelite.converter.tflite_converter import run_tf, tflite_converter
from edgelite.core.errors import ConversionError, UserInputError
from edgelite.core.formatting import float_ops_line
from edgelite.core.options import ConvertOptions
from edgelite.core.vocabulary import PRESETS
from edgelite.runtime import gpu, tflite_file

if TYPE_CHECKING:
    from edgelite.runtime.tasks.spec import TaskSpec


def float_ops_report(model_bytes: bytes, layer_names: tuple[str, ...]) -> list[FloatOp]:
    found = []
    for op in tflite_file.float_compute_ops(model_bytes):
        tensor = op.outputs[0].name if op.outputs else ""
        found.append(FloatOp(op=op.op_type, tensor=tensor, layer=layer_of(tensor, layer_names)))
    return found


def convert(cfg: ConvertConfig, *, log: Callable[[str], None] = lambda line: None) -> ConvertReport:
    """Convert ``cfg.model`` to ``cfg.output``. Raises ``UserInputError``/``ConversionError``; writes atomically.

    int8 goes through ``Calibrated`` (calibrate once, quantize with ``--keep-float`` layers or the
    ``--max-drop`` search); ``log`` receives the search's step lines. A budget that cannot be met still
    writes the best model found: check ``report.budget.met``."""
    t_start = time.perf_counter()
    warnings = cfg.validate()
    for note in cfg.target_notes:
        log(note)
    created = created_utc()
    src_hash, src_size = source_digest(cfg.model)
    kept: list[Node] = []
    cal: Calibrated | None = None
    budget: BudgetReport | None = None
    int8_size: int | None = None
    ranges = None
    bias = None
    eq = None
    optimized = None
    drift_ref = None
    task = None
    evaluation = None

    with prepared(cfg, warnings) as prep:
        src, spec, timings = prep.src, prep.spec, prep.timings
        off = src.export.float_warning() if src.export is not None else None
        if off is not None:
            warnings.append(off)
        t0 = time.perf_counter()
        if cfg.mode is QuantMode.INT8:
            assert prep.calib is not None
            cal = Calibrated(src, cfg, prep.calib.x, input_pin(cfg, spec, warnings))
            timings["calibrate_s"] = time.perf_counter() - t0
            kept = cal.select(cfg.keep_float, cfg.keep_float_ops)
            task = task_spec(cfg, cal.float_model(), prep.labels)
            ev = prep.eval_data(cfg) if cfg.eval is not None else None
            warnings.extend(prep.data_warnings(cfg, ev))
            from edgelite.converter.mixed_range_check import mixed_range_warnings

            # one output holding pixels beside [0, 1] scores loses the scores to one int8 scale (YOLO's mAP ≈ 0);
            # said before the per-tensor range advice, whose --keep-float fix is not this one's
            warnings.extend(mixed_range_warnings(cal.float_model(), prep.calib.x, src.kind))
            warnings.extend(preflight.graph_warnings(cal, prep.calib.x))
            t0 = time.perf_counter()
            if cfg.optimize is not None or cfg.calibration == "auto":
                assert ev is not None
                model_bytes, cal, kept, optimized = _optimized(cal, cfg, prep, ev, kept, log, task)
                timings["optimize_s"] = time.perf_counter() - t0
            elif cfg.max_drop is not None:
                assert ev is not None
                model_bytes, kept, budget = _budgeted(cal, cfg, prep, ev, kept, warnings, log, task)
                timings["search_s"] = time.perf_counter() - t0
            else:
                model_bytes = cal.quantize(kept)
                if ev is not None:
                    evaluation = _evaluated(cal, cfg, prep, ev, model_bytes, task, log)
            eq = cal.equalization
            if eq is not None and eq.pairs == 0:
                log(f"equalization: {cfg.model.name} has no depthwise-separable block (a depthwise conv next to "
                    "a conv, nothing else reading between them); nothing rescaled")
            elif eq is not None and optimized is None:
                log(f"equalization ({eq.criterion}): {eq.pairs} layer pair(s) rescaled, channel range spread "
                    f"{eq.median_spread_before:g}x → {eq.median_spread_after:g}x (median); "
                    "float model vs original: agreement "
                    f"{100 * (eq.float_agreement or 0):.2f} %, SNR "
                    f"{'identical' if eq.float_snr_db is None else f'{eq.float_snr_db:.1f} dB'}")
            if cal.range_choice.method != "minmax":
                ranges = cal.range_choice
                if optimized is None:
                    log(f"calibration {ranges.method}: {ranges.narrowed} of {ranges.tensors} activation ranges "
                        f"narrowed (median width {ranges.median_width:.2f}x min-max)")
            bias = cal.bias_correction
            if bias is not None and optimized is None:
                shared = f", {bias.skipped_shared} with shared biases left alone" if bias.skipped_shared else ""
                log(f"bias correction: {bias.layers} layer(s) corrected (median shift {bias.median_shift_steps:.2f} "
                    f"output steps){shared}")
            # bias correction edits values in place, so the plain int8 size needs no second correction run
            plain = cal.quantize(correct_biases=False) if kept else model_bytes
            int8_size = len(plain)
            # what `serve` measures live traffic against (runtime/drift.py)
            from edgelite.converter.scoring import outputs_at_shape
            from edgelite.runtime.drift import reference_stats

            if task is not None and task.kind == "detect" and task.decoder is not None:
                # a detector's drift is its detections per request and top score, as serve decodes them
                from edgelite.converter.scoring import run_all

                names, arrays = run_all(cal.float_model(), prep.calib.x)
                dets = task.decoder.decode_all(dict(zip(names, arrays, strict=True)))
                drift_ref = reference_stats(first_input(prep.calib.x), None, detections=[
                    (len(d.scores), float(d.scores.max()) if len(d.scores) else 0.0) for d in dets])
            else:
                drift_ref = reference_stats(first_input(prep.calib.x),
                                            outputs_at_shape(cal.float_model(), prep.calib.x))
        elif src.export is not None and cfg.mode is QuantMode.FLOAT32:
            assert src.tflite_bytes is not None
            model_bytes = src.tflite_bytes   # a PyTorch/ONNX source's float export is the float32 model
            plain = model_bytes
        else:
            model_bytes = io_names.from_source(run_tf("TFLite converter", cfg, tflite_converter(
                src, cfg, prep.calib.x if prep.calib is not None else None).convert), src)
            plain = model_bytes
            if cfg.task is not None and cfg.task.asked:
                task = task_spec(cfg, model_bytes, prep.labels)
        timings["convert_s"] = time.perf_counter() - t0
        kept_tensors = {n.tensor for n in kept}
        # The ops with no int8 kernel: float in the plain int8 model already. A layer kept float can take a
        # neighbour with it (a SOFTMAX after float logits): that one is part of the fallback, not a failure.
        float_ops = [f for f in float_ops_report(plain, src.layer_names) if f.tensor not in kept_tensors] \
            if cfg.mode.needs_calibration else []
        layer_names, labels, calib_info = src.layer_names, prep.labels, prep.calib_info

    if float_ops and not cfg.allow_float_ops:
        listed = float_ops_line(float_ops, limit=6)
        raise ConversionError(
            f"{cfg.model}: {len(float_ops)} op(s) cannot run in {cfg.mode.value}: {listed}; "
            "--allow-float-ops keeps them float (the rest stays quantized)"
        )
    if float_ops:
        warnings.append(f"{len(float_ops)} op(s) stay float: " + ", ".join(sorted({f.op for f in float_ops})))
    made = provenance(cfg, src_hash, calib_info["used"], created)
    recipe = cal.recipe(kept) if cal is not None else cfg.recipe
    made["recipe"] = recipe.to_dict()
    if kept:
        made["float_layers"] = [n.label for n in kept]
    if drift_ref is not None:
        made[drift_ref.KEY] = drift_ref.to_dict()
    if src.export is not None:
        made["source_export"] = src.export.to_dict()   # the route, the layout, the float export's fidelity
    if task is not None and _records_task(cfg, task):
        from edgelite.runtime.tasks.spec import RECORD_KEY

        made[RECORD_KEY] = task.record()   # run, compare, check and serve judge by the same task
    final = finalize(model_bytes, cfg, spec=spec, labels=labels, provenance=made,
                     description=f"{cfg.model.name} converted by edgelite ({cfg.mode.value})")
    gpu_report = None
    if PRESETS[cfg.target].gpu_check:
        compat = gpu.check(final)
        gpu_report = compat.summarized()
        if not compat.fully_compatible:
            warnings.append(f"not fully GPU-delegate compatible: {compat.summary()}; see `edgelite inspect "
                            f"{cfg.output} --gpu`")
    timings["total_s"] = time.perf_counter() - t_start
    return ConvertReport(
        source=str(cfg.model), source_kind=src.kind, source_sha256=src_hash, source_size_bytes=src_size,
        output=str(cfg.output), size_bytes=len(final), mode=cfg.mode.value, io=cfg.io_type.value,
        spec=spec, labels_count=len(labels) if labels else 0,
        calibration=CalibrationInfo(**calib_info), float_ops=float_ops, layers=len(layer_names),
        timings={k: round(v, 3) for k, v in timings.items()}, warnings=warnings, kept_float=list(kept),
        size_cost_bytes=(len(model_bytes) - int8_size) if int8_size is not None else 0,
        budget=budget, target=cfg.target.value, target_notes=list(cfg.target_notes), gpu=gpu_report, ranges=ranges,
        bias_correction=bias, equalization=eq, optimize=optimized, recipe=recipe, io_types=IOTypes.of(final),
        source_export=src.export, evaluation=evaluation,
    )



def task_spec(cfg: ConvertConfig, float_bytes: bytes, labels: Any) -> TaskSpec | None:
    """The task the conversion is judged by (``scoring.task_for``)."""
    from edgelite.converter.scoring import task_for

    return task_for(cfg.task, float_bytes, labels=labels, source=cfg.model)


def _records_task(cfg: ConvertConfig, spec: TaskSpec) -> bool:
    """Whether the converted file records ``spec``: asked for, recorded by the source (edgelite's entry or its
    standard metadata), or a detector with its decoder (what a later run could not guess again)."""
    asked = cfg.task is not None and cfg.task.asked
    return asked or spec.from_file or (spec.kind == "detect" and spec.decoder is not None)


# Calibration samples used to rank layers (each candidate layer costs one run over them).
RANK_SAMPLES = 64


def _evaluated(cal: Calibrated, cfg: ConvertConfig, prep: Any, ev: Any, model_bytes: bytes, task: TaskSpec | None,
               log: Callable[[str], None]) -> Evaluation:
    """``--eval`` without a budget: the int8 model against the float one on every evaluation sample, in the
    metric ``--max-drop`` would bound (the task's headline loss, else top-1 drop or disagreement)."""
    from edgelite.converter.float_fallback import held_out_figures
    from edgelite.core.progress import working

    with working(f"evaluation: float and int8 on {len(ev.x)} samples"):   # two runs over the data, then intervals
        scorer = Scorer(cal.float_model(), ev.x, ev.y, task=task, ids=prep.eval_ids,
                        crop_fraction=prep.crop_fraction)
        figures = held_out_figures(scorer, model_bytes)
    lo, hi = figures.loss_ci95
    log(f"evaluation: {scorer.metric_name} {figures.loss_pts:.3f} (95 % CI {lo:.2f} … {hi:.2f}) on "
        f"{figures.samples} samples of {cfg.eval}")
    return Evaluation(metric=scorer.metric_name, data=str(cfg.eval), figures=figures)


def _budgeted(cal: Calibrated, cfg: ConvertConfig, prep: Any, ev: Any, kept: list[Node], warnings: list[str],
              log: Callable[[str], None], task: TaskSpec | None = None) -> tuple[bytes, list[Node], BudgetReport]:
    """``--max-drop``: search on one part of the evaluation data, confirm on the held-out rest."""
    from edgelite.calibration.split import search_confirm
    from edgelite.converter.float_fallback import held_out_figures
    from edgelite.core.stats import too_few_samples

    max_drop = cfg.max_drop
    assert max_drop is not None
    s_idx, c_idx = search_confirm(prep.eval_groups, ev.y, cfg.confirm_fraction, cfg.seed)
    float_bytes = cal.float_model()
    crop = prep.crop_fraction
    scorer = Scorer(float_bytes, ev.x[s_idx], None if ev.y is None else ev.y[s_idx], task=task,
                    ids=[prep.eval_ids[i] for i in s_idx], crop_fraction=crop)
    rank_x = prep.calib.x[:RANK_SAMPLES]
    log(f"budget: {scorer.metric_name} ≤ {max_drop:g}; search on {len(s_idx)} samples of {cfg.eval}, "
        f"confirm on {len(c_idx)} held out (whole source groups); layers ranked on {len(rank_x)} "
        "calibration samples")
    result = search(cal, scorer, max_drop, forced=kept, max_layers=cfg.max_float_layers, log=log,
                    rank_x=rank_x)
    met, gap, fig = result.met, result.gap_pts, None
    if len(c_idx):
        confirm = scorer.on(ev.x[c_idx], None if ev.y is None else ev.y[c_idx], [prep.eval_ids[i] for i in c_idx])
        found = held_out_figures(confirm, result.model)
        plain = held_out_figures(confirm, cal.quantize(kept)) if result.kept != kept else found
        met = found.loss_pts <= max_drop + 1e-9
        gap = 0.0 if met else round(found.loss_pts - max_drop, 4)
        fig = dataclasses.replace(found, plain_int8_loss_pts=plain.loss_pts, met=met)
        lo, hi = fig.loss_ci95
        log(f"  confirm: {scorer.metric_name} {fig.loss_pts:.3f} (95 % CI {lo:.1f} … {hi:.1f}) on {fig.samples} "
            f"held-out samples; plain int8 there: {plain.loss_pts:.3f}")
        warn = too_few_samples(scorer.metric_name, max_drop, (lo, hi), fig.samples)
        if warn:
            warnings.append(f"confirm part: {warn}")
    else:
        warnings.append("--confirm-fraction 0: the budget was judged on the data the search tuned on; expect "
                        "less on other images")
    budget = BudgetReport(
        max_drop_pts=result.max_drop, metric=result.metric, met=met, gap_pts=gap, float_layers=result.kept,
        final=result.score, trials=result.trials, float_top1=scorer.float_top1,
        search=dataclasses.replace(held_out_figures(scorer, result.model), met=result.met), search_met=result.met,
        confirm=fig)
    return result.model, result.kept, budget


def _optimized(cal: Calibrated, cfg: ConvertConfig, prep: Any, ev: Any, kept: list[Node],
               log: Callable[[str], None], task: TaskSpec | None = None) -> tuple[bytes, Calibrated, list[Node], Any]:
    """``--optimize accuracy``: the ladder of converter/optimize.py, decided on the search part of ``--eval``
    and reported on its held-out confirm part."""
    from edgelite.calibration.split import search_confirm
    from edgelite.converter.optimize import optimize

    s_idx, c_idx = search_confirm(prep.eval_groups, ev.y, cfg.confirm_fraction, cfg.seed)
    if not len(c_idx) or not len(s_idx):
        raise UserInputError(f"{cfg.eval}: --optimize needs a search part and a held-out confirm part; "
                             f"{len(ev.x)} samples in too few source groups to split: pass more evaluation data")

    def part(idx: Any) -> tuple[Any, Any]:
        return ev.x[idx], None if ev.y is None else ev.y[idx]

    return optimize(cal, *part(s_idx), *part(c_idx), max_drop=cfg.max_drop, max_size_growth=cfg.max_size_growth,
                    forced=kept, max_float_layers=cfg.max_float_layers, log=log,
                    ranges_only=cfg.optimize is None, task=task,
                    ids=([prep.eval_ids[i] for i in s_idx], [prep.eval_ids[i] for i in c_idx]),
                    crop_fraction=prep.crop_fraction)


def convert_options(source: Path, output: Path, options: ConvertOptions, *, calib: Path | None,
                    labels: Path | None, log: Callable[[str], None] = lambda line: None) -> None:
    """Convert ``source`` with a ``check`` config entry's options (``check.run.SourceConverter``)."""
    convert(ConvertConfig.from_options(source, output, options, calib=calib, labels=labels), log=log)
