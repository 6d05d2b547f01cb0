"""``ConvertReport``: what a conversion did, as JSON and as a terminal table."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.converter.bias_correction import BiasCorrection
from edgelite.converter.calibrated import Node
from edgelite.converter.equalization import Equalization
from edgelite.converter.float_fallback import BudgetReport, HeldOut
from edgelite.converter.optimize import OptimizeReport
from edgelite.converter.pytorch_source import SourceExport
from edgelite.converter.range_calibration import RangeChoice
from edgelite.core.recipe import Recipe
from edgelite.core.report import OMIT_NONE, Record, Report
from edgelite.core.version import __version__
from edgelite.runtime.gpu import GpuSummary
from edgelite.runtime.tensors import io_line


@dataclass(frozen=True)
class CalibrationInfo(Record):
    requested: int = 0                  # --samples (0: no calibration for this mode)
    used: int = 0
    skipped_unreadable: int = 0
    seed: int = 0
    source: str | None = None
    class_counts: dict[int, int] = field(default_factory=dict)   # class index -> samples (JSON: string keys)


@dataclass(frozen=True)
class FloatOp(Record):
    """An op the converter left in float (no int8 kernel), where it sits, and its Keras layer if known."""

    op: str
    tensor: str
    layer: str | None


@dataclass(frozen=True)
class TensorType(Record):
    """A tensor at the file's edge: its name and type (``int8``, ``float32``, …)."""

    name: str
    dtype: str


@dataclass(frozen=True)
class IOTypes(Record):
    """The written file's input and output types, read from the file: ``--io`` says what was asked for, this
    what every tensor got (an output can stay float32 in an int8 file)."""

    inputs: list[TensorType]
    outputs: list[TensorType]

    @classmethod
    def of(cls, data: bytes) -> IOTypes:
        from edgelite.runtime.tflite_file import io_tensors

        ins, outs = io_tensors(data)
        return cls(*([TensorType(t.name, t.dtype.lower()) for t in side] for side in (ins, outs)))

    def line(self) -> str:
        """``int8``, or per tensor where they differ (``int8 in / out: cls int8, box float32``)."""
        return io_line(self.inputs, self.outputs)


@dataclass(frozen=True)
class Evaluation(Record):
    """``convert --eval`` alone: the converted file against the float model on the evaluation data (nothing
    was tuned on it), in the budget metric ``--max-drop`` would bound, with its 95 % interval."""

    metric: str        # what loss_pts measures (Scorer.metric_name)
    data: str          # the --eval source
    figures: HeldOut


@dataclass(frozen=True)
class ConvertReport(Report):
    kind = "convert"
    schema_version = 5  # 2: kept_float, size_cost_bytes, budget; 3: target, target_notes, gpu; 4: ranges,
                        # bias_correction; 5: equalization, optimize (present only when those options ran)

    source: str
    source_kind: str
    source_sha256: str
    source_size_bytes: int
    output: str
    size_bytes: int
    mode: str
    io: str
    spec: PreprocessSpec | None
    labels_count: int
    calibration: CalibrationInfo
    float_ops: list[FloatOp]
    layers: int
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    kept_float: list[Node] = field(default_factory=list)              # ops left float on purpose
    size_cost_bytes: int = 0                                          # their size cost vs plain int8
    budget: BudgetReport | None = None                                # the --max-drop search, if run
    target: str = "litert"                                            # --target
    target_notes: list[str] = field(default_factory=list)             # what the target picked
    gpu: GpuSummary | None = None                                     # GPU-delegate check (--target gpu)
    ranges: RangeChoice | None = field(default=None, metadata=OMIT_NONE)   # --calibration other than minmax
    bias_correction: BiasCorrection | None = field(default=None, metadata=OMIT_NONE)   # --bias-correction
    equalization: Equalization | None = field(default=None, metadata=OMIT_NONE)       # --equalize
    optimize: OptimizeReport | None = field(default=None, metadata=OMIT_NONE)         # --optimize accuracy
    edgelite_version: str = __version__
    recipe: Recipe | None = field(default=None, metadata=OMIT_NONE)   # what made the file (convert --recipe)
    # a PyTorch/ONNX source: the route that exported it, why, the layout, the float export's fidelity
    source_export: SourceExport | None = field(default=None, metadata=OMIT_NONE)
    io_types: IOTypes | None = field(default=None, metadata=OMIT_NONE)  # every I/O tensor's type in the file
    # --eval without --max-drop/--optimize: the int8 file judged against the float model on that data
    evaluation: Evaluation | None = field(default=None, metadata=OMIT_NONE)

    def io_line(self) -> str:
        """The I/O the table states: ``--io`` when every tensor of the file has it, else per tensor."""
        if self.io_types is None:
            return self.io
        line = self.io_types.line()
        return self.io if line == self.io else f"{line} (--io {self.io})"

    def budget_verdict(self) -> str | None:
        """The --max-drop budget: "met", "NOT met (gap G pts)", or None when there was none."""
        b = self.budget
        return None if b is None else "met" if b.met else f"NOT met (gap {b.gap_pts:.3f} pts)"

    def optimize_verdict(self) -> str | None:
        """--optimize against --max-drop: "met", "NOT met", or None (no --optimize, or no --max-drop)."""
        o = self.optimize
        return None if o is None or o.met is None else "met" if o.met else "NOT met"

    def failure(self) -> str | None:
        """Why the accuracy the conversion was asked for was not reached (the CLI exits 1 with it), or None."""
        o = self.optimize
        if o is not None and o.met is False:
            chosen = next(s for s in o.steps if s.step == o.chosen)
            assert chosen.held_out is not None
            lo, hi = chosen.held_out.loss_ci95
            return (f"--optimize accuracy: no step met --max-drop {o.max_drop_pts:g} on the held-out part; the best "
                    f"({o.chosen}) loses {chosen.held_out.loss_pts:.3f} pts (95 % CI {lo:.1f} … {hi:.1f}) on "
                    f"{chosen.held_out.samples} samples; it was written to {self.output}")
        b = self.budget
        if b is None or b.met:
            return None
        c = b.confirm
        if c is not None and b.search_met:
            lo, hi = c.loss_ci95
            return (f"accuracy budget met on the search part but not on the held-out confirm part: "
                    f"{b.metric} {c.loss_pts:.3f} > {b.max_drop_pts:g} by {b.gap_pts:.3f} pts "
                    f"on {c.samples} samples (95 % CI {lo:.1f} … {hi:.1f}); the model was written to {self.output}")
        loss = c.loss_pts if c is not None else b.final.loss_pts
        return (f"accuracy budget not met: {b.metric} {loss:.3f} > {b.max_drop_pts:g} (gap {b.gap_pts:.3f} pts) "
                f"even with {len(b.float_layers)} layers float; the best model found was written to {self.output}")
