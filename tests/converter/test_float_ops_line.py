"""The convert table's float-op list: TF's fused location names shortened to a readable place, repeats counted."""

from __future__ import annotations

from edgelite.converter.report import FloatOp
from edgelite.core.formatting import float_ops_line

# the shape TF gives a tensor named after a fused MLIR location (one op from several TF nodes)
FUSED = ('loc(fused["StatefulPartitionedCall:0", "StatefulPartitionedCall/model/head/wave/Sin;'
         'StatefulPartitionedCall/model/head/wave/Sin/ReadVariableOp;StatefulPartitionedCall/model/head/BiasAdd"])')


def test_fused_locations_are_shortened_and_counted():
    ops = [FloatOp("SIN", FUSED, None)] * 3 + [FloatOp("CUMSUM", "model/lambda_1/Cumsum", None),
                                              FloatOp("CUMSUM", "whatever;long;name", "running_sum")]
    line = float_ops_line(ops)
    assert line == "SIN@wave/Sin ×3, CUMSUM@lambda_1/Cumsum, CUMSUM@running_sum"
    assert len(FUSED) > 180 and len(line) < 70


def test_plain_names_and_no_ops():
    assert float_ops_line([FloatOp("SIN", "wave", None)]) == "SIN@wave"
    assert float_ops_line([FloatOp("SIN", "StatefulPartitionedCall:0", None)]) == "SIN@StatefulPartitionedCall"
    assert float_ops_line([]) == "none"
    long = "functional/" + "x" * 80 + "/Sin"
    assert float_ops_line([FloatOp("SIN", long, None)]) == "SIN@" + ("x" * 80 + "/Sin")[:47] + "…"


def test_an_error_line_lists_a_few_places_and_counts_the_rest():
    ops = [FloatOp("SIN", f"layer_{k}", None) for k in range(8)]
    line = float_ops_line(ops, limit=6)
    assert line.endswith(", SIN@layer_5 and 2 more") and line.count("SIN@") == 6
