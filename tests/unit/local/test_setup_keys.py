"""The local dev key carries every scope, including ones added after it was made (mlops:explain, issue 18)."""

from __future__ import annotations

import json

from mlops.local.setup import LOCAL_KEY, local_api_key
from mlops.names import ALL_SCOPES, EXPLAIN_SCOPE
from mlops.secrets import FileSecrets
from mlops.serving.apikeys import KeyRing
from mlops.settings import load_stack

from tests.projects import make_project


def _ring(settings) -> tuple[KeyRing, str]:
    doc = FileSecrets(settings.path(settings.local.secrets_file))._load()
    raw = doc[settings.auth.api_keys_secret]
    return KeyRing.from_json(raw if isinstance(raw, str) else json.dumps(raw)), doc[LOCAL_KEY]


def test_a_dev_key_made_before_the_explain_scope_gets_it_and_keeps_its_token(tmp_path):
    settings = load_stack("e2e", make_project(tmp_path / "project"))
    token = local_api_key(settings)
    ring, _ = _ring(settings)
    rec = ring.verify(f"Bearer {token}")
    assert rec is not None and set(rec.scopes) == {*ALL_SCOPES, settings.auth.pin_scope}
    # what a stack set up before issue 18 holds: the same key without mlops:explain
    path = settings.path(settings.local.secrets_file)

    def drop(doc: dict) -> None:
        old = KeyRing.from_json(doc[settings.auth.api_keys_secret])
        r = old.by_id[rec.id]
        old.by_id[rec.id] = type(r)(
            **{**r.__dict__, "scopes": tuple(s for s in r.scopes if s != EXPLAIN_SCOPE)}
        )
        doc[settings.auth.api_keys_secret] = old.to_json()

    FileSecrets(path).update(drop)
    assert EXPLAIN_SCOPE not in _ring(settings)[0].verify(f"Bearer {token}").scopes
    assert local_api_key(settings) == token  # the same key ...
    again = _ring(settings)[0].verify(f"Bearer {token}")
    assert again is not None and EXPLAIN_SCOPE in again.scopes  # ... now with the new scope
    assert local_api_key(settings) == token
