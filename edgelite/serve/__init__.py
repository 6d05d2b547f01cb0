"""``edgelite serve``: a board-side inference service over the Open Inference Protocol (``pip install
'edgelite[serve]'``: Starlette, uvicorn). Imports no TensorFlow: only ``edgelite.runtime``."""
