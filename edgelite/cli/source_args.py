"""Flags of PyTorch and ONNX sources (``convert``, ``analyze``, ``compare``'s reference)."""

from __future__ import annotations

import argparse


def add_source_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("PyTorch and ONNX sources (.pt2, package.module:factory, .onnx)")
    g.add_argument("--input-shape", action="append", metavar="N,C,H,W",
                   help="example input shape in the source's own layout, batch included (once per input, in the "
                        "source's order); needed for a factory and for dynamic axes, e.g. --input-shape 1,3,224,224")
    g.add_argument("--keep-layout", action="store_true",
                   help="keep NCHW image inputs NCHW (default: NHWC on the device, as MediaPipe and Android feed)")


def input_shapes(args: argparse.Namespace) -> tuple[tuple[int, ...], ...]:
    """``--input-shape`` values parsed (one line per bad value)."""
    from edgelite.converter.pytorch_source import parse_input_shape

    return tuple(parse_input_shape(text) for text in (getattr(args, "input_shape", None) or ()))
