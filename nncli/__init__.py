"""nncli: train feedforward neural networks from YAML configs with a hand-written NumPy engine."""

__version__ = "0.1.0"

from nncli.errors import CheckpointError, ConfigError, DataError, NncliError
from nncli.model import Model, load
from nncli.train import RunResult, train

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Model",
    "NncliError",
    "RunResult",
    "__version__",
    "load",
    "train",
]
