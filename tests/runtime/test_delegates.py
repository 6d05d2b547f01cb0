"""External delegates: a missing or non-delegate library is a one-line error naming the file.

No external delegate (Edge TPU, Arm NN, GPU) runs on this x86 CPU machine, so the success path is not tested
here; XNNPACK, the built-in delegate, is exercised on and off everywhere else.
"""

import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime import Model
from edgelite.runtime.backends import DelegateSpec, parse_delegate_options


def _loaded_libm() -> str:
    """The path of the libm this Python process has mapped (any Linux, any architecture)."""
    with open("/proc/self/maps") as fh:
        return next(line.split()[-1] for line in fh if "/libm.so" in line or "/libm-" in line)


LIBM = _loaded_libm()


def test_missing_delegate_file(example_models, tmp_path):
    with pytest.raises(UserInputError, match="libedgetpu.so.1: delegate library not found"):
        Model.load(example_models["int8"], delegates=[DelegateSpec(str(tmp_path / "libedgetpu.so.1"))])


def test_not_a_shared_library(example_models, tmp_path):
    fake = tmp_path / "fake_delegate.so"
    fake.write_text("not an ELF file")
    with pytest.raises(UserInputError, match="fake_delegate.so: cannot load it as a TFLite delegate in litert"):
        Model.load(example_models["int8"], delegates=[DelegateSpec(str(fake))])


def test_shared_library_that_is_not_a_delegate(example_models):

    with pytest.raises(UserInputError, match=r"libm[.-].*: cannot load it as a TFLite delegate"):
        Model.load(example_models["int8"], delegates=[DelegateSpec(LIBM, {"device": "usb"})])


def test_delegate_options_parsing():
    assert parse_delegate_options(["device=usb:0", "a=b=c"]) == {"device": "usb:0", "a": "b=c"}
    with pytest.raises(UserInputError, match="key=value"):
        parse_delegate_options(["novalue"])
