"""Version policies: latest, latest:N, all, versions pinned per model; rolling back by deleting a version;
new versions seen through the file watcher with the timed poll switched off."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request

import pytest

from edgelite.core.errors import UserInputError
from tests.serve.conftest import serving
from tests.serve.test_hot_updates import _put


def test_policy_and_pin_parsing():
    from edgelite.serve.versions import VersionPolicy, parse_pins

    assert VersionPolicy.parse("latest") == VersionPolicy(count=1)
    assert VersionPolicy.parse("latest:3").count == 3 and VersionPolicy.parse("all").count is None
    for bad in ("newest", "latest:0", "latest:x", "all:2", "latest:65"):
        with pytest.raises(UserInputError, match="use latest, latest:N"):
            VersionPolicy.parse(bad)
    pins = parse_pins(["a=3", "b=1,4"])
    assert pins["a"].pinned == {3} and pins["b"].pinned == {1, 4} and pins["b"].describe() == "pinned 1,4"
    for bad in (["a"], ["a="], ["a=x"], ["../a=1"], ["a=1", "a=2"]):
        with pytest.raises(UserInputError, match="--pin"):
            parse_pins(bad)


def test_latest_n_keeps_the_n_highest_valid_versions(tmp_path, example_models):
    from edgelite.serve.repository import Repository

    for v in (1, 2, 3):
        _put(tmp_path, "m", v, example_models["int8"])
    (tmp_path / "m" / "4").mkdir()
    (tmp_path / "m" / "4" / "model.tflite").write_bytes(b"TFL3" * 64)   # broken: the next valid one counts
    lines: list[str] = []
    repo = Repository(tmp_path, policy="latest:2", log=lines.append)
    assert repo.versions("m") == [2, 3] and ("m", 4) in repo.refused
    _put(tmp_path, "m", 5, example_models["int8"])
    repo.poll()
    assert repo.versions("m") == [3, 5] and repo.get("m").version == 5
    assert "unloaded m version 2 (policy latest:2)" in lines


def test_a_pinned_model_ignores_new_versions_while_others_follow_latest(tmp_path, example_models):
    from edgelite.serve.repository import Repository
    from edgelite.serve.versions import parse_pins

    for v in (1, 2, 3):
        _put(tmp_path, "pinned", v, example_models["int8"])
        _put(tmp_path, "free", v, example_models["int8"])
    lines: list[str] = []
    repo = Repository(tmp_path, pins=parse_pins(["pinned=2,7"]), log=lines.append)
    assert repo.versions("pinned") == [2] and repo.versions("free") == [3]
    assert "pinned version(s) 7 of pinned not in REPO yet" in lines
    for v in (4, 7):
        _put(tmp_path, "pinned", v, example_models["int8"])
    _put(tmp_path, "free", 4, example_models["int8"])
    repo.poll()
    assert repo.versions("pinned") == [2, 7] and repo.get("pinned").version == 7   # 4 is not pinned
    assert repo.versions("free") == [4]
    with pytest.raises(UserInputError, match="--pin names model.*nope"):
        Repository(tmp_path, pins=parse_pins(["nope=1"]))
    with pytest.raises(UserInputError, match="no version of model 'pinned' can be served"):
        Repository(tmp_path, pins=parse_pins(["pinned=9"]))


def test_deleting_the_served_version_rolls_back_but_never_to_nothing(tmp_path, example_models):
    from edgelite.serve.repository import Repository

    for v in (1, 2):
        _put(tmp_path, "m", v, example_models["int8"])
    lines: list[str] = []
    repo = Repository(tmp_path, log=lines.append)
    assert repo.versions("m") == [2]
    shutil.rmtree(tmp_path / "m" / "2")   # the operator withdraws a bad version
    repo.poll()
    assert repo.versions("m") == [1] and "unloaded m version 2 (policy latest)" in lines
    shutil.rmtree(tmp_path / "m" / "1")   # nothing left on disk: keep serving what is loaded
    repo.poll()
    assert repo.versions("m") == [1]


def _serving_version(url: str) -> str:
    with urllib.request.urlopen(f"{url}/v2/models/m", timeout=5) as r:
        return str(json.loads(r.read())["versions"][-1])


def test_the_watcher_sees_a_new_version_without_polling(tmp_path, example_models):
    _put(tmp_path, "m", 1, example_models["int8"])
    with serving(tmp_path, "--poll-seconds", "0") as server:   # the timed poll is off: only the watcher
        t0 = time.monotonic()
        _put(tmp_path, "m", 2, example_models["int8"])
        while _serving_version(server.url) != "2" and time.monotonic() - t0 < 30:
            time.sleep(0.05)
        seen = time.monotonic() - t0
    print(f"version 2 served {seen:.2f} s after it landed (watcher, no polling)")
    # measured 0.11 s (50 ms of quiet, then validation in a probe process); polling every 5 s averages 2.5 s
    assert seen < 10 and "on file changes (inotify)" in server.stdout and "loaded m version 2" in server.stdout


def test_with_watch_off_and_no_polling_nothing_changes(tmp_path, example_models):
    _put(tmp_path, "m", 1, example_models["int8"])
    with serving(tmp_path, "--poll-seconds", "0", "--watch", "off") as server:
        _put(tmp_path, "m", 2, example_models["int8"])
        time.sleep(2.0)   # 4× the watcher's measured delay
        assert _serving_version(server.url) == "1"
    assert "never (--poll-seconds 0 --watch off)" in server.stdout


def test_bad_policy_flags_are_one_line_errors(tmp_path, example_models, run_cli):
    _put(tmp_path, "m", 1, example_models["int8"])
    code, _, err = run_cli("serve", str(tmp_path), "--versions", "newest")
    assert code == 2 and "--versions 'newest'" in err and err.count("\n") == 1
    code, _, err = run_cli("serve", str(tmp_path), "--pin", "m=one")
    assert code == 2 and "--pin 'm=one'" in err and err.count("\n") == 1


def test_a_slow_copy_is_refused_then_served_when_the_watcher_sees_it_finish(tmp_path, example_models):
    """`cp` straight into REPO (no rename): the half-written file is refused, the rest of the copy changes it,
    the watcher polls again and the complete file is served — with the timed poll off."""
    _put(tmp_path, "m", 1, example_models["int8"])
    data = example_models["int8"].read_bytes()
    seen: list[str] = []
    with serving(tmp_path, "--poll-seconds", "0") as server:
        (tmp_path / "m" / "2").mkdir()
        with open(tmp_path / "m" / "2" / "model.tflite", "wb") as f:
            f.write(data[: len(data) // 3])
            f.flush()
            deadline = time.monotonic() + 30
            while "refused m version 2" not in _read_so_far(server, seen) and time.monotonic() < deadline:
                time.sleep(0.1)
            f.write(data[len(data) // 3:])
        t0 = time.monotonic()
        while _serving_version(server.url) != "2" and time.monotonic() - t0 < 30:
            time.sleep(0.05)
        assert _serving_version(server.url) == "2"
    log = "".join(seen) + server.stdout
    assert log.index("refused m version 2") < log.index("loaded m version 2")


def _read_so_far(server, seen: list[str]) -> str:
    """The server's stdout so far (appended to ``seen``), without waiting for it to exit."""
    import os
    import select

    fd = server.proc.stdout.fileno()
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536).decode(errors="replace")
        if not chunk:
            break
        seen.append(chunk)
    return "".join(seen)
