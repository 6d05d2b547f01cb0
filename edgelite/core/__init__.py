"""The bottom layer: what every other layer may import and what imports nothing of edgelite above it.

Errors, the version, the shared vocabulary (enums and target presets), the maths of every report (quantize,
SNR, cosine, top-k, latency statistics, 95 % intervals), the figure formatters, the report base class, file
helpers (atomic writes, output checks) and resource caps. Pure Python + numpy: no Pillow, no LiteRT, no TF.
"""
