"""PyTorch sources end to end (``make test-sources``: needs edgelite[torch] and facenet-pytorch as test data).

A small NCHW CNN built here checks the export exactly; facenet-pytorch's MTCNN ONet (a real detector stage with
box, landmark and face-probability heads, PyTorch source code plus a state dict) checks the whole product on
real faces: full int8 with int8 I/O and NHWC input, its metadata, and ``compare`` against eager PyTorch.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.sources
torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")

SMALL = "tests.sources.small_nets:small_cnn"
ONET = "tests.sources.mtcnn_nets:onet"
METRIC = str(Path(__file__).parent / "mtcnn_metric.py") + ":landmark_error_px"


def _calib(folder: Path, shape: tuple[int, ...], n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    path = folder / f"x{seed}.npy"
    np.save(path, (rng.random((n, *shape)) * 2 - 1).astype(np.float32))
    return path


def test_float_export_equals_eager_pytorch(tmp_path):
    """The route's float step: the exported file (LiteRT, NHWC input) against eager PyTorch on fresh inputs."""
    from ai_edge_litert.interpreter import Interpreter

    from edgelite.converter.pytorch_source import export_float
    from tests.sources.small_nets import small_cnn

    path, made = export_float(SMALL, "factory", tmp_path, input_shapes=((1, 3, 32, 32),))
    assert made.nchw_inputs == (True,) and made.layout == "NHWC (source NCHW)"
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert tuple(inp["shape"]) == (1, 32, 32, 3)
    model = small_cnn()
    worst = 0.0
    for x in np.random.default_rng(7).random((10, 1, 3, 32, 32), dtype=np.float32):
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        it.set_tensor(inp["index"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        it.invoke()
        worst = max(worst, float(np.abs(it.get_tensor(out["index"]) - ref).max()))
    assert worst < 1e-5, worst


def test_small_cnn_becomes_full_int8_nhwc_with_metadata(tmp_path, run_cli):
    from edgelite.runtime import Model, tflite_file

    calib, held_out = _calib(tmp_path, (32, 32, 3), 64, 0), _calib(tmp_path, (32, 32, 3), 60, 1)
    out = tmp_path / "small_int8.tflite"
    code, stdout, err = run_cli("convert", SMALL, "--input-shape", "1,3,32,32", "-o", out, "--calib", calib,
                                "--mean", "127.5", "--std", "127.5", "--json", tmp_path / "convert.json")
    assert code == 0, err
    report = json.loads((tmp_path / "convert.json").read_text())
    assert report["source_kind"] == "pytorch" and report["source_export"]["route"].startswith("litert-torch")
    assert "route" in stdout and "NHWC (source NCHW)" in stdout
    data = out.read_bytes()
    assert tflite_file.is_quantized(data) and not tflite_file.float_compute_ops(data)
    m = Model.load(out)
    assert m.input.dtype == np.int8 and all(t.dtype == np.int8 for t in m.outputs)
    assert tuple(m.input.shape) == (1, 32, 32, 3)
    assert m.spec is not None and m.spec.mean == (127.5,) and m.spec.layout == "nhwc"
    made = m.metadata.provenance["source_export"]
    assert made["input_shapes"] == [[1, 3, 32, 32]] and made["nchw_inputs"] == [True]

    # int8 against the source itself (eager PyTorch, fed NCHW) on inputs it was not calibrated on
    code, stdout, err = run_cli("compare", SMALL, out, "--data", held_out, "--json", tmp_path / "cmp.json")
    assert code == 0, err
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["reference"]["backend"] == "torch"
    out0 = cmp["outputs"][0]
    # 5-way softmax of a small, well-calibrated CNN: int8 keeps the ranking almost always (measured 100 %,
    # SNR ~40 dB); 30 dB is an error of ~3 % of the output's RMS — an export or layout mistake is far below it
    assert out0["snr_db"] > 30, out0
    assert cmp["agreement"] >= 0.95


def test_keep_layout_keeps_nchw(tmp_path, run_cli):
    from edgelite.runtime import Model

    calib = _calib(tmp_path, (3, 32, 32), 32, 0)
    out = tmp_path / "nchw.tflite"
    code, _, err = run_cli("-q", "convert", SMALL, "--input-shape", "1,3,32,32", "--keep-layout", "-o", out,
                           "--calib", calib)
    assert code == 0, err
    m = Model.load(out)
    assert tuple(m.input.shape) == (1, 3, 32, 32) and m.spec is not None and m.spec.layout == "nchw"
    code, _, err = run_cli("compare", SMALL, out, "--data", _calib(tmp_path, (3, 32, 32), 30, 2), "--json",
                           tmp_path / "c.json")
    assert code == 0, err
    assert json.loads((tmp_path / "c.json").read_text())["outputs"][0]["snr_db"] > 30


def test_pt2_archive_converts_and_a_pickled_one_is_refused(tmp_path, run_cli):
    from tests.sources.small_nets import small_cnn

    pt2 = tmp_path / "small.pt2"
    torch.export.save(torch.export.export(small_cnn(), (torch.rand(1, 3, 32, 32),)), str(pt2))
    out = tmp_path / "pt2.tflite"
    code, _, err = run_cli("-q", "convert", pt2, "-o", out, "--calib", _calib(tmp_path, (32, 32, 3), 32, 0))
    assert code == 0, err     # the shape comes from the archive: no --input-shape

    # the same archive with its weights marked pickled (what torch.export.load would torch.load in full)
    bad = tmp_path / "pickled.pt2"
    with zipfile.ZipFile(pt2) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.endswith("_weights_config.json"):
                config = json.loads(body)
                first = next(iter(config["config"]))
                config["config"][first]["use_pickle"] = True
                body = json.dumps(config).encode()
            dst.writestr(info, body)
    before = bad.read_bytes()
    code, _, err = run_cli("convert", bad, "-o", tmp_path / "bad.tflite", "--calib",
                           _calib(tmp_path, (32, 32, 3), 8, 0))
    assert code == 2 and "never loads" in err and "use_pickle" in err and err.count("\n") == 1, err
    assert bad.read_bytes() == before and not (tmp_path / "bad.tflite").exists()


def test_bad_pytorch_sources_get_one_line(tmp_path, run_cli):
    calib = _calib(tmp_path, (32, 32, 3), 8, 0)
    code, _, err = run_cli("convert", SMALL, "-o", tmp_path / "a.tflite", "--calib", calib)
    assert code == 2 and "--input-shape" in err and err.count("\n") == 1, err
    code, _, err = run_cli("convert", "tests.sources.small_nets:uses_erfinv", "--input-shape", "1,3,32,32", "-o",
                           tmp_path / "b.tflite", "--calib", calib)
    assert code == 2 and "aten.erfinv" in err and "small_nets.py:" in err and err.count("\n") == 1, err
    code, _, err = run_cli("convert", "tests.sources.small_nets:no_such", "--input-shape", "1,3,32,32", "-o",
                           tmp_path / "c.tflite", "--calib", calib)
    assert code == 2 and "no function 'no_such'" in err and err.count("\n") == 1, err
    code, _, err = run_cli("convert", SMALL, "--input-shape", "1,3,x,32", "-o", tmp_path / "d.tflite",
                           "--calib", calib)
    assert code == 2 and "--input-shape" in err and err.count("\n") == 1, err
    # a dynamic archive: its spatial axes need --input-shape
    from tests.sources.small_nets import small_cnn

    dyn = tmp_path / "dyn.pt2"
    side = torch.export.Dim("side", min=16, max=64)
    torch.export.save(torch.export.export(small_cnn(), (torch.rand(1, 3, 32, 32),),
                                          dynamic_shapes=({2: side, 3: side},)), str(dyn))
    code, _, err = run_cli("convert", dyn, "-o", tmp_path / "e.tflite", "--calib", calib)
    assert code == 2 and "dynamic axes" in err and "--input-shape" in err and err.count("\n") == 1, err
    code, _, err = run_cli("-q", "convert", dyn, "--input-shape", "1,3,32,32", "-o", tmp_path / "e.tflite",
                           "--calib", calib)
    assert code == 0, err


@pytest.fixture(scope="module")
def faces48(tmp_path_factory):
    from tests.support.data import lfw_faces

    return lfw_faces(tmp_path_factory.mktemp("faces"), size=48)


def test_mtcnn_onet_real_faces_int8_vs_eager_pytorch(tmp_path, run_cli, faces48):
    """The done-when: a real PyTorch detector stage to full int8 with int8 I/O and NHWC input, its metadata,
    judged against eager PyTorch on held-out real faces by its own tasks (face probability; landmarks)."""
    from edgelite.runtime import Model, tflite_file

    calib, held_out = faces48
    out = tmp_path / "onet_int8.tflite"
    # MTCNN's own preprocessing: (pixel - 127.5) / 128, RGB (the grey LFW faces replicated)
    code, _, err = run_cli("-q", "convert", ONET, "--input-shape", "1,3,48,48", "-o", out, "--calib", calib,
                           "--mean", "127.5", "--std", "128", "--color", "rgb")
    assert code == 0, err
    data = out.read_bytes()
    assert tflite_file.is_quantized(data) and not tflite_file.float_compute_ops(data)
    m = Model.load(out)
    assert tuple(m.input.shape) == (1, 48, 48, 3) and m.input.dtype == np.int8
    assert m.spec is not None and m.spec.mean == (127.5,) and m.spec.std == (128.0,)

    code, stdout, err = run_cli("compare", ONET, out, "--data", held_out, "--json", tmp_path / "cmp.json")
    assert code == 0, err
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["reference"]["backend"] == "torch" and cmp["samples"] == 100
    # the face-probability head: every held-out image is a face, and int8 says what eager PyTorch says
    assert cmp["agreement"] >= 0.95, cmp["agreement"]
    code, stdout, err = run_cli("compare", ONET, out, "--data", held_out, "--metric", METRIC, "--json",
                                tmp_path / "lm.json")
    assert code == 0, err
    task = json.loads((tmp_path / "lm.json").read_text())["task"]
    figure = task["metrics"]["metric"]
    assert task["headline"] == "metric" and task["metrics"]["agreement"]["candidate"] >= 0.95
    # user metric = minus the mean landmark error in 48-px crop pixels; int8's loss is that error. Measured
    # ~0.1–0.2 px; a layout or range mistake moves the five points by whole pixels
    loss = -figure["candidate"]
    assert 0 < loss < 1.0, figure


def test_max_drop_and_check_take_a_pytorch_source(tmp_path, run_cli):
    """The budget search and the CI gate work on a factory like on any source (float reference: its export)."""
    import textwrap

    calib, held_out = _calib(tmp_path, (32, 32, 3), 64, 0), _calib(tmp_path, (32, 32, 3), 90, 3)
    out = tmp_path / "budget.tflite"
    code, _, err = run_cli("-q", "convert", SMALL, "--input-shape", "1,3,32,32", "-o", out, "--calib", calib,
                           "--eval", held_out, "--max-drop", "5", "--json", tmp_path / "b.json")
    assert code == 0, err
    budget = json.loads((tmp_path / "b.json").read_text())["budget"]
    assert budget["met"] is True, budget

    cfg = tmp_path / "edgelite.toml"
    cfg.write_text(textwrap.dedent(f"""
        work_dir = "work"
        [latency]
        rounds = 3
        [[models]]
        name = "small"
        source = "{SMALL}"
        calib = "{calib}"
        eval = "{held_out}"
        [models.convert]
        input_shapes = [[1, 3, 32, 32]]
        [models.budgets]
        min_agreement = 0.9
        max_size_bytes = 200000
    """))
    code, stdout, err = run_cli("check", "--config", cfg, "--json", tmp_path / "check.json")
    assert code == 0, stdout + err
    rows = {r["budget"]: r for r in json.loads((tmp_path / "check.json").read_text())["models"][0]["budgets"]}
    assert rows["min_agreement"]["status"] == "pass" and rows["max_size_bytes"]["status"] == "pass"


def test_pt2_vetting_refuses_every_way_to_unpickle_or_load_code(tmp_path):
    """Archives that torch 2.13's loader would unpickle (object constants, a payload under another name, legacy
    members torch.export.load falls back to) or dlopen (AOTInductor): refused by ``vet`` before torch reads them;
    the plain archive passes."""
    from edgelite.converter.pytorch_archive import vet
    from edgelite.core.errors import UserInputError
    from tests.sources.small_nets import small_cnn

    good = tmp_path / "good.pt2"
    torch.export.save(torch.export.export(small_cnn(), (torch.rand(1, 3, 32, 32),)), str(good))
    vet(good)
    top = zipfile.ZipFile(good).namelist()[0].split("/")[0]

    def variant(name: str, extra: dict[str, bytes], config_path: str | None = None) -> Path:
        out = tmp_path / f"{name}.pt2"
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                body = src.read(info)
                if config_path and info.filename.endswith("model_constants_config.json"):
                    body = json.dumps({"config": {"c": {"path_name": config_path, "use_pickle": False}}}).encode()
                dst.writestr(info, body)
            for member, body in extra.items():
                dst.writestr(member, body)
        return out

    bad = [
        variant("opaque_sub", {f"{top}/data/constants/opaque_obj_x/p": b"\x80\x04."}, "opaque_obj_x/p"),
        variant("opaque_case", {f"{top}/data/constants/OPAQUE_OBJ_0": b"\x80\x04."}, "opaque_obj_0"),
        variant("aoti", {f"{top}/data/aotinductor/model/model.so": b"\x7fELF"}),
        variant("legacy_root", {"serialized_constants.pt": b"\x80\x04.", "version": b"1"}),
    ]
    for path in bad:
        with pytest.raises(UserInputError) as err:
            vet(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value), err.value
