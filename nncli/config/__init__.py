"""Config: the pydantic schema of a config file, YAML loading with located messages and --set
overrides. The JSON Schema (config.jsonschema) and the docs generator (config.docgen) are
imported where they are used, so the commands that need neither start without them."""

from nncli.config.load import config_from_raw, dump_yaml, load_config, resolved_dict
from nncli.config.messages import format_errors
from nncli.config.network import ModelConfig
from nncli.config.overrides import apply_override, parse_set_options
from nncli.config.sections import Config, DataConfig, TrainingConfig
from nncli.config.yamlio import Marks, parse_yaml, read_yaml

__all__ = [
    "Config",
    "DataConfig",
    "Marks",
    "ModelConfig",
    "TrainingConfig",
    "apply_override",
    "config_from_raw",
    "dump_yaml",
    "format_errors",
    "load_config",
    "parse_set_options",
    "parse_yaml",
    "read_yaml",
    "resolved_dict",
]
