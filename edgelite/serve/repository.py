"""The model repository ``edgelite serve`` reads: TensorFlow Serving's and Triton's layout.

    REPO/<name>/<version>/model.tflite      numeric versions; which are served: serve/versions.py (default: the
                                            highest valid one)

or a single ``model.tflite`` (served as name = file stem, version 1). Names are checked against
``NAME_PATTERN`` before they touch the file system, so a request's model name can never become a path
outside REPO; versions are ASCII digits without leading zeros. A symbolic link inside REPO that leads outside
it is refused unless ``follow_symlinks`` (``--follow-symlinks``): a writable corner of REPO must not let
someone serve any file the server can read. Every file is loaded through the crash-safe probe (a child
process) before it is served.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.core.limits import ascii_uint
from edgelite.runtime.drift import DriftMonitor, DriftReference
from edgelite.runtime.model import Model
from edgelite.serve.versions import VersionPolicy

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
MODEL_FILE = "model.tflite"
MAX_MODELS = 256        # entries read from REPO (a hostile folder must not make the server load thousands)
MAX_VERSIONS = 1024     # version folders considered per model
# A model whose invoke() takes less than this runs on the event loop when it has one interpreter: the hop to
# the thread pool and back (~0.3 ms measured with anyio on this machine) would cost more than the inference,
# and one interpreter serializes requests anyway. Blocking the loop ≤ 1 ms keeps every other connection live.
INLINE_BELOW_S = 0.001
MAX_VERSION_DIGITS = 18   # versions are whole numbers below 10**18 (ASCII digits; '²' or '١' are not versions)
NO_DRIFT_REFERENCE = "off: the file holds no drift reference (`edgelite convert` to int8 embeds one)"
_log = logging.getLogger("edgelite.serve")


class Overloaded(Exception):
    """Every interpreter of a model is busy and its queue is full: the app answers 503 with Retry-After."""


@dataclass
class Served:
    """One loaded version of a model: a pool of interpreters (an interpreter is not thread-safe: one request
    each at a time) with a bounded queue of requests waiting for one."""

    name: str
    version: int
    path: Path
    models: list[Model]
    max_queue: int = 64
    drift: DriftMonitor | None = None   # from the file's drift reference (runtime/drift.py); None without one
    drift_status: str = NO_DRIFT_REFERENCE   # "monitored" or "off: <why>" (model metadata, repository index)
    inline: bool = False   # requests run on the event loop, not in the thread pool (see INLINE_BELOW_S)
    waiting: int = 0
    _free: list[Model] = field(default_factory=list, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def __post_init__(self) -> None:
        self._free = list(self.models)

    @property
    def model(self) -> Model:
        """The first interpreter: tensor metadata, labels and spec are the same in all of them."""
        return self.models[0]

    @property
    def busy(self) -> int:
        return len(self.models) - len(self._free)

    def acquire(self, *, wait: bool = True) -> Model | None:
        """A free interpreter for one request (give it back with ``release``). Waits in a queue of at most
        ``max_queue`` requests, beyond which ``Overloaded`` is raised at once (memory stays bounded under any
        load); with ``wait=False`` returns None instead of waiting."""
        with self._cond:
            if not self._free:
                if not wait:
                    return None
                if self.waiting >= self.max_queue:
                    raise Overloaded(f"model {self.name!r}: all {len(self.models)} interpreter(s) busy and "
                                     f"{self.waiting} request(s) waiting (--max-queue {self.max_queue})")
                self.waiting += 1
                try:
                    while not self._free:
                        self._cond.wait()
                finally:
                    self.waiting -= 1
            return self._free.pop()

    def release(self, model: Model) -> None:
        """Give an interpreter back; one that a failed request left unusable (``Model.healthy`` False) is
        replaced by a fresh one from the same bytes first, so no request changes what the next one gets."""
        if not model.healthy:
            model = self._renewed(model)
        with self._cond:
            self._free.append(model)
            self._cond.notify()

    def _renewed(self, broken: Model) -> Model:
        try:
            fresh = Model.from_bytes(broken.content, broken.path, threads=broken.threads).with_spec(broken.spec)
        except (UserInputError, RuntimeError, MemoryError):   # bytes that loaded before: should not happen
            _log.exception("model %s version %s: could not replace a failed interpreter", self.name, self.version)
            return broken
        _log.warning("model %s version %s: replaced an interpreter a failed request left unusable", self.name,
                     self.version)
        with self._cond:
            self.models = [fresh if m is broken else m for m in self.models]
        return fresh

    @contextlib.contextmanager
    def instance(self) -> Iterator[Model]:
        """``acquire`` … ``release`` around a block."""
        model = self.acquire()
        assert model is not None
        try:
            yield model
        finally:
            self.release(model)


def valid_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def version_number(text: str) -> int | None:
    """A version folder's (or a URL's) number: ASCII digits, no leading zero, at most MAX_VERSION_DIGITS."""
    number = ascii_uint(text, MAX_VERSION_DIGITS)
    return number if number is not None and str(number) == text else None


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):   # a symlink loop
        return False


def _versions(folder: Path, root: Path | None, outside: list[Path]) -> list[tuple[int, Path]]:
    found = []
    for i, entry in enumerate(sorted(folder.iterdir())):
        if i >= MAX_VERSIONS:
            break
        number = version_number(entry.name)
        if number is None or not entry.is_dir() or not (entry / MODEL_FILE).is_file():
            continue
        if root is not None and not _inside(entry / MODEL_FILE, root):
            outside.append(entry / MODEL_FILE)
            continue
        found.append((number, entry / MODEL_FILE))
    return sorted(found)


def scan(repo: Path, model_name: str | None = None, *, follow_symlinks: bool = False,
         outside: list[Path] | None = None) -> dict[str, list[tuple[int, Path]]]:
    """Model name → [(version, file)] ascending, for a repository folder, a single .tflite file, or a folder
    holding one ``model.tflite`` (KServe's /mnt/models); the single-model forms are named ``model_name``
    (default: the file's stem or the folder's name). Entries whose real path leaves REPO are skipped (listed in
    ``outside``) unless ``follow_symlinks``."""
    skipped: list[Path] = outside if outside is not None else []
    if model_name is not None and not valid_name(model_name):
        raise UserInputError(f"--model-name {model_name!r}: use letters, digits, '_', '.', '-' (128 at most)")
    single = repo if repo.is_file() else repo / MODEL_FILE if (repo / MODEL_FILE).is_file() else None
    if single is not None:
        if single.suffix != ".tflite":
            raise UserInputError(f"{repo}: not a .tflite file; pass a model file or a repository folder "
                                 f"REPO/<name>/<version>/{MODEL_FILE}")
        default = single.stem if repo.is_file() else repo.name
        return {model_name or (default if valid_name(default) else "model"): [(1, single)]}
    if not repo.is_dir():
        raise UserInputError(f"{repo}: no such model repository; pass REPO/<name>/<version>/{MODEL_FILE} or a "
                             ".tflite file")
    root = None if follow_symlinks else repo.resolve()
    models: dict[str, list[tuple[int, Path]]] = {}
    for i, entry in enumerate(sorted(repo.iterdir())):
        if i >= MAX_MODELS:
            break
        if entry.is_dir() and valid_name(entry.name):
            versions = _versions(entry, root, skipped)
            if versions:
                models[entry.name] = versions
    if not models:
        raise UserInputError(f"{repo}: no models found; expected REPO/<name>/<version>/{MODEL_FILE} with numeric "
                             "versions")
    return models


@dataclass(frozen=True)
class Refusal:
    """A version that failed validation; retried only when its file changes (a copy still being written)."""

    name: str
    version: int
    stamp: tuple[int, ...]    # the file's identity and change time as it was *before* the refused validation
    reason: str


def _stamp(path: Path) -> tuple[int, ...]:
    """What changes when a file is rewritten or replaced: size, modification and change times, inode."""
    try:
        st = path.stat()
    except OSError:   # removed between the scan and now
        return (-1,)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _task(model: Model, request: Any) -> tuple[str, Any]:
    """(task kind, detector decoder or None) drift watches the file by: ``serve --task/--decoder`` (``request``,
    a ``TaskRequest``), else the task the file records, else the guess from its outputs. A file that records no
    task, served without task flags, is watched as a classifier (as before tasks) without importing the task
    modules. ``UserInputError`` when the task cannot be bound (a detector without a decoder)."""
    rec = model.metadata.recorded_task()
    if rec is None and (request is None or not request.asked):
        return "classify", None
    from edgelite.runtime.tasks.spec import OutputInfo, TaskRequest, resolve

    outputs = [OutputInfo(t.name, tuple(int(d) for d in t.shape[1:])) for t in model.outputs]
    shape = tuple(model.sample_shape) if len(model.inputs) == 1 else ()
    hw = (int(shape[0]), int(shape[1])) if len(shape) == 3 else None
    spec = resolve(request or TaskRequest(), outputs, labels=model.labels or model.metadata.labels,
                   recorded=rec, input_hw=hw)
    return spec.kind, spec.decoder


WATCHED = {"classify": "predicted classes", "detect": "detections per request and top score"}


def _drift(model: Model, task: Any = None) -> tuple[DriftMonitor | None, str]:
    """The drift monitor of a loaded file and its status: "monitored" (a classifier), "monitored (<task>: what
    is watched)", or "off: <why>". A file whose drift reference cannot be used, or whose task cannot be bound,
    is still served (its inference is not in question), without drift. ``task``: serve's ``TaskRequest``."""
    try:
        if DriftReference.from_provenance(model.metadata.provenance) is None:
            return None, NO_DRIFT_REFERENCE
    except UserInputError as exc:
        return None, f"off: unusable {exc}"
    try:
        kind, decoder = _task(model, task)
    except UserInputError as exc:
        return None, f"off: task: {_first_line(exc)}"
    monitor = DriftMonitor.from_metadata(model.metadata.provenance, task=kind, decoder=decoder)
    if kind == "classify":
        return monitor, "monitored"
    return monitor, f"monitored ({kind}: {WATCHED.get(kind, 'output mean and spread')})"


