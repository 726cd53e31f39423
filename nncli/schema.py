"""The config's JSON Schema, generated from the pydantic models, for editors and `nncli schema`."""

from __future__ import annotations

import json
from typing import Any

from nncli.config import Config

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Where the repository keeps a copy, for the `# yaml-language-server: $schema=` line of its configs.
SCHEMA_PATH = "schema/nncli.schema.json"


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a config file as written (validation mode: bare names allowed)."""
    schema = Config.model_json_schema(mode="validation")
    schema.pop("title", None)
    return {"$schema": SCHEMA_DIALECT, "title": "nncli config", **schema}


def schema_text() -> str:
    """The schema as `nncli schema` prints it and `schema/nncli.schema.json` stores it."""
    return json.dumps(config_schema(), indent=2, sort_keys=False) + "\n"
