"""Factories for facenet-pytorch 2.6.0's MTCNN networks (``edgelite convert tests.sources.mtcnn_nets:onet``).

The wheel is test data (installed with --no-deps: it pins torch < 2.3). Its ``mtcnn`` module imports torchvision
at the top for the image utilities only; the three networks use plain torch layers, so empty stand-ins for those
torchvision modules let it import beside a CPU torch whose PyPI torchvision does not load. Each network loads its
own state dict from the wheel (``torch.load``, which defaults to ``weights_only=True`` since torch 2.6).
"""

from __future__ import annotations

import sys
import types
from typing import Any


def _mtcnn() -> Any:
    for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops",
                 "torchvision.ops.boxes"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchvision.transforms"].functional = sys.modules["torchvision.transforms.functional"]  # type: ignore[attr-defined]
    sys.modules["torchvision.ops.boxes"].batched_nms = None  # type: ignore[attr-defined]
    from facenet_pytorch.models import mtcnn

    return mtcnn


def pnet() -> Any:
    """Proposal net: fully convolutional, 12x12 receptive field; outputs box offsets (1,4,h,w), face prob (1,2,h,w)."""
    return _mtcnn().PNet().eval()


def rnet() -> Any:
    """Refine net on 24x24 crops: box offsets (1,4), face prob (1,2)."""
    return _mtcnn().RNet().eval()


def onet() -> Any:
    """Output net on 48x48 crops: box offsets (1,4), five landmarks (1,10), face prob (1,2)."""
    return _mtcnn().ONet().eval()