def _signature(model: Model) -> list[tuple[str, str, str, tuple[int, ...]]]:
    return [(kind, t.name, str(t.dtype), tuple(t.shape_signature or t.shape))
            for kind, tensors in (("input", model.inputs), ("output", model.outputs)) for t in tensors]


class Repository:
    """The models being served, kept in step with REPO by ``poll()``.

    A version policy (serve/versions.py; ``pins`` per model) says which versions are wanted: ``latest`` serves
    the highest valid version of each model, ``latest:N`` the N highest, ``all`` every valid one, a pin the
    versions it names (a request without a version goes to the highest served). A new version is validated
    before it is served — the flatbuffer checks and the crash-safe probe (``Model.load(probe=True)``), one smoke
    inference, and the same input/output names, types and shapes as the highest version served unless
    ``allow_signature_change`` — then swapped in with one assignment: a request holds the ``Served`` it started
    with, so requests in flight finish on the old interpreter, and the old one is freed when the last of them
    lets go. A version that fails is refused (logged, counted) and the last good one stays; it is retried when
    its file changes. A served version whose folder is removed from REPO is dropped when the policy has another
    valid version to serve instead (rolling back by deleting the bad version, as with TensorFlow Serving); the
    last one is never dropped.
    """

    def __init__(self, root: Path, *, threads: int | None = None, policy: str | VersionPolicy = "latest",
                 allow_signature_change: bool = False, log: Callable[[str], None] = lambda line: None,
                 instances: int = 1, max_queue: int = 64, model_name: str | None = None,
                 pins: dict[str, VersionPolicy] | None = None, follow_symlinks: bool = False,
                 task: Any = None) -> None:
        self.policy = policy if isinstance(policy, VersionPolicy) else VersionPolicy.parse(policy)
        self.pins = dict(pins or {})
        if not 1 <= instances <= 64:
            raise UserInputError(f"--instances must be 1-64, got {instances}")
        if max_queue < 0:
            raise UserInputError(f"--max-queue must be ≥ 0, got {max_queue}")
        self.instances, self.max_queue = instances, max_queue
        self.model_name = model_name
        self.follow_symlinks = follow_symlinks
        self.task = task   # serve --task/--decoder (a TaskRequest): what drift watches of every model
        self._outside_logged: set[Path] = set()
        self.root = Path(root)
        # what error bodies show instead of this server's paths (found once: public() runs on every 4xx)
        single = self.root.is_file() or (self.root / MODEL_FILE).is_file()
        roots = sorted({str(self.root.resolve()), str(self.root)}, key=len, reverse=True)
        self._shown = [(r, self.model_name or self.root.stem) for r in roots] if single else \
            [pair for r in roots for pair in ((r + "/", ""), (r, "REPO"))]
        self.threads = threads
        self.allow_signature_change = allow_signature_change
        self.log = log
        self.on_event: Callable[[str, str], None] = lambda kind, name: None   # ("load" | "refuse", model)
        self._served: dict[str, dict[int, Served]] = {}
        self._unloaded: set[str] = set()   # unloaded through the repository API: polls leave them alone
        self.refused: dict[tuple[str, int], Refusal] = {}
        self.loads = 0
        self._poll_lock = threading.Lock()   # one poll at a time (background threads and repository API)
        self._started = False                # the first load is done: a bug in one version no longer ends it all
        found = self._scan()
        unknown = sorted(set(self.pins) - set(found))
        if unknown:
            raise UserInputError(f"--pin names model(s) {', '.join(unknown)} that {self.root} does not hold; "
                                 f"it holds {', '.join(sorted(found)) or 'none'}")
        for name, versions in found.items():
            pin = self.pins.get(name)
            if pin is not None and pin.pinned is not None:
                missing = sorted(pin.pinned - {v for v, _ in versions})
                if missing:
                    self.log(f"pinned version(s) {', '.join(map(str, missing))} of {name} not in REPO yet")
            self._served[name] = self._sync(name, versions, {})
            if not self._served[name]:
                reasons = "; ".join(r.reason for (n, _), r in self.refused.items() if n == name) or \
                    f"no version matches its policy ({self.policy_for(name).describe()})"
                raise UserInputError(f"{self.root}: no version of model {name!r} can be served: {reasons}")
        self._started = True

    def _scan(self) -> dict[str, list[tuple[int, Path]]]:
        outside: list[Path] = []
        found = scan(self.root, self.model_name, follow_symlinks=self.follow_symlinks, outside=outside)
        for path in outside:
            if path not in self._outside_logged:   # once per path, not once per poll
                self._outside_logged.add(path)
                self.log(f"skipped {path}: it leads outside {self.root} (a symbolic link); serve it with "
                         "--follow-symlinks, or copy the file into REPO")
        return found

    def public(self, text: str) -> str:
        """``text`` with this server's paths replaced by what a client may see: REPO-relative model paths."""
        for path, shown in self._shown:
            text = text.replace(path, shown)
        return text

    def policy_for(self, name: str) -> VersionPolicy:
        return self.pins.get(name, self.policy)

    # ---- validation and loading ------------------------------------------------------------------------------
    def _validate(self, name: str, version: int, path: Path, current: Served | None) -> Served:
        model = Model.load(path, threads=self.threads, probe=True)
        zeros = tuple(np.zeros([d if d > 0 else 1 for d in t.shape[1:]], np.float32) for t in model.inputs)
        # one smoke inference (every input fed): a custom op that is not there fails here, not on a client
        model.run_one(zeros if len(zeros) > 1 else zeros[0])
        inline = self.instances == 1 and model.last_invoke_s < 5 * INLINE_BELOW_S and \
            sorted(model.invoke_raw() for _ in range(3))[1] < INLINE_BELOW_S
        if current is not None and not self.allow_signature_change and _signature(model) != _signature(current.model):
            raise UserInputError(f"inputs/outputs differ from version {current.version} "
                                 f"({_signature(current.model)} → {_signature(model)}); serve it with "
                                 "--allow-signature-change")
        # the other interpreters of the pool share the probed, checked bytes
        more = [Model.from_bytes(model.content, path, threads=self.threads) for _ in range(self.instances - 1)]
        drift, status = _drift(model, self.task)
        return Served(name, version, path, [model, *more], self.max_queue, drift, status, inline=inline)

    def _try_load(self, name: str, version: int, path: Path, current: Served | None) -> Served | None:
        # stamped before validating: a copy that finishes during the probe changes the file after this, so the
        # refusal does not match the finished file and the next poll tries it again
        stamp = _stamp(path)
        try:
            served = self._validate(name, version, path, current)
        except UserInputError as exc:   # the file's fault: what the runtime makes of a file it cannot load or run
            reason = str(exc)
        except (OSError, MemoryError) as exc:   # the machine's: the file went away, or its interpreter did not fit
            reason = f"{path}: {type(exc).__name__}: {_first_line(exc)}"
        except Exception as exc:   # one version's bug must not end hot updates of every model
            # Not the file's fault: an edgelite bug. At start-up it ends the start (exit 3, the traceback); while
            # serving it stays this version's (refused until its file changes, the other models still polled and
            # served) and the log gets its traceback, so it can be reported.
            if not self._started:
                raise
            _log.exception("model %s version %s: internal error while loading %s", name, version, path)
            reason = f"internal error ({type(exc).__name__}: {_first_line(exc)}); the server log has the traceback"
        else:
            self.refused.pop((name, version), None)
            self.loads += 1
            # a reference that cannot be used is said once, here (and in the model's metadata): drift is off,
            # not silently missing
            off = "" if served.drift is not None or served.drift_status == NO_DRIFT_REFERENCE else \
                f"; drift monitoring {served.drift_status}"
            self.log(f"loaded {name} version {version} ({path}){off}")
            self.on_event("load", name)
            return served
        self.refused[(name, version)] = Refusal(name, version, stamp, reason)
        self.log(f"refused {name} version {version}: {reason}")
        self.on_event("refuse", name)
        return None

    def _sync(self, name: str, versions: list[tuple[int, Path]], loaded: dict[int, Served]) -> dict[int, Served]:
        """The versions of ``name`` to serve now: those the policy wants from ``versions`` (on disk), highest
        first — kept when loaded, else validated and loaded (refused ones skipped until their file changes) —
        or ``loaded`` unchanged when none of them can be served."""
        policy = self.policy_for(name)
        current = loaded[max(loaded)] if loaded else None
        keep: dict[int, Served] = {}
        for version, path in policy.candidates(versions):
            if policy.count is not None and len(keep) >= policy.count:
                break
            if version in loaded:
                keep[version] = loaded[version]
                continue
            refusal = self.refused.get((name, version))
            if refusal is not None and refusal.stamp == _stamp(path):
                continue
            served = self._try_load(name, version, path, current)
            if served is not None:
                keep[version] = served
        return keep or loaded

    def poll(self) -> None:
        """Bring the served versions in step with REPO and the version policy (new ones validated first)."""
        with self._poll_lock:
            try:
                found = self._scan()
            except UserInputError as exc:   # REPO emptied or gone for a moment: keep serving what is loaded
                self.log(f"repository scan: {exc}")
                return
            for name, versions in found.items():
                if name in self._unloaded:
                    continue
                loaded = self._served.get(name, {})
                updated = self._sync(name, versions, loaded)
                if updated.keys() == loaded.keys():
                    continue
                for version in sorted(loaded.keys() - updated.keys()):
                    self.log(f"unloaded {name} version {version} (policy {self.policy_for(name).describe()})")
                self._served = {**self._served, name: updated}   # one assignment: readers see old or new

    def load(self, name: str) -> Served:
        """Triton's repository API ``load``: (re)load ``name`` from REPO now (what its policy wants)."""
        if not valid_name(name) or not (self.root / name).is_dir():
            raise LookupError(f"no model {name[:128]!r} in the repository")
        with self._poll_lock:
            self._unloaded.discard(name)
        self.poll()
        if name not in self._served:
            reasons = "; ".join(r.reason for (n, _), r in self.refused.items() if n == name) or "no versions"
            raise UserInputError(f"model {name!r} cannot be loaded: {reasons}")
        return self.get(name)

    def unload(self, name: str) -> None:
        """Triton's repository API ``unload``: stop serving ``name`` (requests in flight finish)."""
        with self._poll_lock:
            if name not in self._served:
                raise LookupError(f"unknown model {name!r}; served: {', '.join(sorted(self._served)) or 'none'}")
            self._served = {k: v for k, v in self._served.items() if k != name}
            self._unloaded.add(name)
            self.log(f"unloaded {name}")

    def index(self) -> list[dict[str, str]]:
        """Triton's repository index: every model version loaded or refused, with its state."""
        rows = [{"name": s.name, "version": str(s.version), "state": "READY", "drift": s.drift_status} for s in self]
        rows += [{"name": r.name, "version": str(r.version), "state": "UNAVAILABLE", "reason": self.public(r.reason)}
                 for r in self.refused.values()]
        rows += [{"name": n, "version": "", "state": "UNAVAILABLE", "reason": "unloaded"} for n in self._unloaded]
        return sorted(rows, key=lambda r: (r["name"], r["version"]))

    # ---- lookup ----------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Served]:
        return iter([s for versions in self._served.values() for s in versions.values()])

    def names(self) -> list[str]:
        return sorted(self._served)

    def __contains__(self, name: object) -> bool:
        return name in self._served

    def versions(self, name: str) -> list[int]:
        return sorted(self._served.get(name, {}))

    def get(self, name: str, version: str | None = None) -> Served:
        """The served model ``name`` (at ``version`` if given, else its newest); ``LookupError`` otherwise."""
        served = self._served
        if not valid_name(name) or name not in served:
            raise LookupError(f"unknown model {name[:128]!r}; served: {', '.join(sorted(served)) or 'none'}")
        versions = served[name]
        if version is None:
            return versions[max(versions)]
        number = ascii_uint(version, MAX_VERSION_DIGITS)
        if number is None or number not in versions:
            raise LookupError(f"model {name!r} has no loaded version {version[:24]!r}; serving version(s) "
                              f"{', '.join(str(v) for v in sorted(versions))}")
        return versions[number]
