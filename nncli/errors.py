"""User-facing errors: the CLI turns any NncliError into one red line and exit code 1."""


class NncliError(Exception):
    """A problem with the user's input, reported without a traceback."""


class ConfigError(NncliError):
    """The YAML config or a --set override is invalid."""


class DataError(NncliError):
    """A CSV file cannot be read or does not fit the config or checkpoint."""


class CheckpointError(NncliError):
    """A checkpoint file is missing, damaged or of an unknown format."""
