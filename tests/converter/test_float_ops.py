"""Ops without int8 kernels: TF 2.21's converter leaves them float silently; edgelite finds and names them."""

import pytest

from edgelite.converter import ConvertConfig, convert
from edgelite.core.errors import ConversionError
from edgelite.runtime import Model, tflite_file

pytestmark = pytest.mark.slow


def test_float_ops_fail_by_default_naming_op_and_tensor(sin_saved_model, float_calib_npy, tmp_path):
    out = tmp_path / "m.tflite"
    with pytest.raises(ConversionError) as info:
        convert(ConvertConfig(sin_saved_model, out, calib=float_calib_npy, samples=10))
    msg = str(info.value)
    assert "SIN" in msg and "CUMSUM" in msg and "wave" in msg
    assert "--allow-float-ops" in msg and "cannot run in int8" in msg
    assert not out.exists()  # nothing half-written


def test_allow_float_ops_keeps_them_float(sin_saved_model, float_calib_npy, tmp_path):
    out = tmp_path / "m.tflite"
    report = convert(ConvertConfig(sin_saved_model, out, calib=float_calib_npy, samples=10, allow_float_ops=True))
    ops = {f.op for f in report.float_ops}
    assert ops == {"SIN", "CUMSUM"}
    assert any("stay float" in w for w in report.warnings)
    m = Model.load(out)
    assert m.spec is None  # not an image model
    inventory = {op.op_type for op in tflite_file.op_inventory(out.read_bytes())}
    assert "FULLY_CONNECTED" in inventory and m.input.dtype.name == "int8"
    assert m.predict(__import__("numpy").zeros((1, 16), "float32")).shape == (1, 16)


def test_float_mode_has_no_float_op_complaint(sin_saved_model, tmp_path):
    report = convert(ConvertConfig(sin_saved_model, tmp_path / "m.tflite", mode="float32"))
    assert report.float_ops == []
