"""decide_action(): what the guardian does for each decision under each policy, and the audit reason."""

from __future__ import annotations

import json

import pytest
from mlops.ab import ABPolicy, analyze, decide_action
from mlops.errors import ConfigError

from .factory import Experiment


@pytest.fixture(scope="module")
def reports():
    def run(mde=0.02, **kw):
        kw.setdefault("n_requests", 8000)
        weight = kw.setdefault("weight_bp", 3000)
        return analyze(
            Experiment(**kw).records(), weight_bp=weight, endpoint="churn", mde=mde, min_samples=200
        )

    return {
        "canary_wins": run(acc_stable=0.80, acc_canary=0.88, seed=1),
        "stable_wins": run(acc_stable=0.85, acc_canary=0.75, seed=2),
        "srm_alarm": run(n_principals=2000, acc_canary=0.9, drop_canary_principals=0.4, seed=4),
        "continue": analyze(Experiment(n_requests=300, seed=3).records(), weight_bp=2000, endpoint="churn"),
        "no_difference": run(
            mde=0.05,
            n_requests=8000,
            n_principals=None,
            weight_bp=5000,
            acc_stable=0.8,
            acc_canary=0.8,
            seed=12,
        ),
    }


def test_the_fixture_reaches_every_decision(reports):
    assert {k: r.decision for k, r in reports.items()} == {k: k for k in reports}


def test_default_policy_acts_on_nothing_but_alarms_on_srm(reports):
    acts = {k: decide_action(r) for k, r in reports.items()}
    assert acts["canary_wins"].kind == "notify" and not acts["canary_wins"].automatic
    assert acts["stable_wins"].kind == "notify"
    assert acts["srm_alarm"].kind == "alarm" and not acts["srm_alarm"].automatic
    assert acts["continue"].kind == "none" and acts["no_difference"].kind == "none"


def test_automatic_promotion_and_rollback_carry_the_audit_reason(reports):
    policy = ABPolicy(auto_promote=True, auto_rollback=True)
    promote = decide_action(reports["canary_wins"], policy)
    assert promote.kind == "promote" and promote.automatic and promote.challenger == "canary"
    assert promote.reason.startswith("A/B churn: canary v4 beats stable v3")
    assert "always-valid CI" in promote.reason and "auto_promote" in promote.reason
    assert promote.versions == {"stable": [3], "canary": [4]}
    assert promote.evidence["comparison"]["ci_low"] > 0
    json.dumps(promote.to_dict(), allow_nan=False)
    rollback = decide_action(reports["stable_wins"], policy)
    assert rollback.kind == "rollback" and rollback.automatic and "auto_rollback" in rollback.reason
    # A winner behind an SRM is never promoted, whatever the policy.
    assert decide_action(reports["srm_alarm"], policy).kind == "alarm"


def test_srm_and_no_difference_follow_their_settings(reports):
    assert decide_action(reports["srm_alarm"], ABPolicy(on_srm="rollback")).kind == "rollback"
    assert decide_action(reports["srm_alarm"], ABPolicy(on_srm="none")).kind == "none"
    nd = reports["no_difference"]
    assert decide_action(nd, ABPolicy(on_no_difference="promote")).kind == "promote"
    assert decide_action(nd, ABPolicy(on_no_difference="rollback")).kind == "rollback"
    act = decide_action(nd, ABPolicy(on_no_difference="notify"))
    assert act.kind == "notify" and not act.automatic and "no meaningful difference" in act.reason


def test_policy_from_settings_validates_keys_and_values():
    p = ABPolicy.from_dict({"auto_promote": "true", "on_srm": "rollback"})
    assert p.auto_promote is True and p.on_srm == "rollback" and p.to_dict()["auto_rollback"] is False
    for bad in (
        {"auto_promot": True},
        {"on_srm": "panic"},
        {"on_no_difference": "maybe"},
        {"auto_rollback": "yes"},
    ):
        with pytest.raises(ConfigError):
            ABPolicy.from_dict(bad)
