"""Alarm rules: MQL that follows OCI's grammar, Pulumi Alarm arguments, defaults, overrides."""

from __future__ import annotations

import inspect
import json

import pytest
from mlops.errors import ConfigError, UnprocessableError
from mlops.monitoring.alarms import AlarmRule, duration_seconds
from mlops.monitoring.defaults import KINDS, default_rules, rules_for_settings
from mlops.monitoring.mql import parse_alarm, parse_query, render_number
from mlops.settings import settings_from_config

# Queries as OCI documents and users write them (MQL reference, "Specifying a Predicate in a Query",
# pulumi-oci's Alarm docstring, public alarm payloads).
VALID = [
    "CpuUtilization[1m].mean() > 80",
    "CpuUtilization[1m].mean() in (60, 80)",
    "ServiceConnectorHubErrors[1m].count() > 1",
    'CpuUtilization[1m]{availabilityDomain = "VeBZ:PHX-AD-1"}.groupBy(poolId).percentile(0.9) > 85',
    'CpuUtilization[1m]{availabilityDomain="cumS:PHX-AD-1"}.groupBy(availabilityDomain).percentile(0.9) > 85',
    'CpuUtilization[1m]{resourceDisplayName =~ "ol8|ol7"}.min() >= 20',
    'CpuUtilization[1m]{resourceDisplayName =~ "instance-2023-*"}.min() >= 30',
    'CpuUtilization[1m]{resourceId = "<resource_identifier>"}.groupBy(resourceId).absent()',
    'CpuUtilization[1m]{availabilityDomain="cumS:PHX-AD-1"}.absent(20h)',
    'DatabaseAvailability[5m]{deploymentType = "Shared", region = "ap-seoul-1"}.rate() not in (1, 10)',
    'FunctionResponseCount[5m]{resourceId = "ocid1.fnfunc.oc1..x", responseType = "Error"}.sum() > 0',
    "ServiceConnectorHubErrors[1m].count() > 1 && ServiceConnectorHubErrors[1m].mean() > 0.5",
    'FileSystemReadRequestsBySize[5m]{size = "0B_to_8KiB"}.percentile(.50)',
    "my_app.success_rate[24h].grouping().max() != 1",
]

INVALID = [
    "CpuUtilization.mean() > 80",  # no interval
    "CpuUtilization[0m].mean() > 80",
    "CpuUtilization[61m].mean() > 80",
    "CpuUtilization[25h].mean() > 80",
    "CpuUtilization[2d].mean() > 80",
    "CpuUtilization[1m] > 80",  # no statistic
    "CpuUtilization[1m].mean > 80",
    "CpuUtilization[1m].median() > 80",
    "CpuUtilization[1m].mean().max() > 80",  # two statistics
    "CpuUtilization[1m].percentile(1.2) > 80",
    "CpuUtilization[1m].percentile(0) > 80",
    "CpuUtilization[1m].absent() > 1",
    "CpuUtilization[1m]{a = b}.mean() > 80",  # unquoted value
    'CpuUtilization[1m]{a = "b" || c = "d"}.mean()',
    'CpuUtilization[1m]{a = "b}.mean() > 80',  # unterminated string
    "CpuUtilization[1m].mean() >> 80",
    "CpuUtilization[1m].mean() in (80, 60)",
    "CpuUtilization[1m].mean() > 80 &&",
    "100 - CpuUtilization[1m].mean()",  # arithmetic: outside our subset
    "9Cpu[1m].mean() > 1",
    "",
]


@pytest.mark.parametrize("q", VALID)
def test_grammar_accepts_documented_queries(q):
    parse_query(q)


@pytest.mark.parametrize("q", INVALID)
def test_grammar_rejects_malformed_queries(q):
    with pytest.raises(UnprocessableError):
        parse_query(q)


def test_fuzzy_dimension_matching():
    d = parse_alarm('x[1m]{n =~ "ol8|inst-*"}.max() > 1').dimensions[0]
    assert d.matches("ol8") and d.matches("inst-2023") and not d.matches("ol7") and not d.matches(None)


@pytest.mark.parametrize(
    "x,text", [(100, "100"), (0.99, "0.99"), (1e-05, "0.00001"), (-2.5, "-2.5"), (1e6, "1000000")]
)
def test_numbers_render_without_exponents(x, text):
    assert render_number(x) == text


