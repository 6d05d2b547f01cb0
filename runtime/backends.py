"""Interpreter backends. All three expose the classic ``tf.lite.Interpreter`` API; a backend only builds one.

Order for ``auto``: ai-edge-litert (the maintained runtime), tflite-runtime 2.14 (old/armv7 boards; needs
numpy<2), then ``tf.lite.Interpreter`` (deprecated, needs TensorFlow) as a last resort.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.core.errors import MissingDependencyError, UserInputError
from edgelite.core.vocabulary import BackendName, choices

BACKEND_NAMES = choices(BackendName)


@dataclass(frozen=True)
class Backend:
    """A way to build interpreters (``make``), and ``load_delegate(path, options)`` for external delegates
    (.so files such as an Edge TPU or Arm NN). All three share the classic ``tf.lite.Interpreter``
    constructor; only the classes differ."""

    name: str
    version: str
    interpreter_cls: Any
    resolver: Any                  # the library's OpResolverType enum
    load_delegate: Callable[[str, dict[str, str]], Any]
    # How long importing the interpreter library took in this process (None: imported before edgelite could
    # time it). Reported apart from model init: LiteRT's own benchmark tool starts its clock after it.
    load_ms: float | None = None

    def make(self, content: bytes, threads: int | None = None, xnnpack: bool = True,
             delegates: list[Any] | None = None, *, preserve_all_tensors: bool = False) -> Any:
        """The one interpreter factory. ``preserve_all_tensors`` keeps every intermediate tensor readable
        (per-layer comparisons); it needs XNNPACK off, which fuses ops and frees intermediates."""
        kind = self.resolver.AUTO if xnnpack and not preserve_all_tensors \
            else self.resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        extra = {"experimental_preserve_all_tensors": True} if preserve_all_tensors else {}
        return self.interpreter_cls(model_content=content, num_threads=threads, experimental_op_resolver_type=kind,
                                    experimental_delegates=delegates or None, **extra)


_LOAD_MS: dict[str, float] = {}


def _timed_import(module: str) -> Any:
    """Import ``module``, remembering how long its first import in this process took."""
    fresh = module not in sys.modules
    t0 = time.perf_counter()
    mod = importlib.import_module(module)
    if fresh:
        _LOAD_MS.setdefault(module, (time.perf_counter() - t0) * 1e3)
    return mod


@dataclass(frozen=True)
class DelegateSpec:
    """An external delegate to load: the shared library and its options."""

    path: str
    options: dict[str, str] = field(default_factory=dict)


def _litert() -> Backend:
    mod = _timed_import("ai_edge_litert.interpreter")
    version = importlib.import_module("ai_edge_litert").__version__
    return Backend("litert", version, mod.Interpreter, mod.OpResolverType, mod.load_delegate,
                   _LOAD_MS.get("ai_edge_litert.interpreter"))


def _tflite_runtime() -> Backend:
    if int(np.__version__.split(".")[0]) >= 2:
        # tflite-runtime 2.14 was built against numpy 1.x and fails obscurely under numpy 2.
        raise MissingDependencyError(
            f"tflite-runtime needs numpy<2 but numpy {np.__version__} is installed; "
            "run: pip install 'numpy<2' (or use ai-edge-litert: pip install ai-edge-litert)"
        )
    mod = _timed_import("tflite_runtime.interpreter")
    version = getattr(importlib.import_module("tflite_runtime"), "__version__", "unknown")
    return Backend("tflite-runtime", version, mod.Interpreter, mod.OpResolverType, mod.load_delegate,
                   _LOAD_MS.get("tflite_runtime.interpreter"))


def _tf() -> Backend:
    tf = _timed_import("tensorflow")
    return Backend("tf", tf.__version__, tf.lite.Interpreter, tf.lite.experimental.OpResolverType,
                   tf.lite.experimental.load_delegate, _LOAD_MS.get("tensorflow"))


_FACTORIES = {"litert": _litert, "tflite-runtime": _tflite_runtime, "tf": _tf}
_INSTALL = {
    "litert": "pip install ai-edge-litert",
    "tflite-runtime": "pip install tflite-runtime 'numpy<2'",
    "tf": "pip install tensorflow",
}


def select_backend(name: str = "auto") -> Backend:
    """The backend called ``name``, or for ``auto`` the first one that is installed and usable."""
    if name not in BACKEND_NAMES:
        raise UserInputError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    candidates = list(_FACTORIES) if name == "auto" else [name]
    reasons = []
    for cand in candidates:
        try:
            return _FACTORIES[cand]()
        except ImportError:
            reasons.append(f"{cand}: not installed ({_INSTALL[cand]})")
        except MissingDependencyError as exc:
            if name != "auto":
                raise
            reasons.append(f"{cand}: {exc}")
    raise MissingDependencyError("no TFLite interpreter is usable: " + "; ".join(reasons))


def load_delegates(backend: Backend, specs: list[DelegateSpec]) -> list[Any]:
    """Load external delegates; a missing or unloadable library is a one-line error naming the file."""
    loaded = []
    for spec in specs:
        path = Path(spec.path)
        if not path.is_file():
            raise UserInputError(f"{path}: delegate library not found; pass the path of the delegate's .so file")
        _check_delegate_symbols(path, backend.name)
        try:
            loaded.append(backend.load_delegate(str(path), dict(spec.options)))
        except (ValueError, RuntimeError, OSError) as exc:
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise UserInputError(f"{path}: cannot load it as a TFLite delegate in {backend.name} ({text}); "
                                 "check that it is a delegate built for this runtime and its options") from None
    return loaded


def _check_delegate_symbols(path: Path, backend: str) -> None:
    """Refuse a library without the external-delegate entry points before LiteRT sees it: its Delegate class
    fails in __del__ on such a library and prints a traceback at garbage collection."""
    import ctypes

    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise UserInputError(f"{path}: cannot load it as a TFLite delegate in {backend} ({exc}); "
                             "pass the delegate's .so file built for this platform") from None
    missing = [sym for sym in ("tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate")
               if not hasattr(lib, sym)]
    if missing:
        raise UserInputError(f"{path}: cannot load it as a TFLite delegate in {backend} (no {missing[0]}); "
                             "it is a shared library but not an external delegate")


def parse_delegate_options(items: list[str] | None) -> dict[str, str]:
    """``key=value`` strings from ``--delegate-option``."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserInputError(f"--delegate-option takes key=value, got {item!r}")
        options[key] = value
    return options
