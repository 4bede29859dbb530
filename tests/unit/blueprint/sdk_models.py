"""Load a snake_case spec dict into the oci SDK's own model classes, refusing unknown fields."""

from __future__ import annotations

import re
from typing import Any

import oci.apigateway.models as gw_models


class UnknownField(AssertionError):
    pass


# Where pulumi-oci (the terraform schema) names a field differently from the SDK model.
# The spec is written in the Pulumi shape; the SDK check translates these names only.
PULUMI_TO_SDK = {"cache_keys": "cache_key", "allowed_scopes": "allowed_scope"}


def _model_class(name: str):
    return getattr(gw_models, name)


def load_model(data: Any, type_name: str, where: str = "spec") -> Any:
    """Build ``type_name`` (an SDK swagger type string) from ``data`` strictly."""
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        assert isinstance(data, list), f"{where}: expected a list"
        return [load_model(v, m.group(1), f"{where}[{i}]") for i, v in enumerate(data)]
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        assert isinstance(data, dict), f"{where}: expected a dict"
        return {k: load_model(v, m.group(1), f"{where}.{k}") for k, v in data.items()}
    if type_name in ("str", "int", "float", "bool", "object", "datetime"):
        py = {"str": str, "int": int, "float": (int, float), "bool": bool, "object": object, "datetime": str}[
            type_name
        ]
        assert isinstance(data, py), f"{where}: expected {type_name}, got {type(data).__name__}"
        return data
    cls = _model_class(type_name)
    assert isinstance(data, dict), f"{where}: expected an object for {type_name}"
    # Polymorphic types pick their subtype from the discriminator, as the SDK does.
    get_subtype = getattr(cls, "get_subtype", None)
    if get_subtype:
        sub = get_subtype({cls().attribute_map.get(k, k): v for k, v in data.items()})
        if sub != type_name:
            return load_model(data, sub, where)
    obj = cls()
    for key, value in data.items():
        key = PULUMI_TO_SDK.get(key, key)
        if key not in obj.swagger_types:
            raise UnknownField(
                f"{where}.{key}: not a field of {type_name} (fields: {', '.join(sorted(obj.swagger_types))})"
            )
        setattr(obj, key, load_model(value, obj.swagger_types[key], f"{where}.{key}"))
    return obj
