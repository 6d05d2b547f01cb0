"""Numpy detection decoders for the board side (no TensorFlow), one module per family: SSD anchors and
MediaPipe-style box decoding (``ssd_anchors``, ``ssd``), NMS (``nms``), dense YOLO heads (``yolo``), decoder
files (``config``). Every decoder returns ``DetectionArrays``; ``.records()`` gives frozen ``Detection``s."""

from edgelite.runtime.decoders.detection import Detection, DetectionArrays

__all__ = ["Detection", "DetectionArrays"]
