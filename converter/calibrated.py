"""Calibrate once, quantize many times: the base of float fallback, ``analyze`` and the accuracy budget.

TF's converter splits int8 post-training quantization into two steps: a calibration run that records each
tensor's min/max into a float model (``_experimental_calibrate_only``), and the MLIR quantizer that turns that
model into int8 (``convert.mlir_quantize``), which accepts ``denylisted_nodes``/``denylisted_ops`` to leave
chosen ops float. TF's own QuantizationDebugger uses the same two steps. Calibrating costs seconds to minutes;
re-quantizing costs ~20 ms on the example and well under a second on MobileNetV2, so a search over float
fallbacks never recalibrates. With no fallback, the result matches the one-shot converter's outputs exactly
(tested).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from edgelite.calibration.multi_input import Samples
from edgelite.converter import io_names
from edgelite.converter.config import ConvertConfig, QuantMode
from edgelite.converter.loading import SourceModel, import_tf
from edgelite.converter.tflite_converter import io_dtype, run_tf, tflite_converter
from edgelite.core.errors import UserInputError
from edgelite.core.recipe import Recipe
from edgelite.core.report import Record
from edgelite.runtime import tflite_file

# Calibration samples bias correction measures the mean shifts on (each pass runs both models over them).
BIAS_SAMPLES = 32

# Ops that only reshape or route data: keeping them float saves no accuracy but costs two extra conversions.
_NOT_CANDIDATES = ("QUANTIZE", "DEQUANTIZE", "SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE", "SQUEEZE",
                   "EXPAND_DIMS", "TRANSPOSE", "GATHER", "CAST", "SLICE", "SPLIT")


@dataclass(frozen=True)
class Node(Record):
    """An op that can stay float: its index in the graph, op type, output tensor and Keras layer (if known)."""

    index: int
    op: str
    tensor: str
    layer: str | None

    @property
    def label(self) -> str:
        return self.layer or self.tensor.split(";")[0]


def layer_of(tensor_name: str, layer_names: tuple[str, ...]) -> str | None:
    """The Keras layer(s) a converter tensor name belongs to, ``+``-joined when the converter fused several
    (``conv2d_5+batch_normalization_14``). Names look like ``functional/conv2d_1/Relu;functional/…``.

    Keras 3's export traces layers under a uniquified scope (layer ``conv1`` appears as ``conv1_1``), so a
    part matches a layer exactly or with one ``_N`` suffix removed (exact matches win)."""
    parts = [p for p in re.split(r"[/;:]", tensor_name) if p]
    exact = [p for p in parts if p in layer_names]
    found = exact or [b for b in (re.sub(r"_\d+$", "", p) for p in parts) if b in layer_names]
    unique = list(dict.fromkeys(found))
    return "+".join(unique) if unique else None


class Calibrated:
    """A source model with recorded activation ranges; ``quantize`` makes int8 variants with ops kept float."""

    def __init__(self, src: SourceModel, cfg: ConvertConfig, representative: Samples,
                 pin: Any = None) -> None:
        self.cfg = cfg
        self.pin = pin   # InputPin: uint8 input quantization a raw-pixel client needs (converter/input_quant.py)
        self._src = src
        if src.tflite_bytes is not None:   # a float .tflite: LiteRT records the ranges TF's calibration would
            from edgelite.converter.tflite_source import record_ranges

            self._recorded = record_ranges(src.tflite_bytes, representative)
        else:
            converter = tflite_converter(src, cfg, representative, mode=QuantMode.INT8)
            converter._experimental_calibrate_only = True
            # TF's min/max, before any method; with the source's I/O names and order, which the quantizer keeps
            self._recorded = io_names.from_source(run_tf("calibration", cfg, converter.convert), src)
        self._x = representative
        self._float: bytes | None = None
        self._histograms: dict[bytes, Any] = {}   # shared by every variant (same samples)
        self._lock = threading.Lock()
        self._apply_methods()

    def variant(self, **changes: Any) -> Calibrated:
        """The same calibration with other range/equalization/bias-correction settings (``calibration``,
        ``equalize``, ``bias_correction``): no second TF calibration, the float model is shared."""
        new = object.__new__(Calibrated)
        new.__dict__.update(self.__dict__)
        new.cfg = dataclasses.replace(self.cfg, **changes)
        new._apply_methods()
        return new

    def _apply_methods(self) -> None:
        cfg, data = self.cfg, self._recorded
        self.equalization: Any = None   # converter.equalization.Equalization when --equalize ran
        if cfg.equalize is not None:   # before the range method: it rescales activations
            from edgelite.converter.equalization import equalize

            data, self.equalization = equalize(data, self._x, cfg.equalize)
        # --calibration: activation ranges from histograms instead of min/max (converter/range_calibration.py)
        from edgelite.calibration.ranges import RangeMethod
        from edgelite.converter.range_calibration import histograms, refine

        # --calibration auto starts from min/max; convert's ladder then tries the others (converter/optimize.py)
        method = RangeMethod.parse("minmax" if cfg.calibration == "auto" else cfg.calibration)
        hists = None
        if method.name != "minmax":   # one histogram pass per calibrated graph, shared by every range method
            key = hashlib.sha256(data).digest()
            if key not in self._histograms:
                self._histograms[key] = histograms(data, self._x)
            hists = self._histograms[key]
        self.data, self.range_choice = refine(data, self._x, method, hists)
        self.bias_correction: Any = None   # converter.bias_correction.BiasCorrection of the last quantize()
        self._corrections: Any = None      # bias_correction.Corrections, measured once per calibrated graph
        src = self._src
        # Every op with a float output can be kept float; ``candidates`` are those worth trying in a search.
        self.nodes: tuple[Node, ...] = tuple(
            Node(op.index, op.op_type, op.outputs[0].name, layer_of(op.outputs[0].name, src.layer_names))
            for op in tflite_file.op_inventory(self.data)
            if op.op_type not in tflite_file.BOUNDARY_OPS and op.outputs and op.outputs[0].dtype == "FLOAT32"
        )
        self.candidates = tuple(n for n in self.nodes if n.op not in _NOT_CANDIDATES)

    def recipe(self, kept: Sequence[Node] = ()) -> Recipe:
        """The recipe that makes ``quantize(kept)`` again: this variant's choices, with every layer kept float
        as an exact tensor pattern (``convert --recipe``)."""
        return self.cfg.recipe.with_float_tensors([n.tensor for n in kept], [n.label for n in kept])

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """Calibrated (min, max) of every activation tensor, by tensor name."""
        return tflite_file.tensor_ranges(self.data)

    def float_model(self) -> bytes:
        """The float32 TFLite model of the same SavedModel (the reference all int8 variants are judged against)."""
        if self._float is None and self._src.tflite_bytes is not None:
            self._float = self._src.tflite_bytes
        if self._float is None:
            converter = tflite_converter(self._src, self.cfg, None, mode=QuantMode.FLOAT32)
            self._float = io_names.from_source(run_tf("float32 conversion", self.cfg, converter.convert), self._src)
        return self._float

    def quantize(self, keep: Iterable[Node] = (), *, correct_biases: bool = True) -> bytes:
        """Full-integer model with the ``keep`` nodes left float (float in, float out, with (de)quantize ops
        around them); the model's inputs and outputs keep the configured I/O type. With ``--bias-correction``
        the biases are corrected too, unless ``correct_biases=False`` (for figures it cannot change, e.g. size)."""
        tf = import_tf()
        io = io_dtype(tf, self.cfg.io_type)
        nodes = sorted({n.tensor for n in keep})

        data = run_tf("quantization", self.cfg, lambda: self._mlir(io, nodes))
        if self.cfg.bias_correction and correct_biases:
            from edgelite.converter import bias_correction

            with self._lock:   # measured once, also when candidates are quantized from two threads
                if self._corrections is None:
                    # Measured once, on the model with every layer int8; a variant with layers kept float gets the same
                    # corrected biases for the layers it still quantizes (same bias tensors and scales), so a search
                    # over float layers never re-measures. Layer by layer, the reference is the float graph that was
                    # quantized: after --equalize its channels are rescaled, and the original float model's
                    # intermediate tensors no longer match them.
                    rescaled = self.equalization is not None and self.equalization.pairs > 0
                    reference = self.data if rescaled else self.float_model()
                    full = data if not nodes else run_tf("quantization", self.cfg, lambda: self._mlir(io, []))
                    self._corrections, self.bias_correction = bias_correction.measure(
                        full, reference, self._x[:BIAS_SAMPLES])
            data = bias_correction.apply(data, self._corrections)
        if self.pin is not None:
            from edgelite.converter.input_quant import pin_input

            return pin_input(data, self.pin)
        return data

    def _mlir(self, io: Any, nodes: list[str]) -> bytes:
        from tensorflow.lite.python import convert as tf_convert  # the quantizer step of TFLiteConverter

        out = tf_convert.mlir_quantize(self.data, input_data_type=io, output_data_type=io,
                                       denylisted_nodes=nodes or None)
        return bytes(tf_convert.deduplicate_readonly_buffers(out))

    def select(self, patterns: Sequence[str], op_types: Sequence[str]) -> list[Node]:
        """Nodes whose layer or tensor name matches a regex in ``patterns`` (``re.search``), or whose op type
        is in ``op_types``. A pattern or op type that matches nothing is a user error (a typo would otherwise
        silently quantize everything)."""
        chosen: dict[int, Node] = {}
        for pattern in patterns:
            try:
                rx = re.compile(pattern)
            except re.error as exc:
                raise UserInputError(f"--keep-float {pattern!r}: not a valid regular expression ({exc})") from None
            hits = [n for n in self.nodes if rx.search(n.tensor) or (n.layer and rx.search(n.layer))]
            if not hits:
                layers = sorted({n.layer for n in self.nodes if n.layer}) or sorted({n.label for n in self.nodes})
                names = ", ".join(layers[:8]) + (", …" if len(layers) > 8 else "")
                raise UserInputError(f"--keep-float {pattern!r} matches no layer or tensor of {self.cfg.model}; "
                                     f"layers include: {names}")
            chosen.update((n.index, n) for n in hits)
        known = sorted({n.op for n in self.nodes})
        for op_type in op_types:
            hits = [n for n in self.nodes if n.op == op_type.upper()]
            if not hits:
                raise UserInputError(f"--keep-float-op {op_type}: {self.cfg.model} has no such op; "
                                     f"its ops are {', '.join(known)}")
            chosen.update((n.index, n) for n in hits)
        return [chosen[i] for i in sorted(chosen)]
