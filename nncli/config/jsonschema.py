"""The config's JSON Schema, generated from the pydantic models, for editors and `nncli schema`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from nncli.config.sections import Config

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Where the repository keeps a copy, for the `# yaml-language-server: $schema=` line of its configs.
SCHEMA_PATH = "schema/nncli.schema.json"


class _WithFactoryDefaults(GenerateJsonSchema):
    """Also show the defaults that come from a default_factory (sections, the layer list).

    A section's default is written as the smallest mapping that validates to it (`{}`, or
    `{type: adam}`), since its own keys carry their defaults.
    """

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        value = cast(Callable[[], Any], factory)()  # takes no data, as just checked
        if isinstance(value, BaseModel):
            return _smallest_mapping(value)
        return value if value is not None else NoDefault


def _smallest_mapping(value: BaseModel) -> dict[str, Any]:
    """Only the required keys (a union's tag) when they validate back to the same section."""
    fields = type(value).model_fields
    required = {k: getattr(value, k) for k, info in fields.items() if info.is_required()}
    if type(value).model_validate(required) == value:
        return required
    return value.model_dump(mode="json")


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a config file as written (validation mode: bare names allowed)."""
    schema = Config.model_json_schema(mode="validation", schema_generator=_WithFactoryDefaults)
    schema.pop("title", None)
    # An optimizer section without a type is adam (config.py fills it in before the union
    # picks a member), so the schema must not ask for one there either.
    adam = schema["$defs"]["AdamConfig"]
    adam["required"] = [key for key in adam.get("required", []) if key != "type"]
    if not adam["required"]:
        del adam["required"]
    adam["properties"]["type"]["default"] = "adam"
    return {"$schema": SCHEMA_DIALECT, "title": "nncli config", **schema}


def schema_text() -> str:
    """The schema as `nncli schema` prints it and `schema/nncli.schema.json` stores it."""
    return json.dumps(config_schema(), indent=2) + "\n"
