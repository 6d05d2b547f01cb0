"""One small function per subcommand: parse flags into API calls, print a table, write JSON atomically."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgelite.calibration.preprocess import PreprocessSpec, parse_floats, parse_size
from edgelite.cli import render
from edgelite.cli.source_args import input_shapes
from edgelite.cli.task_args import task_request
from edgelite.core.errors import CheckFailed, UserInputError
from edgelite.core.files import atomic_write_text, check_outputs


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":   # its own module: the board's command, inputs in and every output out
        from edgelite.cli.run_command import cmd_run

        return cmd_run(args)
    return {"convert": cmd_convert, "analyze": cmd_analyze, "qat": cmd_qat, "distill": cmd_distill,
            "serve": cmd_serve, "compare": cmd_compare, "bench": cmd_bench, "inspect": cmd_inspect,
            "check": cmd_check}[args.command](args)


def _write_json(path: str | None, report: Any) -> None:
    if path:
        atomic_write_text(path, report.to_json() + "\n")
        print(f"report written to {path}")


def _emit(args: argparse.Namespace, report: Any, table: str) -> None:
    """The table on stdout, warnings on stderr, then the --json and --html files if asked for."""
    print(table)
    for w in report.warnings:
        print(f"warning: {render.printable(w)}", file=sys.stderr)
    _write_json(args.json, report)
    _write_html(args.html, report)


def _check_outputs(args: argparse.Namespace, flags: tuple[str, ...], inputs: list[Any]) -> None:
    """Before any work: outputs may not be inputs, folders or unwritable (see ``_util.check_outputs``)."""
    check_outputs({f"--{flag.replace('_', '-')}" if flag != "output" else "-o": getattr(args, flag, None)
                   for flag in flags}, inputs)


def _write_html(path: str | None, report: Any) -> None:
    if path:
        from edgelite.html import write_report

        write_report(path, report)
        print(f"HTML report written to {path}")


def _spec_overrides(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {}
    if args.input_size:
        over["height"], over["width"] = parse_size(args.input_size)
    if args.resize:
        over["resize"] = args.resize
    if getattr(args, "resize_pipeline", None):
        from edgelite.calibration.resize import Pipeline

        over["pipeline"] = Pipeline.parse(args.resize_pipeline).value
    if args.color:
        over["color"] = args.color
    if args.mean:
        over["mean"] = parse_floats(args.mean, "mean")
    if args.std:
        over["std"] = parse_floats(args.std, "std")
    return over


def _spec_for(model: Any, args: argparse.Namespace) -> PreprocessSpec | None:
    """The embedded spec with command-line overrides; a spec from flags alone for models without one."""
    over = _spec_overrides(args)
    base = model.spec
    if not over:
        return base
    if base is None:
        shape = model.input.shape
        if len(shape) != 4:
            raise UserInputError(f"{model.path}: input {shape} is not an image; preprocessing flags do not apply")
        data = {"height": shape[1], "width": shape[2], "color": "gray" if shape[3] == 1 else "rgb"}
    else:
        data = base.to_dict()
    data.update(over)
    return PreprocessSpec.from_dict(data)


def _runtime(args: argparse.Namespace) -> dict[str, Any]:
    """Model.load keyword arguments from the shared runtime flags."""
    from edgelite.runtime.backends import DelegateSpec, parse_delegate_options

    options = parse_delegate_options(args.delegate_option)
    if options and not args.delegate:
        raise UserInputError("--delegate-option needs a --delegate PATH.so to apply to")
    return {"backend": args.backend, "xnnpack": not args.no_xnnpack,
            "delegates": [DelegateSpec(path, options) for path in args.delegate or []],
            "probe_cache": not args.no_cache}


# ---- convert -------------------------------------------------------------------------------------------------
def _list(values: Any) -> list[float] | None:
    return None if values is None else list(values)


def _convert_config(args: argparse.Namespace, output: Path) -> Any:
    from edgelite.converter import ConvertConfig
    from edgelite.core.options import ConvertOptions

    over = _spec_overrides(args)
    options = ConvertOptions(
        target=getattr(args, "target", None) or "litert", mode=getattr(args, "mode", None), io=args.io,
        samples=args.samples, seed=args.seed, allow_float_ops=getattr(args, "allow_float_ops", False),
        keep_float=list(getattr(args, "keep_float", ())), keep_float_ops=list(getattr(args, "keep_float_op", ())),
        input_size=[over["height"], over["width"]] if "height" in over else None, resize=over.get("resize"),
        color=over.get("color"), mean=_list(over.get("mean")), std=_list(over.get("std")),
        calibration=getattr(args, "calibration", None), bias_correction=getattr(args, "bias_correction", False),
        equalize=getattr(args, "equalize", None),
        input_shapes=[list(x) for x in input_shapes(args)] or None, keep_layout=getattr(args, "keep_layout", False))
    cfg = ConvertConfig.from_options(
        args.model, output, options, calib=args.calib, labels=getattr(args, "labels", None), eval=args.eval,
        eval_samples=args.eval_samples, max_drop=getattr(args, "max_drop", None),
        max_float_layers=getattr(args, "max_float_layers", None), resize_pipeline=over.get("pipeline"),
        confirm_fraction=getattr(args, "confirm_fraction", 1 / 3), optimize=getattr(args, "optimize", None),
        max_size_growth=getattr(args, "max_size_growth", 1.3))
    if getattr(args, "recipe", None) is None:
        return cfg
    from edgelite.converter.replay import read_recipe

    # The recipe decides every quantization choice: a flag that decides one too would be silently ignored.
    stated = {"--mode": args.mode, "--io": args.io,
              "--calibration": None if args.calibration == "minmax" else args.calibration,
              "--bias-correction": args.bias_correction or None, "--equalize": args.equalize,
              "--keep-float": args.keep_float or None, "--keep-float-op": args.keep_float_op or None,
              "--allow-float-ops": args.allow_float_ops or None, "--max-drop": args.max_drop,
              "--optimize": args.optimize}
    clash = [flag for flag, value in stated.items() if value is not None]
    if clash:
        raise UserInputError(f"--recipe {args.recipe} sets every quantization choice; drop {', '.join(clash)}")
    recipe = read_recipe(args.recipe)
    if args.target not in (None, "litert", recipe.target):
        raise UserInputError(f"--recipe {args.recipe} is for --target {recipe.target}; drop --target {args.target}")
    return cfg.with_recipe(recipe)


def _with_task(cfg: Any, args: argparse.Namespace) -> Any:
    """``cfg`` judged by the task flags (--task, --metric, --decoder, …) where the command has them."""
    import dataclasses

    from edgelite.cli.task_args import task_request

    request = task_request(args)
    return cfg if request is None else dataclasses.replace(cfg, task=request)


def cmd_convert(args: argparse.Namespace) -> int:
    from edgelite.converter import convert

    _check_outputs(args, ("output", "json"), [args.model, args.calib, getattr(args, "labels", None), args.eval])
    report = convert(_with_task(_convert_config(args, Path(args.output)), args), log=print)
    print(render.convert_table(report))
    _write_json(args.json, report)
    failure = report.failure()
    if failure is not None:
        raise CheckFailed(failure)
    return 0


# ---- analyze -------------------------------------------------------------------------------------------------
MEASURE_DEFAULT = 10   # layers whose contribution analyze measures: ~0.5 s each on face mesh (issue 25: ≤ 15 s)

def _measure_count(value: str | None, top: int) -> int | None:
    if value is None:
        return min(top, MEASURE_DEFAULT)
    if value == "all":
        return None
    from edgelite.core.limits import ascii_uint

    n = ascii_uint(value)
    if n is None:
        raise UserInputError(f"--measure {value[:40]!r}: give a number of layers or 'all'")
    return n


def cmd_analyze(args: argparse.Namespace) -> int:
    from edgelite.converter.analyze import analyze

    if args.top < 1:
        raise UserInputError(f"--top must be ≥ 1, got {args.top}")
    _check_outputs(args, ("json", "html"), [args.model, args.calib, getattr(args, "labels", None), args.eval])
    report = analyze(_with_task(_convert_config(args, Path(f"{Path(args.model).stem}_analyze.tflite")), args),
                     measure=_measure_count(args.measure, args.top))
    print(render.analyze_table(report, limit=args.top))
    _write_json(args.json, report)
    _write_html(args.html, report)
    return 0


# ---- qat -----------------------------------------------------------------------------------------------------
def cmd_qat(args: argparse.Namespace) -> int:
    from edgelite.converter.qat import TrainConfig, finetune

    if args.distill and args.data is None:
        raise UserInputError("qat --distill needs --data SRC: unlabelled images (a folder, .npy or .npz) that the "
                             "float model labels as the QAT model trains")
    if args.data is not None and not args.distill:
        raise UserInputError("--data is the unlabelled data of --distill; labelled training data goes to --train")
    if args.distill and args.train is not None:
        raise UserInputError("--distill trains on --data without labels; drop --train")
    if not args.distill and args.train is None:
        raise UserInputError("qat needs --train SRC (labelled) or --distill --data SRC (unlabelled)")
    train = args.data if args.distill else args.train
    if args.calib is None:
        args.calib = train
    _check_outputs(args, ("output", "json"), [args.model, train, args.calib, getattr(args, "labels", None),
                                              args.eval])
    tc = TrainConfig(convert=_convert_config(args, Path(args.output)), train=Path(train), epochs=args.epochs,
                     batch_size=args.batch_size, learning_rate=args.lr, qat=not args.no_qat, prune=args.prune,
                     distill=args.distill, temperature=args.temperature)
    report = finetune(tc, log=print)
    print(render.train_table(report))
    _write_json(args.json, report)
    return 0


# ---- distill -------------------------------------------------------------------------------------------------
def cmd_distill(args: argparse.Namespace) -> int:
    from edgelite.converter.distillation import DistillConfig, distill

    args.calib = args.data
    _check_outputs(args, ("output", "json"), [args.model, args.student, args.data, getattr(args, "labels", None),
                                              args.eval])
    dc = DistillConfig(convert=_convert_config(args, Path(args.output)), student=Path(args.student),
                       epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                       temperature=args.temperature, hard_weight=args.hard_weight,
                       labels_optional=args.labels_optional)
    report = distill(dc, log=print)
    print(render.distill_table(report))
    _write_json(args.json, report)
    return 0


# ---- serve ---------------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from edgelite.core.files import lazy_import

    serve_extra = "pip install 'edgelite[serve]'"
    lazy_import("uvicorn", install=serve_extra)
    lazy_import("starlette", install=serve_extra)
    from edgelite.serve.app import create_app
    from edgelite.serve.limits import MiB, ServeLimits
    from edgelite.serve.repository import Repository
    from edgelite.serve.server import parser_name, run

    if not 0 < args.port < 65536:
        raise UserInputError(f"--port must be 1-65535, got {args.port}")
    limits = ServeLimits(max_body=args.max_body, max_body_in_flight=args.max_body_in_flight,
                         max_pixels=args.max_pixels, work_memory=int(args.work_memory_mb * MiB),
                         max_batch=args.max_batch, header_timeout_s=args.header_timeout,
                         body_timeout_s=args.body_timeout, keepalive_s=args.keepalive_timeout,
                         shutdown_timeout_s=args.shutdown_timeout, max_connections=args.max_connections,
                         max_header_bytes=args.max_header_bytes)
    from edgelite.serve.capture import Capture
    from edgelite.serve.middleware import read_token

    token = read_token(Path(args.token_file)) if args.token_file else None
    admin_token = read_token(Path(args.admin_token_file), "--admin-token-file") if args.admin_token_file else None
    capture = Capture(Path(args.capture), args.capture_rate, args.capture_max_mb) if args.capture else None
    if args.poll_seconds < 0:
        raise UserInputError(f"--poll-seconds must be ≥ 0, got {args.poll_seconds}")
    from edgelite.serve.updates import watch_available
    from edgelite.serve.versions import VersionPolicy, parse_pins

    policy, pins = VersionPolicy.parse(args.versions), parse_pins(args.pin)
    repo = Repository(Path(args.repo), threads=args.threads, policy=policy, pins=pins,
                      allow_signature_change=args.allow_signature_change, log=lambda line: print(line, flush=True),
                      instances=args.instances, max_queue=args.max_queue, model_name=args.model_name,
                      follow_symlinks=args.follow_symlinks, task=task_request(args))
    for served in repo:
        print(f"serving {served.name} version {served.version} ({served.path}; policy "
              f"{repo.policy_for(served.name).describe()})")
    watch = args.watch == "auto" and watch_available()
    updates = [f"every {args.poll_seconds:g} s"] if args.poll_seconds > 0 else []
    updates += ["on file changes (inotify)"] if watch else []
    print(f"new versions: {' and '.join(updates) or 'never (--poll-seconds 0 --watch off)'}")
    for warning in _exposure_warnings(args.host, token, admin_token, args.enable_repository_api):
        print(f"warning: {warning}", flush=True)
    print(f"Open Inference Protocol on http://{args.host}:{args.port}/v2, HTTP parser {parser_name()} "
          f"(Ctrl-C to stop; SIGTERM lets requests finish for up to {limits.shutdown_timeout_s:g} s)")
    import signal

    # uvicorn catches SIGTERM/SIGINT, stops accepting, lets requests in flight finish, then raises the signal
    # again for the handlers it found: absorb that one so a normal stop exits 0 instead of "terminated" (143).
    previous = {sig: signal.signal(sig, lambda signum, frame: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        access_log = (lambda line: print(line, flush=True)) if args.access_log else None
        app = create_app(repo, limits=limits, poll_seconds=args.poll_seconds, token=token, admin_token=admin_token,
                         capture=capture, access_log=access_log, repository_api=args.enable_repository_api,
                         watch=watch)
        run(app, host=args.host, port=args.port, limits=limits)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped: requests in flight finished")
    return 0


def _exposure_warnings(host: str, token: str | None, admin_token: str | None, repository_api: bool) -> list[str]:
    """What a server reachable from other machines should not do silently (README: Exposing serve)."""
    import ipaddress

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    found = []
    if not loopback and token is None:
        found.append(f"--host {host} is reachable from other machines and there is no --token-file: anyone who "
                     "can reach it can run the models")
    if not loopback and repository_api and admin_token is None:
        found.append("--enable-repository-api without --admin-token-file: "
                     + ("the inference token also loads and unloads models" if token else "anyone can unload models"))
    return found


# ---- compare -------------------------------------------------------------------------------------------------
def _is_saved_run(path: str) -> bool:
    return Path(path).suffix.lower() == ".npz"   # never a model: models are .tflite, .keras, .h5 or folders


def cmd_compare(args: argparse.Namespace) -> int:
    from edgelite.runtime import Model

    _check_outputs(args, ("json", "html"), [args.reference, args.candidate, args.data])
    if _is_saved_run(args.reference) or _is_saved_run(args.candidate):
        return _compare_saved(args)
    if args.data is None:
        raise UserInputError("compare needs --data SRC (an image folder, .npy or .npz) to run the models on, or "
                             "two runs saved with `edgelite run MODEL DATA --save-run FILE.npz`")

    cand = Model.load(args.candidate, threads=args.threads, probe=True, **_runtime(args))
    if Path(args.reference).suffix == ".tflite":
        ref: Any = Model.load(args.reference, threads=args.threads, probe=True, **_runtime(args))
        if ref.quantized and not cand.quantized:
            raise UserInputError(f"{args.reference} is quantized but {args.candidate} is float: REFERENCE comes "
                                 "first (the float model), then CANDIDATE (the quantized one)")
        if cand.spec is None and ref.spec is not None:
            cand.with_spec(ref.spec)
        return _compare_with(args, ref, cand)
    from edgelite.converter.pytorch_source import kind_of

    kind = kind_of(args.reference)
    if kind is not None:
        from edgelite.converter.source_reference import open_source_reference

        # the source itself is the reference (eager PyTorch, onnxruntime), fed in its own layout
        return _compare_with(args, open_source_reference(args.reference, kind, cand, input_shapes(args)), cand)
    if input_shapes(args) or getattr(args, "keep_layout", False):
        raise UserInputError(f"{args.reference}: --input-shape and --keep-layout are for PyTorch and ONNX "
                             "references; drop them")
    from edgelite.converter.loading import load_source
    from edgelite.converter.reference import TFReference

    with load_source(args.reference) as src:
        return _compare_with(args, TFReference(src), cand)


def _compare_saved(args: argparse.Namespace) -> int:
    """Two saved runs, no models: latency comes from the recorded per-invoke times."""
    from edgelite.runtime.compare import compare_runs
    from edgelite.runtime.runs import Run

    for path, other in ((args.reference, args.candidate), (args.candidate, args.reference)):
        if not _is_saved_run(path):
            raise UserInputError(f"{path}: compare takes two models or two saved runs, not one of each; save "
                                 f"this model's run on {other}'s inputs with `edgelite run {path} DATA "
                                 "--save-run FILE.npz`")
    if args.data is not None or args.samples is not None:
        raise UserInputError("--data and --samples are for models; saved runs carry their own samples: drop them")
    ref, cand = Run.load(args.reference), Run.load(args.candidate)
    if ref.quantized and cand.quantized is False:
        raise UserInputError(f"{args.reference} is a quantized model's run but {args.candidate} a float one's: "
                             "REFERENCE comes first (the float model), then CANDIDATE (the quantized one)")
    report = compare_runs(ref, cand, task=task_request(args))
    _emit(args, report, render.compare_table(report))
    return 0


def _compare_with(args: argparse.Namespace, ref: Any, cand: Any) -> int:
    from edgelite.runtime.compare import compare_on

    # Each model its own preprocessing: a .tflite its embedded spec; the flags override the candidate's — or,
    # for a reference without a spec of its own (Keras, SavedModel), say what that reference takes.
    ref_spec = None
    cand_spec = _spec_for(cand, args)
    if _spec_overrides(args) and cand.spec is not None and getattr(ref, "spec", None) is None:
        ref_spec, cand_spec = cand_spec, None
    report = compare_on(ref, cand, args.data, samples=args.samples, seed=args.seed, spec=cand_spec,
                        reference_spec=ref_spec, task=task_request(args))
    _emit(args, report, render.compare_table(report))
    return 0


# ---- bench ---------------------------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from edgelite.runtime.bench import benchmark, parse_threads
    from edgelite.runtime.isolation import probe
    from edgelite.runtime.tflite_file import read_model_bytes

    runtime = _runtime(args)
    _check_outputs(args, ("json", "html"), [args.model, args.reference])
    for path in [args.model] + ([args.reference] if args.reference else []):
        content = read_model_bytes(path)  # missing file / not a model: the plain message, before any process
        probe(path, backend=runtime["backend"], delegates=[(d.path, d.options) for d in runtime["delegates"]],
              content=content, cache=runtime["probe_cache"])
    xnnpack = {"on": (True,), "off": (False,), "both": (True, False)}["off" if args.no_xnnpack else args.xnnpack]
    report = benchmark(args.model, threads=parse_threads(args.threads), runs=args.runs, warmup=args.warmup,
                       max_seconds=args.max_seconds, backend=runtime["backend"], xnnpack=xnnpack,
                       delegates=runtime["delegates"], reference=args.reference, ops=args.ops)
    _emit(args, report, render.bench_table(report))
    return 0


# ---- check -----------------------------------------------------------------------------------------------------
def _convert_source(source: Path, output: Path, options: Any, *, calib: Path | None, labels: Path | None,
                    log: Any) -> None:
    from edgelite.converter.convert import convert_options  # only entries given as a source model need it

    convert_options(source, output, options, calib=calib, labels=labels, log=log)


def cmd_check(args: argparse.Namespace) -> int:
    import dataclasses

    from edgelite.check import find_config, load_config, run_check
    from edgelite.check.export import junit_xml, markdown

    cfg = load_config(args.config or find_config())
    if args.baseline:
        cfg = dataclasses.replace(cfg, baseline=Path(args.baseline))
    model_paths = [getattr(m, f.name) for m in cfg.models for f in dataclasses.fields(m)
                   if isinstance(getattr(m, f.name), Path)]
    _check_outputs(args, ("json", "junit", "markdown", "html"), [cfg.path, cfg.baseline, *model_paths])
    report = run_check(cfg, update_baseline=args.update_baseline, log=print, probe_cache=not args.no_cache,
                       convert_source=_convert_source)
    print(render.check_table(report))
    for w in report.warnings:
        print(f"warning: {render.printable(w)}", file=sys.stderr)
    _write_json(args.json, report)
    for path, text, what in ((args.junit, junit_xml, "JUnit XML"), (args.markdown, markdown, "markdown summary")):
        if path:
            atomic_write_text(path, text(report))
            print(f"{what} written to {path}")
    _write_html(args.html, report)
    if report.baseline_updated:
        print(f"baseline written to {report.baseline}")
    failure = report.failure()
    if failure is not None:
        raise CheckFailed(failure)
    return 0


# ---- inspect -------------------------------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    from edgelite.runtime import Model
    from edgelite.runtime.inspection import inspect_model

    model = Model.load(args.model, probe=True, probe_cache=not args.no_cache)
    info = inspect_model(model, gpu=args.gpu)
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        print(render.inspect_table(info))
    return 0
