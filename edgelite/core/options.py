"""``ConvertOptions``: the conversion choices a user states, in one shape for the CLI and ``edgelite.toml``.

``edgelite convert`` builds it from flags, ``edgelite check`` from a ``[models.convert]`` table (validated
field by field against these types); the converter turns it into a full ``ConvertConfig`` with
``ConvertConfig.from_options``. Lists, not tuples, because TOML arrays arrive as lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConvertOptions:
    target: str = "litert"              # litert | mediapipe | gpu (vocabulary.Target)
    mode: str | None = None             # None: the target's (int8 for litert and mediapipe, float16 for gpu)
    io: str | None = None               # None: the target's (int8 for litert, uint8 for mediapipe)
    samples: int = 200                  # calibration samples
    seed: int = 0
    allow_float_ops: bool = False
    keep_float: list[str] = field(default_factory=list)       # regexes on layer/tensor names
    keep_float_ops: list[str] = field(default_factory=list)   # op types, e.g. HARD_SWISH
    input_size: list[int] | None = None  # [height, width]
    resize: str | None = None           # vocabulary.ResizeMethod; None: bilinear
    color: str | None = None            # vocabulary.ColorMode; None: from the model's channels
    mean: list[float] | None = None     # per channel, on 0-255 pixels
    std: list[float] | None = None
    calibration: str | None = None      # activation range method (calibration.ranges); None: minmax
    bias_correction: bool = False       # convert --bias-correction
    equalize: str | None = None         # convert --equalize: activations | weights; None: off
    input_shapes: list[list[int]] | None = None   # PyTorch/ONNX sources: --input-shape, one per input
    keep_layout: bool = False           # PyTorch/ONNX sources: keep NCHW image inputs (--keep-layout)

    def as_float_reference(self) -> ConvertOptions:
        """The same preprocessing converted to float32: the reference a quantized model is judged against."""
        return ConvertOptions(target=self.target, mode="float32", samples=self.samples, seed=self.seed,
                              input_size=self.input_size, resize=self.resize, color=self.color,
                              mean=self.mean, std=self.std, input_shapes=self.input_shapes,
                              keep_layout=self.keep_layout)
