"""The convert table's float-op list: TF's fused location names shortened to a readable place, repeats counted."""

from __future__ import annotations

from edgelite.cli.render import _float_ops_line
from edgelite.converter.report import FloatOp

# the shape TF gives a tensor named after a fused MLIR location (one op from several TF nodes)
FUSED = ('loc(fused["StatefulPartitionedCall:0", "StatefulPartitionedCall/model/head/wave/Sin;'
         'StatefulPartitionedCall/model/head/wave/Sin/ReadVariableOp;StatefulPartitionedCall/model/head/BiasAdd"])')


def test_fused_locations_are_shortened_and_counted():
    ops = [FloatOp("SIN", FUSED, None)] * 3 + [FloatOp("CUMSUM", "model/lambda_1/Cumsum", None),
                                              FloatOp("CUMSUM", "whatever;long;name", "running_sum")]
    line = _float_ops_line(ops)
    assert line == "SIN@wave/Sin ×3, CUMSUM@lambda_1/Cumsum, CUMSUM@running_sum"
    assert len(FUSED) > 180 and len(line) < 70


def test_plain_names_and_no_ops():
    assert _float_ops_line([FloatOp("SIN", "wave", None)]) == "SIN@wave"
    assert _float_ops_line([FloatOp("SIN", "StatefulPartitionedCall:0", None)]) == "SIN@StatefulPartitionedCall"
    assert _float_ops_line([]) == "none"
    long = "functional/" + "x" * 80 + "/Sin"
    assert _float_ops_line([FloatOp("SIN", long, None)]) == "SIN@" + ("x" * 80 + "/Sin")[:47] + "…"
