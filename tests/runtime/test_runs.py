"""Runs: the sample loop, the saved file's exact round trip, and the refusal of forged or oversized files."""

import io
import json
import os
import stat
import zipfile

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.core.files import default_file_mode
from edgelite.runtime import Model
from edgelite.runtime.runs import MAX_RUN_MEMBERS, Run, run_samples


class Doubler:
    """A hand-made runner: outputs 2·x and the sum of x; 'takes' 1 ms per unit of the sample's first value."""

    size_bytes = 123

    def __init__(self) -> None:
        self.last_invoke_s = 0.0

    def run_one(self, sample):
        self.last_invoke_s = float(sample.flat[0]) * 1e-3
        return [2 * sample[None], np.array([[sample.sum()]], np.float32)]

    def describe(self):
        return {"path": "doubler", "kind": "python", "size_bytes": self.size_bytes, "backend": "numpy",
                "backend_version": np.__version__}


def _run() -> Run:
    x = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    return run_samples(Doubler(), x, ["a.png", "b.png", "c/d.png"], labels=np.array([1, 0, 1]),
                       class_names=["no", "yes"], tap=lambda: {"mid/relu:0": np.array([-1.0, 3.0])})


def test_run_samples_records_outputs_ids_times_and_intermediates():
    r = _run()
    assert list(r.outputs) == ["output_0", "output_1"]          # Doubler's description names no outputs
    np.testing.assert_array_equal(r.outputs["output_0"], 2 * np.arange(12, dtype=np.float32).reshape(3, 2, 2))
    np.testing.assert_array_equal(r.outputs["output_1"], [[6.0], [22.0], [38.0]])   # 0+1+2+3, 4+…+7, 8+…+11
    np.testing.assert_allclose(r.times_s, [0.0, 0.004, 0.008])   # each invoke's own time, in order
    assert r.ids == ("a.png", "b.png", "c/d.png") and r.samples == 3 and r.class_names == ("no", "yes")
    np.testing.assert_array_equal(r.intermediates["mid/relu:0"], [[-1.0, 3.0, 1.0, 2.0]] * 3)  # min max mean std


def test_run_of_a_model_names_its_outputs(example_models):
    m = Model.load(example_models["int8"])
    r = run_samples(m, np.zeros((2, 28, 28, 1), np.float32))
    assert list(r.outputs) == [m.outputs[0].name] and r.outputs[m.outputs[0].name].shape == (2, 10)
    assert r.ids == ("0", "1") and r.quantized is True and r.description["kind"] == "tflite"


def test_save_load_round_trip_is_exact(tmp_path):
    r = _run()
    r = Run(**{**r.__dict__, "outputs": {**r.outputs, "raw:0": np.array([[-128], [0], [127]], np.int8)}})
    path = tmp_path / "run.npz"
    r.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == default_file_mode()    # the umask's mode, not a temp file's
    back = Run.load(path)
    assert list(back.outputs) == list(r.outputs)
    for name, arr in r.outputs.items():
        assert back.outputs[name].dtype == arr.dtype
        np.testing.assert_array_equal(back.outputs[name], arr)
    assert back.times_s.tobytes() == r.times_s.tobytes()           # bit-exact seconds
    assert back.ids == r.ids and back.class_names == r.class_names and back.description == r.description
    np.testing.assert_array_equal(back.labels, r.labels)
    np.testing.assert_array_equal(back.intermediates["mid/relu:0"], r.intermediates["mid/relu:0"])
    assert back.origin == str(path) and back.device == r.device and back.device["arch"]


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _write(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy(arr, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "good.npz"
    _run().save(path)
    return path


def _refused(path, pattern: str) -> str:
    with pytest.raises(UserInputError, match=pattern) as info:
        Run.load(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text, text       # one line naming the file
    return text


def test_forged_and_oversized_run_files_are_refused(saved, tmp_path, monkeypatch):
    good = _members(saved)
    meta = json.loads(good["run.json"])

    not_zip = tmp_path / "not_zip.npz"
    not_zip.write_bytes(b"PK\x03\x04 this is no zip")
    _refused(not_zip, "not a run file")

    plain_npz = tmp_path / "plain.npz"
    np.savez(plain_npz, x=np.zeros(3))
    _refused(plain_npz, "not an edgelite run file .no run.json")

    pickled = tmp_path / "pickled.npz"
    _write(pickled, {**good, "output_0.npy": _npy(np.array([{"a": 1}, None, 3], dtype=object), allow_pickle=True)})
    _refused(pickled, "Python objects")

    huge = tmp_path / "huge_header.npz"   # the header declares 10^12 float64 values: refused before reading
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**6, 10**6)})
    _write(huge, {**good, "output_0.npy": header.getvalue()})
    _refused(huge, "over the .*-byte cap")

    short = tmp_path / "short_ids.npz"
    _write(short, {**good, "run.json": json.dumps({**meta, "ids": ["a.png"]}).encode()})
    _refused(short, "one row per sample id")

    version = tmp_path / "version.npz"
    _write(version, {**good, "run.json": json.dumps({**meta, "version": 99}).encode()})
    _refused(version, "run file version 99")

    bad_json = tmp_path / "bad_json.npz"
    _write(bad_json, {**good, "run.json": b'{"format": "edgelite-run", "version": NaN'})
    _refused(bad_json, "not valid JSON")

    forged_description = tmp_path / "description.npz"
    _write(forged_description, {**good, "run.json": json.dumps({**meta, "description": {"size_bytes": "big"}}
                                                                ).encode()})
    _refused(forged_description, "description or quantized flag is malformed")

    forged_device = tmp_path / "device.npz"
    _write(forged_device, {**good, "run.json": json.dumps({**meta, "device": {"simd": 5}}).encode()})
    _refused(forged_device, "device is malformed")

    bad_times = tmp_path / "times.npz"
    _write(bad_times, {**good, "times_s.npy": _npy(np.array([0.1, -1.0, np.nan]))})
    _refused(bad_times, "times_s must be finite")

    crowded = tmp_path / "crowded.npz"
    _write(crowded, {**good, **{f"extra_{i}.npy": _npy(np.zeros(1)) for i in range(MAX_RUN_MEMBERS)}})
    _refused(crowded, f"over the cap of {MAX_RUN_MEMBERS}")

    monkeypatch.setenv("EDGELITE_MAX_RUN_BYTES", "100")
    _refused(saved, "over the 100-byte cap for a run file; .* EDGELITE_MAX_RUN_BYTES")


def test_missing_run_file_is_a_user_error(tmp_path):
    _refused(tmp_path / "nowhere.npz", "no such run file")
