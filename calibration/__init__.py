"""Representative and evaluation data: folders (Pillow), .npy/.npz, arrays, generators. numpy + Pillow only."""

from edgelite.calibration.sampling import Collected, collect, sample_order
from edgelite.calibration.sources import DataSource, from_arrays, from_generator, open_source

__all__ = ["DataSource", "open_source", "from_arrays", "from_generator", "collect", "sample_order", "Collected"]
