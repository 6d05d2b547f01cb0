"""LiteRT's "Created TensorFlow Lite XNNPACK delegate" line stays off stderr; anything else native code prints
during a load is still shown, in order."""

from __future__ import annotations

import os
import subprocess
import sys

from edgelite.runtime import native_log

BARE = """
import sys
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1])
it.allocate_tensors()
"""
OURS = """
import sys
import numpy as np
from edgelite.runtime import Model
m = Model.load(sys.argv[1])
m.predict(np.zeros((1, *m.sample_shape), np.float32))
"""


def _stderr(code: str, model) -> str:
    proc = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_the_line_is_printed_by_litert_and_not_by_edgelite(example_models):
    # The control: this LiteRT really prints it (so the second assertion can fail).
    assert "Created TensorFlow Lite XNNPACK delegate for CPU." in _stderr(BARE, example_models["int8"])
    assert _stderr(OURS, example_models["int8"]) == ""


ORDER = """
import os, sys
from edgelite.runtime import native_log
print("before", file=sys.stderr)
with native_log.filtered_stderr():
    os.write(2, b"ERROR: a real native error\\n")
    os.write(2, native_log.NOISE[0] + b"\\n")
    print("python side", file=sys.stderr)
    os.write(2, b"WARNING: partial line without newline")
print("after", file=sys.stderr)
"""


def test_other_native_output_is_replayed_in_order():
    """In a real process, where Python's stderr and native code share fd 2."""
    proc = subprocess.run([sys.executable, "-c", ORDER], capture_output=True, text=True, timeout=60)
    assert proc.stderr == ("before\nERROR: a real native error\npython side\n"
                           "WARNING: partial line without newlineafter\n")


def test_the_body_s_exception_propagates_and_output_survives(capfd):
    try:
        with native_log.filtered_stderr():
            os.write(2, b"ERROR: what went wrong\n")
            raise RuntimeError("boom")
    except RuntimeError as exc:
        assert str(exc) == "boom"
    assert capfd.readouterr().err == "ERROR: what went wrong\n"
