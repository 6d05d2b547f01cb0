"""The ``edgelite`` command line. Thin over the Python API; the only place that maps errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, cast

from edgelite.cli.source_args import add_source_flags
from edgelite.cli.task_args import add_task_flags
from edgelite.core import vocabulary as voc
from edgelite.core.errors import ConversionError, EdgeliteError, UserInputError
from edgelite.core.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (exit 2) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserInputError(f"{self.prog}: {message} (see {self.prog} --help)")


class _DataAction(argparse.Action):
    """A data flag: one folder/array file, or ``NAME=PATH`` once per input of a multi-input model (collected into
    ``{name: path}``; a path that exists as written is never split at its ``=``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any,
                 option: str | None = None) -> None:
        from pathlib import Path

        before = getattr(namespace, self.dest, None)
        name, sep, path = str(value).partition("=")
        named = bool(sep and name and path) and "/" not in name and not Path(str(value)).exists()
        if not named:
            if before is not None:
                parser.error(f"{option} given twice; for a multi-input model give {option} NAME=PATH per input")
            setattr(namespace, self.dest, value)
            return
        if before is not None and not isinstance(before, dict):
            parser.error(f"{option}: mix of a plain path and NAME=PATH; give NAME=PATH for every input")
        if isinstance(before, dict) and name in before:
            parser.error(f"{option}: input {name!r} given twice")
        setattr(namespace, self.dest, {**(before or {}), name: path})


DATA_NAMED = " (multi-input models: an .npz with one array per input, or NAME=PATH once per input)"


def _add_spec_flags(p: argparse.ArgumentParser, *, defaults_note: str) -> None:
    g = p.add_argument_group(f"preprocessing ({defaults_note})")
    g.add_argument("--input-size", metavar="HxW", help="input height x width, e.g. 224x224")
    g.add_argument("--resize", choices=voc.choices(voc.ResizeMethod), help="resize method")
    g.add_argument("--resize-pipeline", metavar="NAME",
                   help="decode+resize as the client that runs the file: pil (Pillow, antialiased), mediapipe "
                        "(MediaPipe Tasks), tflite-support (TFLite Task Library), tf (tf.image.resize / Keras "
                        "image_dataset_from_directory)")
    g.add_argument("--color", choices=voc.choices(voc.ColorMode), help="channel order / grayscale")
    g.add_argument("--mean", metavar="M[,M,M]", help="per-channel mean on 0-255 pixels")
    g.add_argument("--std", metavar="S[,S,S]", help="per-channel std on 0-255 pixels (value=(pixel-mean)/std)")


def _add_calibration_flag(p: Any) -> None:
    p.add_argument("--calibration", metavar="METHOD", default="minmax",
                   help="int8 activation ranges: minmax (default, as TF), percentile[:P] (default P 99.99), mse "
                        "(least quantization error) or entropy (least KL divergence), from histograms of the "
                        "calibration data; auto (needs --eval) tries them all, picks on part of --eval and reports "
                        "on the held-out rest")
    p.add_argument("--bias-correction", action="store_true",
                   help="int8: subtract from each conv/dense bias the mean output shift its int8 weights cause, "
                        "measured layer by layer on calibration samples")
    p.add_argument("--equalize", nargs="?", const="activations", choices=voc.choices(voc.Equalize),
                   help="int8: cross-layer equalization of depthwise-separable blocks before calibration ranges "
                        "are chosen; CRITERION activations (default: balance each channel's activation range "
                        "against the next layer's weights) or weights (Nagel et al.); a ReLU6 between two "
                        "rescaled layers keeps its clamp (scales bounded so it cuts where it did; the equalized "
                        "float model's agreement with the original is reported)")


# ---- argument groups shared by commands: one definition each, so every command that takes an option lists it
# under the same group title with the same help text (`edgelite <command> --help`).
_THREADS_HELP = "interpreter threads{per} (default: the runtime's choice)"


