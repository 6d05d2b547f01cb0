"""Property-based tests (Hypothesis) of hostile inputs: whatever a user or an attacker hands edgelite, the
data-source readers, the metadata reader and the CLI flags either work or fail with a one-line user error —
never another exception, never a traceback, never an allocation out of proportion to the input."""

from __future__ import annotations

import contextlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgelite.converter import metadata_writer
from edgelite.core.errors import UserInputError
from edgelite.runtime import metadata as md
from edgelite.runtime import metadata_codec as codec
from edgelite.runtime import metadata_schema as ms
from edgelite.runtime.tflite_file import CORRUPT_ERRORS

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])

# ---- metadata -------------------------------------------------------------------------------------------------
texts = st.one_of(st.none(), st.text(max_size=12))
floats = st.one_of(st.none(), st.lists(st.floats(width=32, allow_nan=False), max_size=4).map(tuple))
files = st.builds(ms.AssociatedFile, name=texts, description=texts, type=st.sampled_from(list(ms.AssociatedFileType)),
                  locale=texts, version=texts)
file_lists = st.one_of(st.none(), st.lists(files, max_size=2).map(tuple))
options = st.one_of(
    st.none(),
    st.builds(ms.NormalizationOptions, mean=floats, std=floats),
    st.builds(ms.ScoreThresholdingOptions, global_score_threshold=st.floats(width=32, allow_nan=False)),
    st.builds(ms.RegexTokenizerOptions, delim_regex_pattern=texts, vocab_file=file_lists),
)
contents = st.one_of(st.none(), st.builds(
    ms.Content,
    content_properties=st.one_of(st.none(), st.builds(ms.FeatureProperties),
                                 st.builds(ms.ImageProperties, color_space=st.sampled_from(list(ms.ColorSpaceType))),
                                 st.builds(ms.BoundingBoxProperties,
                                           index=st.one_of(st.none(), st.lists(st.integers(0, 2**32 - 1),
                                                                               max_size=4).map(tuple)))),
    range=st.one_of(st.none(), st.builds(ms.ValueRange, min=st.integers(-2**31, 2**31 - 1),
                                         max=st.integers(-2**31, 2**31 - 1)))))
tensors = st.builds(ms.TensorMetadata, name=texts, description=texts,
                    dimension_names=st.one_of(st.none(), st.lists(st.text(max_size=4), max_size=3).map(tuple)),
                    content=contents,
                    process_units=st.one_of(st.none(), st.lists(st.builds(ms.ProcessUnit, options=options),
                                                                max_size=2).map(tuple)),
                    stats=st.one_of(st.none(), st.builds(ms.Stats, max=floats, min=floats)),
                    associated_files=file_lists)
metadata_trees = st.builds(
    ms.ModelMetadata, name=texts, description=texts, version=texts, author=texts, license=texts,
    min_parser_version=texts, associated_files=file_lists,
    subgraph_metadata=st.one_of(st.none(), st.lists(st.builds(
        ms.SubGraphMetadata, name=texts,
        input_tensor_metadata=st.one_of(st.none(), st.lists(tensors, max_size=2).map(tuple)),
        output_tensor_metadata=st.one_of(st.none(), st.lists(tensors, max_size=2).map(tuple)),
        custom_metadata=st.one_of(st.none(), st.lists(st.builds(ms.CustomMetadata, name=texts,
                                                                data=st.one_of(st.none(), st.binary(max_size=40))),
                                                      max_size=2).map(tuple))),
        max_size=2).map(tuple)))


@SETTINGS
@given(metadata_trees)
def test_any_metadata_tree_round_trips(meta):
    assert codec.decode(codec.encode(meta)) == meta


@SETTINGS
@given(metadata_trees, st.data())
def test_mutated_metadata_decodes_or_is_corrupt(meta, data):
    raw = bytearray(codec.encode(meta))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(*CORRUPT_ERRORS):   # an error of the documented kinds, or a decoded object
        codec.decode(bytes(raw))


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["TFLITE_METADATA", "edgelite"]))
def test_any_metadata_entry_in_a_model_is_read_or_refused(example_models, payload, entry):
    data = metadata_writer.with_metadata(example_models["int8"].read_bytes(), {entry: payload})
    try:
        md.read(data, input_hw=(28, 28), where="m.tflite")
    except UserInputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("m.tflite")


# ---- data sources ---------------------------------------------------------------------------------------------
dtypes = st.sampled_from(["<f4", "<f8", "|u1", "<i2", "<i8", "|b1", "<c8", "|O", "<U3", "|V4"])
shapes = st.lists(st.integers(-2, 64) | st.integers(0, 2**40), min_size=0, max_size=4).map(tuple)  # <0: issue 24


def _npy_bytes(shape: tuple[int, ...], dtype: str, body: bytes) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    return header.getvalue() + body


