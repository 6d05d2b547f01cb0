"""Model files whose numbers are hostile: a huge stored input size, NaN quantization scales; each is one line
naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgelite.converter import metadata_writer
from edgelite.core.errors import UserInputError
from edgelite.runtime import Model, PreprocessSpec, tflite_file
from edgelite.runtime.flatbuf import View
from edgelite.runtime.tflite_file import Slot

from ..cli.test_errors import assert_user_error


def _with_output_scale(data: bytes, value: float) -> bytes:
    buf = bytearray(data)
    model = View.root(buf)
    sg = model.tables(Slot.MODEL_SUBGRAPHS)[0]
    out = int(sg.numbers(Slot.SUBGRAPH_OUTPUTS, "i4")[0])
    q = sg.tables(Slot.SUBGRAPH_TENSORS)[out].table(Slot.TENSOR_QUANTIZATION)
    q.numbers(Slot.QUANT_SCALE, "f4")[0] = value  # a view into buf
    return bytes(buf)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_output_scale_is_refused(example_models, tmp_path, run_cli, value):
    path = tmp_path / "nan.tflite"
    path.write_bytes(_with_output_scale(example_models["int8"].read_bytes(), value))
    with pytest.raises(UserInputError, match="quantization scale .*corrupt"):
        Model.load(path)
    assert_user_error(run_cli("inspect", path), str(path), "quantization scale")


def test_a_huge_stored_input_size_names_the_file(example_models, tmp_path, run_cli):
    data = example_models["int8"].read_bytes()
    own = json.loads(tflite_file.metadata_entries(data)["edgelite"])
    own["spec"]["height"] = own["spec"]["width"] = 100000
    path = tmp_path / "huge.tflite"
    path.write_bytes(metadata_writer.with_metadata(data, {"edgelite": json.dumps(own).encode()}))
    assert_user_error(run_cli("inspect", path), str(path), "100000x100000", "pixel cap")


def test_input_size_flag_is_capped(example_models, run_cli, example):
    image = next((example / "eval" / "1").iterdir())
    assert_user_error(run_cli("run", example_models["int8"], image, "--input-size", "100000x100000"), "pixel cap")


def test_one_channel_mean_message():
    with pytest.raises(UserInputError, match=r"mean needs 1 value for color 'gray', got 2"):
        PreprocessSpec(28, 28, color="gray", mean=(1.0, 2.0))
    assert PreprocessSpec(4096, 4096).input_shape == (4096, 4096, 3)
    assert np.isfinite(PreprocessSpec(28, 28).std).all()


def test_a_model_without_operators_is_one_line(example_models, tmp_path, run_cli, example):
    import flatbuffers

    s = metadata_writer.schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(example_models["int8"].read_bytes()), 0)
    model.subgraphs[0].operators = []
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path / "noops.tflite"
    path.write_bytes(bytes(builder.Output()))
    image = next((example / "eval" / "2").iterdir())
    assert_user_error(run_cli("run", path, image), f"{path}: output", "no operator produces it")


def test_labels_file_is_capped(tmp_path):
    from edgelite.runtime import metadata as md

    big = tmp_path / "labels.txt"
    big.write_bytes(b"label\n" * (md.MAX_LABELS_BYTES // 6 + 10))
    with pytest.raises(UserInputError, match="byte cap"):
        md.read_labels_file(big)
    with pytest.raises(UserInputError, match="is a folder"):
        md.read_labels_file(tmp_path)