def _add_runtime_flags(p: argparse.ArgumentParser, *, bench: bool = False, serve: bool = False) -> Any:
    """The "runtime" group: how the interpreter runs (run, compare, bench; serve: --threads alone)."""
    g = p.add_argument_group("runtime")
    if serve:
        g.add_argument("--threads", type=int, help=_THREADS_HELP.format(per=" per model"))
        return g
    if bench:
        g.add_argument("--threads", default="1", help="thread counts to sweep, e.g. 1,2,4 (default 1)")
        g.add_argument("--xnnpack", choices=voc.choices(voc.XnnpackChoice), default="on",
                       help="XNNPACK delegate on, off, or both in one call (default on)")
    else:
        g.add_argument("--threads", type=int, help=_THREADS_HELP.format(per=""))
    g.add_argument("--no-xnnpack", action="store_true", help="run without the default XNNPACK delegate")
    g.add_argument("--backend", default="auto", choices=voc.choices(voc.BackendName),
                   help="TFLite interpreter; auto (default): the first of litert, tflite-runtime, tf that is installed")
    g.add_argument("--delegate", action="append", metavar="PATH.so",
                   help="external delegate library (repeatable), e.g. an Edge TPU or Arm NN delegate")
    g.add_argument("--delegate-option", action="append", metavar="KEY=VALUE",
                   help="option passed to every --delegate (repeatable)")
    _add_no_cache(g)
    return g


def _add_no_cache(p: Any) -> None:
    p.add_argument("--no-cache", action="store_true",
                   help="probe the model in a child process even if this file already probed clean "
                        "(also: EDGELITE_NO_CACHE=1)")


def _add_sampling(g: Any, *, samples: str, default: int | None = None) -> None:
    """--samples N and --seed: how many samples a command draws from its data, and the seed that draws them."""
    g.add_argument("--samples", type=int, default=default, help=samples)
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")


def _add_calibration_data(p: argparse.ArgumentParser, calib: str | None, *, required: bool = False) -> Any:
    """The "int8 calibration" group (convert, analyze, qat, distill): --calib SRC (unless the command takes its
    calibration data from another flag: ``calib=None``), --samples (default 200), --seed."""
    g = p.add_argument_group("int8 calibration")
    if calib is not None:
        g.add_argument("--calib", required=required, action=_DataAction, help=calib + DATA_NAMED)
    _add_sampling(g, samples="calibration samples (default 200)", default=200)
    return g


def _add_evaluation_data(p: argparse.ArgumentParser, eval_help: str, *, required: bool = False) -> Any:
    """The "evaluation data" group of the converting commands: --eval SRC, --eval-samples N."""
    g = p.add_argument_group("evaluation data")
    g.add_argument("--eval", metavar="SRC", required=required, action=_DataAction, help=eval_help + DATA_NAMED)
    g.add_argument("--eval-samples", type=int, metavar="N", help="use a seeded subset of N evaluation samples")
    return g


def _add_outputs(p: argparse.ArgumentParser, *, output: str | None = None, json: str | None = "the report",
                 json_metavar: str = "OUT", html: str | None = None) -> Any:
    """The "output" group: what a command writes. -o/--output (required) when ``output`` is set; --json FILE
    ("write {json} as JSON"), or with ``json=None`` --json as a switch (print JSON instead of the table);
    --html OUT ("write a self-contained HTML report with {html}") when ``html`` is set."""
    g = p.add_argument_group("output")
    if output is not None:
        g.add_argument("-o", "--output", required=True, help=output)
    if json is None:
        g.add_argument("--json", action="store_true", help="print JSON instead of a table")
    else:
        g.add_argument("--json", metavar=json_metavar, help=f"write {json} as JSON")
    if html is not None:
        g.add_argument("--html", metavar="OUT", help=f"write a self-contained HTML report with {html}")
    return g


