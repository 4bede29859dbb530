"""issue 13 G: the oci_faas alarms filter on what OCI puts on the metrics, and the local twin emits the same.

OCI sets ``resourceDisplayName`` of a function's metrics to ``<application>:<function>`` and
``resourceId`` to its OCID (doc "Function Metrics", Functions/Reference/functionsmetrics.htm). Both the
rules and the twin take dimension names and value formats from ``mlops.monitoring.metrics``.
"""

from __future__ import annotations

from mlops.blueprint.functions import application_name, function_specs
from mlops.monitoring import metrics as m
from mlops.monitoring.defaults import rules_for_settings
from mlops.names import local_function_id
from mlops.settings import settings_from_config

T0 = 1_800_000_000.0


def _settings():
    return settings_from_config(
        {
            "mlops:store": {"backend": "file", "path": "/tmp/s"},
            "mlops:endpoints": [{"name": "churn", "model": "churn"}],
        },
        stack="dev",
        source="Pulumi.dev.yaml",
    )


def test_rules_and_the_local_twin_share_the_oci_faas_dimensions():
    settings = _settings()
    app = application_name(settings)
    names = [s.name for s in function_specs(settings)]
    faas_rules = [r for r in rules_for_settings(settings) if r.namespace == m.FAAS_NAMESPACE]
    assert {r.function for r in faas_rules} == set(names)  # every function is watched
    for rule in faas_rules:
        # the filter names the function exactly, by the id the twin gives it (the OCID in the cloud)
        assert set(rule.dimensions) <= {m.DIM_RESOURCE_ID, m.DIM_RESPONSE_TYPE}, rule.name
        assert rule.dimensions[m.DIM_RESOURCE_ID] == local_function_id(rule.function)
        assert m.DIM_RESOURCE_DISPLAY_NAME not in rule.dimensions
        # the twin's points of a failing invocation of the watched function are in the rule's streams ...
        points = m.invocation_points(rule.function, 502, 2000.0, T0, application=app)
        watched = [p for p in points if p.name == rule.metric]
        assert watched and all(m.matches(p.dimensions, rule.dimensions) for p in watched), rule.name
        # ... and those of every other function are not
        for other in names:
            if other != rule.function:
                assert not any(
                    m.matches(p.dimensions, rule.dimensions)
                    for p in m.invocation_points(other, 502, 2000.0, T0, application=app)
                )
    # the twin's dimensions are OCI's: resourceId = the function's id, resourceDisplayName = "<app>:<fn>"
    for fn in names:
        dims = m.invocation_points(fn, 200, 1.0, T0, application=app)[0].dimensions
        assert dims == m.faas_dimensions(local_function_id(fn), application=app, function=fn)
        assert dims == {"resourceId": f"local:fn:{fn}", "resourceDisplayName": f"mlops-dev-app:{fn}"}


def test_binding_a_rule_to_an_ocid_changes_only_the_resource_id():
    settings = _settings()
    rule = next(r for r in rules_for_settings(settings) if r.name == "canary-errors-churn")
    ocid = "ocid1.fnfunc.oc1.eu-frankfurt-1.aaaaexample"
    args = rule.to_alarm_args("ocid1.compartment.oc1..c", "ocid1.onstopic.oc1..t", function_id=ocid)
    assert args["query"] == (
        f'FunctionResponseCount[5m]{{resourceId = "{ocid}", responseType = "Error"}}.sum() > 3'
    )
    assert "local:fn:" not in args["body"] and ocid in args["body"]