ENDPOINTS = ["churn", "fraud-v2"]
FUNCTIONS = [
    "inference-churn-stable",
    "inference-churn-canary",
    "inference-fraud-v2-stable",
    "inference-fraud-v2-canary",
    "authorizer",
    "registry",
    "drift",
    "guardian",
]


@pytest.fixture()
def rules():
    return default_rules(ENDPOINTS, FUNCTIONS)


def test_every_default_rule_renders_valid_mql_that_parses_back_to_the_rule(rules):
    assert rules
    for r in rules:
        a = parse_alarm(r.to_mql())
        assert a.metric == r.metric and a.interval == r.interval
        assert a.exact_dimensions() == dict(r.dimensions)
        assert a.statistic == r.statistic and a.percentile == r.percentile
        assert (a.predicate.op, a.predicate.value) == (r.operator, r.threshold)
        assert a.grouping == r.grouping


def test_every_rule_has_a_destination_severity_and_unique_name(rules):
    assert all(r.destinations for r in rules)
    assert all(r.severity in ("CRITICAL", "ERROR", "WARNING", "INFO") for r in rules)
    assert len({r.name for r in rules}) == len(rules)
    assert {r.kind for r in rules} == set(KINDS)


def test_default_rules_cover_the_issue(rules):
    by = {r.name: r for r in rules}
    lat = by["latency-p99-inference-churn-stable"]
    assert lat.to_mql() == (
        'FunctionExecutionDuration[5m]{resourceId = "local:fn:inference-churn-stable"}'
        ".percentile(0.99) > 1000"
    )
    assert (
        by["errors-registry"].to_mql()
        == 'FunctionResponseCount[5m]{resourceId = "local:fn:registry", responseType = "Error"}.sum() > 5'
    )
    assert by["drift-churn"].to_mql() == 'drift_detected[15m]{endpoint = "churn"}.max() >= 1'
    assert by["drift-churn"].actions == {"retrain": "churn"}
    assert by["confidence-fraud-v2-stable"].dimensions == {"endpoint": "fraud-v2", "variant": "stable"}
    canary = [r for r in rules if r.kind.startswith("canary")]
    assert len(canary) == 6 * len(ENDPOINTS)  # 6th: canary-unavailable (issue 13 D)
    for r in canary:
        assert set(r.actions) == {"rollback_canary"} and r.actions["rollback_canary"] in ENDPOINTS
        assert r.name.endswith("-" + r.actions["rollback_canary"]) and r.severity == "CRITICAL"
    assert all(not r.actions.get("rollback_canary") for r in rules if not r.kind.startswith("canary"))
    # the canary inference functions are watched by their canary rules, not twice
    assert "errors-inference-churn-canary" not in by and "canary-errors-churn" in by


def test_alarm_args_are_pulumi_oci_alarm_arguments(rules):
    import pulumi_oci

    params = inspect.signature(pulumi_oci.monitoring.AlarmArgs.__init__).parameters
    required = {n for n, p in params.items() if p.default is inspect.Parameter.empty and n != "__self__"}
    for r in rules:
        args = r.to_alarm_args("ocid1.compartment.oc1..c", "ocid1.onstopic.oc1..t")
        assert required <= set(args), required - set(args)
        assert set(args) <= set(params)
        pulumi_oci.monitoring.AlarmArgs(**args)  # the provider's own client-side checks
        assert args["destinations"] == ["ocid1.onstopic.oc1..t"]
        assert args["message_format"] == "ONS_OPTIMIZED" and args["resolution"] == "1m"
        assert args["query"] == r.to_mql() and args["namespace"] == r.namespace
        assert args["body"].splitlines()[-1] == r.machine_line()
        assert json.loads(r.machine_line().split(": ", 1)[1])["rule"] == r.name


def test_destinations_resolve_to_exactly_one_topic():
    r = AlarmRule("x", "mlops", "m", destinations=("ops", "guardian"))
    assert r.to_alarm_args("c", {"ops": "t1", "guardian": "t1"})["destinations"] == ["t1"]
    with pytest.raises(ConfigError, match="one Notifications topic"):
        r.to_alarm_args("c", {"ops": "t1", "guardian": "t2"})
    with pytest.raises(ConfigError, match="no topic for destination"):
        r.to_alarm_args("c", {"ops": "t1"})
    with pytest.raises(ConfigError, match="needs a destination"):
        r.to_alarm_args("c", None)
    with pytest.raises(ConfigError, match="at least one destination"):
        AlarmRule("x", "mlops", "m", destinations=())


