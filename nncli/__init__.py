"""nncli: train feedforward neural networks from YAML configs with a hand-written NumPy engine."""

from __future__ import annotations

from nncli.errors import CheckpointError, ConfigError, DataError, NncliError

__version__ = "0.1.0"

TYPE_CHECKING = False  # not typing's: importing typing alone costs milliseconds at startup
if TYPE_CHECKING:
    from nncli.store.model import Model, load
    from nncli.training import RunResult, train

# The rest of the API imports NumPy, pydantic and the engine, so it is imported on first use:
# `import nncli` stays a millisecond, and the `nncli` command imports the heavy modules inside
# __main__.main, where Ctrl-C means exit 130.
_LAZY = {
    "Model": "nncli.store.model",
    "load": "nncli.store.model",
    "RunResult": "nncli.training",
    "train": "nncli.training",
}

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


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'nncli' has no attribute {name!r}")
    module = __import__(_LAZY[name], fromlist=[name])
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