@SETTINGS
@given(shapes, dtypes, st.binary(max_size=2000))
def test_any_npy_is_read_or_refused(tmp_path_factory, shape, dtype, body):
    from edgelite.calibration.sources import open_source

    path = tmp_path_factory.mktemp("npy") / "x.npy"
    try:
        raw = _npy_bytes(shape, dtype, body)
    except ValueError:
        raw = body  # numpy refuses to write such a header: use the raw bytes
    path.write_bytes(raw)
    try:
        source = open_source(path)
    except UserInputError as exc:
        assert "\n" not in str(exc)
        return
    assert len(source) >= 1


@SETTINGS
@given(st.dictionaries(st.sampled_from(["x", "y", "z"]), st.tuples(shapes, dtypes, st.binary(max_size=600)),
                       max_size=3), st.booleans())
def test_any_npz_is_read_or_refused(tmp_path_factory, members, compressed):
    from edgelite.calibration.sources import open_source

    path = tmp_path_factory.mktemp("npz") / "d.npz"
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as zf:
        for name, (shape, dtype, body) in members.items():
            try:
                zf.writestr(f"{name}.npy", _npy_bytes(shape, dtype, body))
            except ValueError:
                zf.writestr(f"{name}.npy", body)
    try:
        open_source(path)
    except UserInputError as exc:
        assert "\n" not in str(exc)


# ---- CLI flags ------------------------------------------------------------------------------------------------
flag_values = st.one_of(st.text(max_size=12), st.integers(-10**12, 10**12).map(str),
                        st.sampled_from(["0", "-1", "nan", "inf", "1e309", "28x28", "0x0", "100000x100000", "1,2,3",
                                         "", " ", "\x1b[2J"]))
run_flags = st.sampled_from(["--input-size", "--mean", "--std", "--top-k", "--threads", "--color", "--resize",
                             "--resize-pipeline", "--backend", "--delegate-option"])


@SETTINGS
@given(st.lists(st.tuples(run_flags, flag_values), max_size=3))
def test_any_run_flags_work_or_are_one_line(run_cli, example_models, example, flags):
    image = next((example / "eval" / "5").iterdir())
    argv = ["run", example_models["int8"], image]
    for flag, value in flags:
        argv += [flag, value]
    _works_or_one_line(run_cli, argv)


def _works_or_one_line(run_cli, argv) -> None:
    code, _, err = run_cli(*argv)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (argv, err)
        assert not any(ord(c) < 32 for c in err.strip()), (argv, err)


def test_the_strategies_reach_both_outcomes(tmp_path, example_models):
    """The properties above are not vacuous: valid inputs work and hostile ones are refused."""
    from edgelite.calibration.sources import open_source

    good = tmp_path / "good.npy"
    good.write_bytes(_npy_bytes((2, 28, 28, 1), "<f4", b"\0" * (2 * 28 * 28 * 4)))
    assert len(open_source(good)) == 2
    bad = tmp_path / "bad.npy"
    bad.write_bytes(_npy_bytes((2**40,), "<f4", b""))
    try:
        open_source(bad)
        raise AssertionError("a header declaring 4 TB was accepted")
    except UserInputError:
        pass
    assert Path(example_models["int8"]).is_file()


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM"]),
                          st.binary(max_size=300)), min_size=1, max_size=4))
def test_any_image_files_in_a_folder_are_read_or_skipped(tmp_path_factory, example, blobs):
    """Random image-looking files beside one real digit: the real one is read, the rest skipped and counted."""
    import shutil

    from edgelite.calibration.sampling import collect
    from edgelite.calibration.sources import open_source
    from edgelite.runtime import PreprocessSpec

    folder = tmp_path_factory.mktemp("imgs")
    shutil.copy(next((example / "eval" / "4").iterdir()), folder / "real.png")
    for k, (magic, body) in enumerate(blobs):
        (folder / f"junk{k}.png").write_bytes(magic + body)
    got = collect(open_source(folder), PreprocessSpec(28, 28, color="gray"), (28, 28, 1), None, 0)
    assert len(got.x) + len(got.skipped) == len(blobs) + 1 and len(got.x) >= 1


compare_flags = st.sampled_from(["--samples", "--seed", "--input-size", "--mean", "--std", "--color",
                                 "--resize-pipeline", "--threads"])


@SETTINGS
@given(st.lists(st.tuples(compare_flags, flag_values), max_size=3))
def test_any_compare_flags_work_or_are_one_line(run_cli, example_models, tiny_eval, flags):
    argv = ["compare", example_models["float32"], example_models["int8"], "--data", tiny_eval]
    for flag, value in flags:
        argv += [flag, value]
    _works_or_one_line(run_cli, argv)


@pytest.fixture(scope="module")
def tiny_eval(tmp_path_factory, example):
    """Two classes, three digits each: enough for compare, quick for sixty examples."""
    import shutil

    root = tmp_path_factory.mktemp("tiny_eval")
    for digit in ("1", "7"):
        (root / digit).mkdir()
        for f in sorted((example / "eval" / digit).iterdir())[:3]:
            shutil.copy(f, root / digit / f.name)
    return root