def test_overrides_by_kind_then_by_name():
    rules = default_rules(
        ["churn"],
        [],
        {
            "latency-p99": {"threshold": 500, "pending_duration": "PT2M"},
            "latency-p99-inference-churn-stable": {"threshold": "250"},
            "canary-errors": {"enabled": False, "repeat_notification_duration": "PT30M"},
        },
    )
    by = {r.name: r for r in rules}
    assert by["latency-p99-inference-churn-stable"].threshold == 250.0
    assert by["latency-p99-inference-churn-stable"].pending_duration == "PT2M"
    assert by["canary-latency-p99-churn"].threshold == 1000
    assert by["canary-errors-churn"].is_enabled is False
    assert by["canary-errors-churn"].to_alarm_args("c", "t")["repeat_notification_duration"] == "PT30M"


@pytest.mark.parametrize(
    "overrides,needle",
    [
        ({"latency-p999": {"threshold": 1}}, "no alarm rule or kind"),
        ({"drift": {"metric": "other"}}, "cannot be overridden"),
        ({"drift": {"pending_duration": "PT2H"}}, "PT1M to PT1H"),
        ({"drift": {"pending_duration": "5 minutes"}}, "ISO 8601"),
        ({"drift": {"interval": "90m"}}, "1m-60m"),
        ({"drift": {"statistic": "percentile"}}, "percentile"),
        ({"drift": {"statistic": "median"}}, "statistic"),
        ({"drift": {"severity": "PANIC"}}, "severity"),
        ({"drift": {"operator": "=>"}}, "operator"),
        ({"drift": {"threshold": "high"}}, "number"),
        ({"drift": {"repeat_notification_duration": "P31D"}}, "P30D"),
        ({"drift": "loud"}, "mapping"),
    ],
)
def test_bad_overrides_fail_naming_the_key(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        default_rules(["churn"], [], overrides)


def test_statistic_override_to_mean_drops_the_percentile():
    r = default_rules(["churn"], [], {"latency-p99": {"statistic": "max"}})[0]
    assert r.to_mql().endswith(".max() > 1000")


def test_durations():
    assert [duration_seconds(x) for x in ("PT1M", "PT5M", "PT1H", "P1D", "P1DT2H", "PT90S")] == [
        60,
        300,
        3600,
        86400,
        93600,
        90,
    ]
    for bad in ("P", "PT", "5m", "PT5", "P1DT"):
        with pytest.raises(UnprocessableError):
            duration_seconds(bad)


def test_rules_for_settings_use_the_stack(tmp_path):
    settings = settings_from_config(
        {
            "mlops:endpoints": [{"name": "churn", "model": "churn"}],
            "mlops:monitoring": {"namespace": "mlops_dev", "alarms": {"drift": {"pending_duration": "PT3M"}}},
        },
        stack="dev",
        project_dir=tmp_path,
    )
    rules = {r.name: r for r in rules_for_settings(settings)}
    assert rules["drift-churn"].namespace == "mlops_dev" and rules["drift-churn"].pending_duration == "PT3M"
    assert {"errors-authorizer", "errors-registry", "errors-drift", "errors-guardian"} <= set(rules)
    assert rules["errors-authorizer"].namespace == "oci_faas"


def test_rule_validation():
    with pytest.raises(ConfigError, match="namespace"):
        AlarmRule("x", "ml-ops", "m")
    with pytest.raises(ConfigError, match="not allowed"):
        AlarmRule("bad name", "mlops", "m")
    with pytest.raises(ConfigError, match="only for statistic"):
        AlarmRule("x", "mlops", "m", percentile=0.5)
    r = AlarmRule("x", "mlops", "m", dimensions={"k": 'a"b'}, statistic="rate", operator="!=", threshold=0)
    assert r.to_mql() == 'm[5m]{k = "a\\"b"}.rate() != 0'
    assert parse_alarm(r.to_mql()).exact_dimensions() == {"k": 'a"b'}
