"""`edgelite run --save-run` and `edgelite compare RUN.npz RUN.npz`: a board's run compared without models."""

import json
import shutil

import pytest


@pytest.fixture(scope="module")
def small_eval(example, tmp_path_factory):
    """3 images of each of the 10 classes, in SRC/<class>/ folders (so the runs record labels)."""
    root = tmp_path_factory.mktemp("eval")
    for folder in sorted((example / "eval").iterdir()):
        (root / folder.name).mkdir()
        for image in sorted(folder.glob("*.png"))[:3]:
            shutil.copy(image, root / folder.name / image.name)
    return root


def _keys(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict) and k not in ("discordant",):
            out |= _keys(v, prefix + k + ".")
    return out


def test_saved_runs_compare_like_the_models(run_cli, example_models, small_eval, tmp_path):
    ref_run, cand_run = tmp_path / "float.npz", tmp_path / "int8.npz"
    code, out, err = run_cli("run", example_models["float32"], small_eval, "--save-run", ref_run)
    assert code == 0, err
    assert f"run written to {ref_run} (30 samples)" in out and "3/" in out    # ids: paths inside the folder
    code, out, err = run_cli("run", example_models["int8"], small_eval, "--save-run", cand_run, "--json")
    assert code == 0, err
    assert len(json.loads(out)["results"]) == 30                             # stdout stays pure JSON
    code, out, err = run_cli("compare", ref_run, cand_run, "--json", tmp_path / "runs.json")
    assert code == 0, err
    assert "top-1" in out and "30" in out
    code, _, err = run_cli("compare", example_models["float32"], example_models["int8"], "--data", small_eval,
                           "--json", tmp_path / "models.json")
    assert code == 0, err
    runs, models = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("runs", "models"))
    assert _keys(runs) == _keys(models)
    for key in ("samples", "labelled", "agreement", "cosine_mean", "snr_db", "max_abs_error", "top1_drop_pts",
                "classes", "discordant", "mcnemar_p"):
        assert runs[key] == models[key], key
    for side in ("reference", "candidate"):
        assert runs[side]["top1"] == models[side]["top1"] and runs[side]["path"] == models[side]["path"]
        assert len(runs[side]["latency_samples_ms"]) == 30               # the recorded per-invoke times


def test_bad_or_mismatched_runs_exit_2(run_cli, example_models, small_eval, example, tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert run_cli("run", example_models["int8"], small_eval, "--save-run", a)[0] == 0
    other = sorted((example / "eval" / "0").glob("*.png"))[-2:]
    assert run_cli("run", example_models["int8"], *other, "--save-run", b)[0] == 0

    code, _, err = run_cli("compare", a, b)
    assert code == 2 and "has 30 samples but" in err and err.count("\n") == 1

    forged = tmp_path / "forged.npz"
    forged.write_bytes(b"not a zip at all")
    code, _, err = run_cli("compare", a, forged)
    assert code == 2 and f"{forged}: not a run file" in err and err.count("\n") == 1

    code, _, err = run_cli("compare", a, example_models["int8"], "--data", small_eval)
    assert code == 2 and "two models or two saved runs" in err

    code, _, err = run_cli("compare", a, a, "--data", small_eval)
    assert code == 2 and "drop them" in err

    code, _, err = run_cli("compare", example_models["float32"], example_models["int8"])
    assert code == 2 and "compare needs --data" in err

    code, _, err = run_cli("run", example_models["int8"], small_eval, "--save-run", small_eval)
    assert code == 2 and "output path is a folder" in err                # checked before any work
