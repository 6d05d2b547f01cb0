"""In-place edits of a .tflite: a model cut to end at a tensor computes exactly that tensor of the full model."""

from __future__ import annotations

import numpy as np
import pytest

from edgelite.runtime import tflite_edit, tflite_file
from edgelite.runtime.intermediates import Tap, preserving_interpreter, set_input


def test_a_truncated_model_outputs_the_tensor_the_full_model_computes(example_models):
    data = example_models["int8"].read_bytes()
    ops = tflite_file.op_inventory(data)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    full = preserving_interpreter(data, (28, 28, 1))
    index = {d["name"]: d["index"] for d in full.get_tensor_details()}
    for op in ops[:-1]:
        name = op.outputs[0].name
        cut = tflite_edit.truncated(data, name)
        assert len(cut) == len(data) and len(tflite_file.op_inventory(cut)) == op.index + 1
        part = Tap(cut, (28, 28, 1), preserve=False)
        assert list(part.details) == [name]
        for sample in x:
            set_input(full, sample)
            full.invoke()
            set_input(part.interp, sample)
            part.interp.invoke()
            want, got = full.get_tensor(index[name]), part.raw(name)
            # XNNPACK and the builtin int8 kernels may round one step apart, never more
            assert got.shape == want.shape and int(np.max(np.abs(got.astype(int) - want.astype(int)))) <= 1


def test_truncating_at_an_unknown_tensor_is_refused(example_models):
    data = example_models["int8"].read_bytes()
    with pytest.raises(ValueError, match="no tensor"):
        tflite_edit.truncated(data, "no such tensor")
