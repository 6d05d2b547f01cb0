#!/bin/sh
# The board install of edgelite with the inference service: what the Dockerfile runs, and what a test runs in a
# fresh venv (tests/serve/test_deploy.py). No TensorFlow: numpy, Pillow, ai-edge-litert, Starlette, uvicorn,
# prometheus-client, python-multipart.
#   PYTHON=/path/to/python sh deploy/install-board.sh SOURCE_DIR
set -eu
PYTHON="${PYTHON:-python3}"
SOURCE="${1:-.}"
"$PYTHON" -m pip install --no-cache-dir --quiet "$SOURCE[serve]"
# the service must start without TensorFlow: fail the build if it slipped in as a dependency
if (cd / && "$PYTHON" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is not None)"); then
    :
else
    echo "install-board.sh: tensorflow is installed; the board image must not carry it" >&2
    exit 1
fi
# from / so that no source checkout in the working directory shadows the installed package
(cd / && "$PYTHON" -m edgelite serve --help > /dev/null)