class _Unbuilt:
    """Stands in for the parser of a command this call does not run: its options are never parsed, so they are
    not built (adding all ~200 options of every command was ~10 ms of a one-image ``edgelite run``)."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        return None

    def add_argument_group(self, *args: Any, **kwargs: Any) -> _Unbuilt:
        return self

    def add_mutually_exclusive_group(self, *args: Any, **kwargs: Any) -> _Unbuilt:
        return self

    def set_defaults(self, **kwargs: Any) -> None:
        return None


class _Subcommands:
    """The subparsers action, adding every command (names and one-line help: ``edgelite --help``, "invalid
    choice" errors) but the options of ``only`` alone, when it is set."""

    def __init__(self, action: Any, only: str | None) -> None:
        self._action, self._only = action, only

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser = self._action.add_parser(name, **kwargs)
        return parser if self._only in (None, name) else cast(argparse.ArgumentParser, _Unbuilt())


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand argparse will dispatch to: the top-level options (-h, --version, -v) take no values, so it
    is the first argument that is not an option. None when there is none (then every command is built)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``edgelite`` parser; with ``only``, that subcommand's options are the only ones built (the others'
    parsers stay empty: fine for parsing a command line whose subcommand is ``only``)."""
    parser = _Parser(prog="edgelite", description="Keras/SavedModel → calibrated int8 TFLite, run, bench, compare.")
    parser.add_argument("--version", action="version", version=f"edgelite {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the converter's own log on failure")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars (they show only on a terminal anyway)")
    sub = _Subcommands(parser.add_subparsers(dest="command", required=True, parser_class=_Parser), only)

    p = sub.add_parser("convert", help="convert a .keras/.h5/SavedModel or a float .tflite to TFLite (default: full "
                                       "int8)")
    p.add_argument("model", help=".keras, .h5, SavedModel folder, or a float .tflite as publishers ship it (e.g. "
                                 "MediaPipe's; to full int8 only): float16/int8 weights behind DEQUANTIZE are folded "
                                 "to float32, and its own metadata (normalization, colour, labels) gives the defaults "
                                 "of --mean/--std/--color/--labels; or a PyTorch .pt2 / package.module:factory or an "
                                 ".onnx (to full int8; needs edgelite[torch] / edgelite[onnx])")
    add_source_flags(p)
    p.add_argument("--target", choices=voc.choices(voc.Target), default="litert",
                   help="deployment preset: " + ", ".join(p.summary for p in voc.PRESETS.values()))
    p.add_argument("--mode", choices=voc.choices(voc.QuantMode),
                   help="quantization (default: the target's, int8 for litert and mediapipe, float16 for gpu)")
    p.add_argument("--io", choices=voc.choices(voc.IOType),
                   help="I/O type (default: the target's, int8 for litert, uint8 for mediapipe)")
    p.add_argument("--labels", help="labels file, one per line (embedded in the .tflite; default: a float .tflite "
                                    "source's own labels file)")
    p.add_argument("--allow-float-ops", action="store_true", help="keep ops with no int8 kernel in float")
    p.add_argument("--recipe", metavar="FILE",
                   help="make the model a previous conversion made: FILE is a .tflite edgelite wrote, its --json "
                        "report or a recipe JSON; sets mode, I/O, range method, bias correction, equalization and "
                        "float layers (give the same source and calibration data)")
    _add_calibration_flag(_add_calibration_data(
        p, "calibration data: image folder, .npy or .npz (needed for int8/int16x8)"))
    _add_evaluation_data(p, "evaluation data for --max-drop and --optimize; alone, the int8 file is judged "
                            "against the float model on it, in the task (SRC/<class>/ or .npz with y)")
    add_task_flags(p, what="--max-drop, --optimize and the evaluation judged")
    g = p.add_argument_group("float fallback and accuracy budget (int8)")
    g.add_argument("--keep-float", action="append", default=[], metavar="REGEX",
                   help="keep ops whose layer or tensor name matches REGEX float (repeatable)")
    g.add_argument("--keep-float-op", action="append", default=[], metavar="OP_TYPE",
                   help="keep every op of this type float, e.g. HARD_SWISH (repeatable)")
    g.add_argument("--max-drop", type=float, metavar="PTS",
                   help="accuracy budget: keep the fewest layers float so that top-1 drops at most PTS points "
                        "(without labels: 100 x (1 - agreement)); exit 1 if it cannot be met")
    g.add_argument("--max-float-layers", type=int, metavar="N",
                   help="with --max-drop: keep at most N layers float (a size bound)")
    g.add_argument("--optimize", choices=("accuracy",),
                   help="accuracy: try range methods, bias correction, equalization, then the fewest float layers, "
                        "in that order; each step decided on part of --eval, reported on the held-out rest; "
                        "stops at the first that meets --max-drop (without it: the best)")
    g.add_argument("--max-size-growth", type=float, metavar="X", default=1.3,
                   help="with --optimize: float layers may grow the plain int8 file at most X times (default 1.3)")
    g.add_argument("--confirm-fraction", type=float, metavar="F", default=1 / 3,
                   help="with --max-drop: hold out this share of --eval (whole source groups, class-balanced) "
                        "that the search never sees; the budget must hold there (default 0.333; 0 disables)")
    _add_outputs(p, output="output .tflite", json="the conversion report", json_metavar="REPORT")
    _add_spec_flags(p, defaults_note="defaults: the model's input size, mean 0, std 255; for a float .tflite, "
                                     "what its metadata says first")

    p = sub.add_parser("analyze", help="rank layers by the int8 error they cause (per-layer diagnosis)")
    p.add_argument("model", help=".keras, .h5 or SavedModel folder, a float .tflite, a PyTorch .pt2 / "
                                 "package.module:factory or an .onnx")
    add_source_flags(p)
    p.add_argument("--io", choices=voc.choices(voc.IOType), help="I/O type (default int8)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="layers shown in the table (default 20)")
    p.add_argument("--measure", metavar="N|all", default=None,
                   help="layers whose contribution is measured by re-quantizing them float, most added noise first "
                        "(default 10, at most --top; all: every layer; ~0.5 s each on a face-mesh-size model)")
    _add_calibration_data(p, "calibration data: image folder, .npy or .npz", required=True)
    _add_evaluation_data(p, "evaluation data (default: the calibration samples)")
    add_task_flags(p, what="layers ranked")
    _add_outputs(p, json="every layer's figures", html="per-layer error plots")
    _add_spec_flags(p, defaults_note="defaults: the model's input size, mean 0, std 255")

    p = sub.add_parser("qat", help="quantization-aware fine-tuning and/or pruning (tfmot), then int8 TFLite")
    p.add_argument("model", help="tf_keras .h5 / SavedModel, or a Keras 3 .keras (rebuilt in tf_keras, verified)")
    p.add_argument("--train", help="labelled training data: SRC/<class>/ folders or .npz with x, y")
    p.add_argument("--distill", action="store_true",
                   help="label-free: QAT whose loss is the KL divergence to the float model's outputs on --data "
                        "(lightly augmented: shifts, contrast)")
    p.add_argument("--data", metavar="SRC", help="with --distill: unlabelled images (a folder), .npy or .npz")
    p.add_argument("--temperature", type=float, default=1.0, help="with --distill: softmax temperature (default 1)")
    p.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs (default 2; pruning and QAT each)")
    p.add_argument("--batch-size", type=int, default=32, help="training batch size (default 32)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4: fine-tuning)")
    p.add_argument("--prune", type=float, metavar="SPARSITY", help="prune kernels to this sparsity (e.g. 0.5) first")
    p.add_argument("--no-qat", action="store_true", help="with --prune: post-training int8 instead of QAT")
    p.add_argument("--io", choices=voc.choices(voc.IOType), help="I/O type (default int8)")
    p.add_argument("--labels", help="labels file, one per line (embedded in the .tflite)")
    _add_calibration_data(p, "calibration data for the plain-int8 baseline (default: --train)")
    _add_evaluation_data(p, "evaluation data: report float vs plain int8 vs the result")
    _add_outputs(p, output="output .tflite", json_metavar="REPORT")
    _add_spec_flags(p, defaults_note="defaults: the model's input size, mean 0, std 255")

    p = sub.add_parser("distill", help="train a smaller Keras model on a bigger one's outputs, then int8 it")
    p.add_argument("model", metavar="TEACHER", help="the teacher: .keras or .h5")
    p.add_argument("--student", required=True, help="the student's architecture and starting weights: .keras or .h5")
    p.add_argument("--data", required=True, help="training data: SRC/<class>/ folders or .npz with x, y (also "
                                                 "the int8 calibration data)")
    p.add_argument("--labels-optional", action="store_true",
                   help="train on the teacher's outputs alone when --data has no labels")
    p.add_argument("--epochs", type=int, default=5, help="default 5")
    p.add_argument("--batch-size", type=int, default=32, help="training batch size (default 32)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--temperature", type=float, default=2.0, help="softmax temperature (default 2)")
    p.add_argument("--hard-weight", type=float, default=1.0,
                   help="weight of the cross-entropy on labels, added to the distillation loss (default 1)")
    p.add_argument("--io", choices=voc.choices(voc.IOType), help="I/O type (default int8)")
    p.add_argument("--labels", help="labels file, one per line (embedded in the .tflite)")
    _add_calibration_data(p, None)  # its calibration data is --data
    _add_evaluation_data(p, "held-out data: teacher and student are judged side by side on it, and the int8 "
                            "conversion (--optimize accuracy) decides on one part and reports on the other",
                         required=True)
    _add_outputs(p, output="the int8 student .tflite (the float student is saved next to it as "
                           "<name>_student.keras)", json_metavar="REPORT")
    _add_spec_flags(p, defaults_note="defaults: the teacher's input size, mean 0, std 255")

    p = sub.add_parser("serve", help="serve .tflite models over HTTP (Open Inference Protocol, KServe v2)")
    p.add_argument("repo", metavar="REPO", help="REPO/<name>/<version>/model.tflite (numeric versions; the latest "
                                                "is served) or one model.tflite")
    p.add_argument("--model-name", metavar="NAME",
                   help="the name of a single model (a .tflite, or a folder holding model.tflite as KServe mounts "
                        "it); default: the file's stem or the folder's name")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port to listen on (default 8000)")
    _add_runtime_flags(p, serve=True)
    p.add_argument("--max-body", type=int, default=16 * 1024 * 1024, metavar="BYTES",
                   help="largest request body accepted (default 16 MiB); larger ones get 413")
    p.add_argument("--max-body-in-flight", type=int, default=48 * 1024 * 1024, metavar="BYTES",
                   help="request body bytes held at once by all requests (default 48 MiB); past it 503 + Retry-After")
    p.add_argument("--max-pixels", type=int, default=16 * 1024 * 1024, metavar="N",
                   help="largest uploaded image for classify, width x height (default 16777216 = 4096x4096); larger "
                        "ones get 413")
    p.add_argument("--work-memory-mb", type=float, default=192.0, metavar="MB",
                   help="memory for decoding uploads and parsing large JSON bodies at once (default 192); the rest "
                        "wait their turn")
    p.add_argument("--max-batch", type=int, default=64, metavar="N",
                   help="samples per request on a dynamic batch axis (default 64); more get 400")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                   help="seconds a client has to send its request headers (default 10); then 408 and closed")
    p.add_argument("--body-timeout", type=float, default=30.0, metavar="S",
                   help="seconds a client has to send its request body after the headers (default 30); then 408")
    p.add_argument("--keepalive-timeout", type=float, default=5.0, metavar="S",
                   help="seconds an idle keep-alive connection stays open (default 5)")
    p.add_argument("--shutdown-timeout", type=float, default=10.0, metavar="S",
                   help="on SIGTERM, seconds requests in flight get to finish before they are cancelled (default 10)")
    p.add_argument("--max-connections", type=int, default=256, metavar="N",
                   help="open connections (default 256); more are answered 503 and closed")
    p.add_argument("--max-header-bytes", type=int, default=64 * 1024, metavar="BYTES",
                   help="request line and headers (default 64 KiB); more get 431 and the connection is closed")
    p.add_argument("--poll-seconds", type=float, default=5.0, metavar="S",
                   help="look for new model versions in REPO every S seconds (default 5; 0: never) — the backstop "
                        "of --watch")
    p.add_argument("--watch", choices=("auto", "off"), default="auto",
                   help="auto (default): look at REPO as soon as a file in it changes (inotify, through "
                        "watchfiles, when installed); off: only the timed poll")
    p.add_argument("--versions", default="latest", metavar="POLICY",
                   help="which versions of each model are served: latest (default: the highest valid one), "
                        "latest:N (the N highest) or all")
    p.add_argument("--pin", action="append", default=[], metavar="NAME=V[,V]",
                   help="serve exactly these versions of model NAME, whatever arrives (repeat per model)")
    p.add_argument("--instances", type=int, default=1, metavar="N",
                   help="interpreters per model (default 1): N requests run at once, each on its own")
    p.add_argument("--max-queue", type=int, default=64, metavar="Q",
                   help="requests waiting for an interpreter, per model (default 64); more get 503 + Retry-After")
    p.add_argument("--token-file", metavar="FILE",
                   help="require 'Authorization: Bearer <token>' (the token in FILE) on every route but health")
    p.add_argument("--admin-token-file", metavar="FILE",
                   help="the repository API (--enable-repository-api) requires this token instead of --token-file's")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="serve model files that symbolic links inside REPO lead to outside it (default: skipped)")
    p.add_argument("--access-log", action="store_true", help="one JSON line per request on stdout")
    p.add_argument("--enable-repository-api", action="store_true",
                   help="Triton's repository extension: POST /v2/repository/index, …/models/<name>/load|unload")
    p.add_argument("--capture", metavar="DIR", help="keep a sample of live inputs and predictions as .npz files")
    p.add_argument("--capture-rate", type=float, default=0.01, metavar="R",
                   help="with --capture: share of requests kept (default 0.01)")
    p.add_argument("--capture-max-mb", type=float, default=100.0, metavar="M",
                   help="with --capture: stop capturing when DIR holds M MB (default 100); nothing is deleted")
    p.add_argument("--allow-signature-change", action="store_true",
                   help="accept a new version whose input/output names, types or shapes differ")
    add_task_flags(p, what="drift: a detector's detections per request and top score", judged=False)

    p = sub.add_parser("run", help="run a .tflite model on images or .npy files")
    p.add_argument("model")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, .npy arrays, or evaluation data: an image folder (SRC/<class>/ for labels) "
                        "or .npz with x and optional y")
    p.add_argument("--top-k", type=int, default=5, help="best classes shown per input (default 5)")
    g = _add_outputs(p, json=None)
    g.add_argument("--save-run", metavar="FILE.npz",
                   help="also save the run (outputs, sample ids, per-invoke times, labels) for `edgelite compare`")
    add_task_flags(p, what="a detector's boxes, a landmark model's points: what is printed", judged=False)
    _add_runtime_flags(p)
    _add_spec_flags(p, defaults_note="defaults: the spec embedded in the model")

    p = sub.add_parser("compare", help="float reference vs quantized candidate: accuracy, agreement, latency, size")
    p.add_argument("reference", help="float model: .tflite (board) or .keras/.h5/SavedModel (needs TensorFlow), "
                                     "a PyTorch .pt2 / package.module:factory (eager torch) or an .onnx "
                                     "(onnxruntime); or a run saved by `edgelite run --save-run` (.npz)")
    add_source_flags(p)
    p.add_argument("candidate", help="the .tflite to judge (usually int8), or a saved run (.npz)")
    g = p.add_argument_group("evaluation data")
    g.add_argument("--data", action=_DataAction,
                   help="evaluation data: image folder (SRC/<class>/ for labels), .npy, .npz (needed for models; "
                        "saved runs carry their samples)" + DATA_NAMED)
    _add_sampling(g, samples="evaluate on a seeded subset of N samples (default all)")
    add_task_flags(p)
    _add_outputs(p, html="plots")
    _add_runtime_flags(p)
    _add_spec_flags(p, defaults_note="defaults: the spec embedded in the candidate")

    p = sub.add_parser("bench", help="latency per thread count with a device fingerprint")
    p.add_argument("model")
    p.add_argument("--runs", type=int, default=100, help="timed runs per configuration (default 100)")
    p.add_argument("--max-seconds", type=float, help="stop a configuration's timed runs after this many seconds")
    p.add_argument("--reference", metavar="FLOAT.tflite",
                   help="also time this float model, configuration by configuration after the model, and flag "
                        "int8 that is slower")
    p.add_argument("--warmup", type=int, default=10,
                   help="untimed runs first, per configuration (default 10; the first is reported as 1st invoke)")
    p.add_argument("--ops", action="store_true",
                   help="also time each op alone (first configuration) and print the op types that take the time, "
                        "and whether XNNPACK took them")
    _add_outputs(p, html="latency plots")
    _add_runtime_flags(p, bench=True)

    p = sub.add_parser("check", help="regression gate: size, latency and accuracy budgets vs a committed baseline")
    p.add_argument("--config", metavar="FILE", help="edgelite.toml or pyproject.toml with [tool.edgelite] "
                                                     "(default: found in the current folder)")
    p.add_argument("--baseline", metavar="FILE", help="baseline JSON (default: the config's baseline key)")
    p.add_argument("--update-baseline", action="store_true",
                   help="re-record the baseline (atomically) when every absolute budget passes")
    g = _add_outputs(p, json="the check report", html="plots")
    g.add_argument("--junit", metavar="OUT", help="write JUnit XML: one testcase per model x budget")
    g.add_argument("--markdown", metavar="OUT", help="write a markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    _add_no_cache(p.add_argument_group("runtime"))

    p = sub.add_parser("inspect", help="tensors, ops, float ops and embedded metadata of a .tflite")
    p.add_argument("model")
    p.add_argument("--gpu", action="store_true",
                   help="list the ops a phone GPU delegate would not take and the share that falls back to CPU")
    _add_outputs(p, json=None)
    _add_no_cache(p.add_argument_group("runtime"))
    return parser


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that ``finally`` blocks run (temp files of atomic writes go away)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def _report_internal_error(exc: BaseException, verbose: bool) -> int:
    """A bug, not a user mistake: one line naming where the full traceback went; exit 3 (never 1, which
    ``check`` users read as "a budget broke")."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    where = "stderr above" if verbose else None
    if verbose:
        print(text, file=sys.stderr, end="")
    else:
        try:
            fd, where = tempfile.mkstemp(prefix="edgelite-traceback-", suffix=".txt")
            with open(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError:
            where = "nowhere (the temp folder is not writable; run with -v to print it)"
    from edgelite.cli.render import printable

    summary = printable(f"{type(exc).__name__}: {exc}")[:300]
    rerun = "" if verbose else "rerun with -v to print it here; "
    print(f"edgelite: internal error ({summary}); {rerun}please report it with the traceback ({where})",
          file=sys.stderr)
    return 3


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Returns the exit code: 0 ok, 1 a check failed, 2 user error, 3 internal error,
    130 interrupted (SIGINT), 143 terminated (SIGTERM)."""
    import signal
    import threading

    from edgelite.cli import commands
    from edgelite.cli.render import printable

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    verbose = False
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(_command_in(argv)).parse_args(argv)
        verbose = args.verbose
        if args.quiet:
            import os

            from edgelite.core.progress import QUIET_ENV

            os.environ[QUIET_ENV] = "1"
        return commands.dispatch(args)
    except ConversionError as exc:
        print(f"edgelite: error: {printable(exc)}", file=sys.stderr)
        if verbose and exc.details:
            print(exc.details, file=sys.stderr)
        return exc.exit_code
    except EdgeliteError as exc:
        print(f"edgelite: error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgelite: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("edgelite: terminated", file=sys.stderr)
        return 143
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: a bug becomes exit 3 and a traceback file
        return _report_internal_error(exc, verbose)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
