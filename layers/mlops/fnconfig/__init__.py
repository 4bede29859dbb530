"""Each function's typed config: one frozen dataclass per function, written to and read from its env vars.

One module per function (``authorizer``, ``registry``, ``inference``, ``drift``, ``guardian``) on the
shared codec and common fields (``base``), so a function imports only its own config; this package
module itself imports nothing.

A function's config map (OCI Functions ``config``, env vars in the container) is built by
``mlops.blueprint.functions`` as ``XConfig(...).to_env()`` from the stack settings, and read back at
import by ``functions/<name>/func.py`` as ``XConfig.from_env(os.environ)``. The defaults of a value that
is absent live here, once, on the dataclass field; the env var names (``mlops.envvars``) are a contract
with deployed stacks. A field names its variable and codec in its metadata (``env_field``); a list travels as
one comma-separated variable; the store's location is a nested ``StoreConfig`` (``MLOPS_STORE_*``).

``from_env(environ, **explicit)`` resolves each field as AWS Lambda Powertools does: an explicit argument
that is not None, else the environment's value (empty counts as unset), else the field's default. A bad
value is a ``ConfigError`` naming the variable and the value (``function config MLOPS_AUTH_TTL_S: 'abc'
is not a number``), never a bare ``ValueError``.

This package must stay cheap to import and free of ``mlops.settings`` and ``mlops.blueprint``: the
authorizer's cold start imports it.
"""
