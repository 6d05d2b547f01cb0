"""``ConvertReport``: what a conversion did, as JSON and as a terminal table."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.converter.bias_correction import BiasCorrection
from edgelite.converter.calibrated import Node
from edgelite.converter.equalization import Equalization
from edgelite.converter.float_fallback import BudgetReport
from edgelite.converter.optimize import OptimizeReport
from edgelite.converter.range_calibration import RangeChoice
from edgelite.core.report import OMIT_NONE, Record, Report
from edgelite.core.version import __version__
from edgelite.runtime.gpu import GpuSummary


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
