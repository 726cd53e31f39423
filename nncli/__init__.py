"""nncli: train feedforward neural networks from YAML configs with a hand-written NumPy engine."""

__version__ = "0.1.0"

from nncli.errors import CheckpointError, ConfigError, DataError, NncliError  # noqa: E402
from nncli.model import Model, load  # noqa: E402
from nncli.train import RunResult, train  # noqa: E402

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
