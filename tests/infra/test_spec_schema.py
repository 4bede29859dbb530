"""The generated deployment specification against pulumi-oci's own argument classes.

``pulumi_oci.apigateway.Deployment(specification=...)`` silently drops (or the provider rejects)
keys its ``DeploymentSpecification*Args`` do not know; the oci SDK models name some fields
differently (``cache_key``/``cache_keys``, ``allowed_scope``/``allowed_scopes``), so a spec that
passes the SDK check may still be wrong for Pulumi. Every key is checked here, recursively.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pulumi_oci.apigateway as apigateway
import pulumi_oci.apigateway._inputs as gw_inputs
from mlops.blueprint.functions import function_specs
from mlops.blueprint.gateway import deployment_spec

from .conftest import make_settings

_ARGS = re.compile(r"\b(DeploymentSpecification\w*Args)\b")


def _args_class(name: str) -> type:
    return getattr(gw_inputs, name, None) or getattr(apigateway, name)


def unknown_keys(value: Any, cls: type, where: str = "specification") -> list[str]:
    """Paths of keys in ``value`` that ``cls.__init__`` (and its nested Args classes) does not accept."""
    params = {
        n: p for n, p in inspect.signature(cls.__init__).parameters.items() if n not in ("self", "__self__")
    }
    bad: list[str] = []
    for key, item in value.items():
        if key not in params:
            bad.append(f"{where}.{key} (not a parameter of {cls.__name__}: {', '.join(sorted(params))})")
            continue
        nested = _ARGS.findall(str(params[key].annotation))
        if not nested:
            continue  # a scalar, a list of scalars or a free mapping (e.g. parameters)
        sub = _args_class(nested[0])
        if isinstance(item, dict):
            bad += unknown_keys(item, sub, f"{where}.{key}")
        elif isinstance(item, list):
            for i, element in enumerate(item):
                if isinstance(element, dict):
                    bad += unknown_keys(element, sub, f"{where}.{key}[{i}]")
    return bad


def _spec(**sections):
    settings = make_settings(**sections)
    ids = {s.name: f"ocid1.fnfunc.oc1..{s.name}" for s in function_specs(settings)}
    return deployment_spec(settings, ids)


def test_the_checker_finds_unknown_keys_at_any_depth():
    spec = {
        "routes": [{"path": "/x", "backend": {"type": "HTTP_BACKEND", "url": "https://e", "no_such": 1}}],
        "request_policies": {"rate_limiting": {"rate_key": "TOTAL", "rate_in_requests_per_second": 1}},
        "bogus": True,
    }
    assert [b.split(" ")[0] for b in unknown_keys(spec, apigateway.DeploymentSpecificationArgs)] == [
        "specification.routes[0].backend.no_such",
        "specification.bogus",
    ]


def test_every_key_of_the_deployment_spec_is_a_pulumi_oci_argument():
    bad = unknown_keys(_spec(), apigateway.DeploymentSpecificationArgs)
    assert not bad, "keys pulumi-oci does not accept:\n" + "\n".join(bad)


def test_without_rate_limit_and_cors_too():
    bad = unknown_keys(
        _spec(gateway={"rate_limit": None, "cors": None}), apigateway.DeploymentSpecificationArgs
    )
    assert not bad, "\n".join(bad)
