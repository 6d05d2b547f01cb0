"""Interpreter backends. All three expose the classic ``tf.lite.Interpreter`` API; a backend only builds one.

Order for ``auto``: ai-edge-litert (the maintained runtime), tflite-runtime 2.14 (old/armv7 boards; needs
numpy<2), then ``tf.lite.Interpreter`` (deprecated, needs TensorFlow) as a last resort.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgelite.errors import MissingDependencyError, UserInputError

BACKEND_NAMES = ("auto", "litert", "tflite-runtime", "tf")


@dataclass(frozen=True)
class Backend:
    """A way to build interpreters: ``make(model_content, num_threads, xnnpack)`` → interpreter."""

    name: str
    version: str
    make: Callable[[bytes, int | None, bool], Any]


def _maker(interpreter_cls: Any, resolver: Any) -> Callable[[bytes, int | None, bool], Any]:
    """All three backends share the classic Interpreter constructor; only the classes differ."""

    def make(content: bytes, threads: int | None, xnnpack: bool) -> Any:
        kind = resolver.AUTO if xnnpack else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        return interpreter_cls(model_content=content, num_threads=threads, experimental_op_resolver_type=kind)

    return make


def _litert() -> Backend:
    mod = importlib.import_module("ai_edge_litert.interpreter")
    version = importlib.import_module("ai_edge_litert").__version__
    return Backend("litert", version, _maker(mod.Interpreter, mod.OpResolverType))


def _tflite_runtime() -> Backend:
    if int(np.__version__.split(".")[0]) >= 2:
        # tflite-runtime 2.14 was built against numpy 1.x and fails obscurely under numpy 2.
        raise MissingDependencyError(
            f"tflite-runtime needs numpy<2 but numpy {np.__version__} is installed; "
            "run: pip install 'numpy<2' (or use ai-edge-litert: pip install ai-edge-litert)"
        )
    mod = importlib.import_module("tflite_runtime.interpreter")
    version = getattr(importlib.import_module("tflite_runtime"), "__version__", "unknown")
    return Backend("tflite-runtime", version, _maker(mod.Interpreter, mod.OpResolverType))


def _tf() -> Backend:
    tf = importlib.import_module("tensorflow")
    return Backend("tf", tf.__version__, _maker(tf.lite.Interpreter, tf.lite.experimental.OpResolverType))


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
