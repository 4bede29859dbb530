"""The compiled tree scorer is exact, stored without pickle, verified, and lets serving skip sklearn."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from mlops.registry import Registry
from mlops.serving.compiled import CompiledTrees, compile_model, verified
from mlops.storage import FileStore
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression

RNG = np.random.default_rng(0)
X = RNG.normal(size=(1500, 12))
Y2 = (X[:, 0] + X[:, 1] > 0).astype(int)
Y3 = np.digitize(X[:, 0], [-0.5, 0.5])
XT = RNG.normal(size=(1000, 12)) * 1.7  # wider than training: every branch gets used


@pytest.mark.parametrize(
    "model,y",
    [
        (GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0), Y2),
        (GradientBoostingClassifier(n_estimators=20, random_state=0), Y3),
        (GradientBoostingClassifier(n_estimators=20, random_state=0), np.where(Y2 == 1, "yes", "no")),
        (GradientBoostingRegressor(n_estimators=30, random_state=0), X[:, 0] * 2.0),
        (RandomForestClassifier(n_estimators=15, random_state=0), Y3),
        (ExtraTreesClassifier(n_estimators=10, random_state=0), Y2),
    ],
)
def test_compiled_scorer_equals_the_model_after_an_npz_round_trip(model, y):
    model.fit(X, y)
    compiled = CompiledTrees.from_npz(compile_model(model).to_npz())
    if compiled.has_proba:
        np.testing.assert_allclose(compiled.predict_proba(XT), model.predict_proba(XT), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        compiled.predict(XT), model.predict(XT)
    ) if compiled.has_proba else np.testing.assert_allclose(
        compiled.predict(XT), model.predict(XT), rtol=0, atol=1e-12
    )


def test_unsupported_models_and_wrong_scorers_are_refused():
    assert compile_model(LogisticRegression().fit(X, Y2)) is None
    a = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, Y2)
    b = GradientBoostingClassifier(n_estimators=5, random_state=1, subsample=0.5).fit(X, Y2)
    assert verified(compile_model(a), a, XT[:50]) is not None
    assert verified(compile_model(b), a, XT[:50]) is None


def test_npz_is_loaded_without_pickle():
    blob = compile_model(GradientBoostingClassifier(n_estimators=3).fit(X, Y2)).to_npz()
    with pytest.raises(ValueError):
        CompiledTrees.from_npz(b"not an npz" + blob[:50])


def test_registry_stores_it_and_serving_never_imports_sklearn(tmp_path):
    store = FileStore(str(tmp_path / "s"))
    reg = Registry(store, actor="alice")
    model = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X, Y2)
    rec = reg.register_version("m", model, X, Y2, feature_names=[f"f{i}" for i in range(12)])
    assert rec["compiled"]["format"] == "mlops-trees/1"
    reg.request_approval("m", rec["version"])
    reg.with_actor("bob").decide_approval("m", rec["version"], "approve")
    reg.deployments().set_stable("ep", "m", rec["version"])
    expected = model.predict_proba(X[:3])[:, 1].round(6).tolist()
    code = textwrap.dedent(f"""
        import json, sys
        from mlops.http import Request
        from mlops.registry import Registry
        from mlops.serving.inference import InferenceService
        from mlops.serving.source import RegistrySource
        from mlops.storage import FileStore
        store = FileStore({str(tmp_path / "s")!r})
        src = RegistrySource(Registry(store), store, endpoint="ep", model="m", variant="stable", alias="production")
        svc = InferenceService(src, endpoint="ep", model_name="m", variant="stable", emit=lambda r: None,
                               start_refresher=False, log=lambda m: None)
        body = json.dumps({{"instances": {X[:3].tolist()!r}}}).encode()
        out = svc.predict(Request.from_url("POST", "/v1/endpoints/ep/predict", {{}}, body)).body
        print(json.dumps({{"p": [p[1] for p in out["probabilities"]], "sklearn": "sklearn" in sys.modules,
                          "scorer": type(svc.current.model).__name__}}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert out == {"p": expected, "sklearn": False, "scorer": "CompiledTrees"}


def test_a_tampered_compiled_scorer_is_refused(tmp_path):
    from mlops.errors import IntegrityError

    store = FileStore(str(tmp_path / "s"))
    reg = Registry(store, actor="alice")
    rec = reg.register_version("m", GradientBoostingClassifier(n_estimators=3).fit(X, Y2), X, Y2)
    key = rec["compiled"]["key"]
    store.put(key, store.get(key).data[:-1] + b"x")
    with pytest.raises(IntegrityError):
        reg.get_compiled("m", rec["version"])
    assert reg.audit.history(action="artifact.verify_failed", limit=1)
