"""Seeded, table-driven bad inputs for the fuzz tier (issue 13 C): HTTP requests for every route, argv for every
CLI command. No hypothesis (not a dependency): a fixed ``random.Random`` seed picks from tables, so a failing case
is the same on every run and its id names it."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from urllib.parse import quote

SEED = 13
DEEP = "[" * 5000 + "]" * 5000

# Raw JSON texts for one field: numbers JSON cannot carry, nesting, types a field does not take, odd strings.
RAW_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1" * 25,
    "1" * 5000,
    "-" + "9" * 300,
    "1e-400",
    DEEP,
    '{"a":' * 65 + "1" + "}" * 65,
    "[" * 65 + "]" * 65,
    '"\\ud800"',
    '"\\udfff x"',
    '"\\ud83d\\ude00"',
    "null",
    "true",
    "false",
    "-1",
    "0",
    "1.5",
    "9223372036854775808",
    "[]",
    "{}",
    "[1,{}]",
    '[1,2,"x",null]',
    '{"a":{}}',
    '""',
    '" "',
    '"x\\ny"',
    '"production\\n"',
    '"../../etc/passwd"',
    '"名前"',
    '"😀"',
    '"a b"',
    '"' + "x" * 20000 + '"',
    '"\\u0000"',
    '"-1"',
    '"1e400"',
    '"inf"',
    '"NaN"',
    '["production", 1]',
    '[{"name": "a"}]',
    '{"inputs": []}',
]

# Whole bodies.
RAW_BODIES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b'"x"',
    b"1",
    b"true",
    b"\xff\xfe{}",
    b"\xef\xbb\xbf{}",
    b"{",
    b'{"a":}',
    b"{,}",
    DEEP.encode(),
    ('{"a":' * 5000 + "1" + "}" * 5000).encode(),
    b"[" * 5000,
    b'{"x": "\\ud800"}',
    b'{"name": "\xc3\x28"}',
    b"\x00",
    b'{"a":1,"a":2}',
    b'"\\"' * 20000,
    b"NaN",
    b"1e400",
    b"1" * 5000,
    b"<xml/>",
    b"a=1&b=2",
    b"\x80\x04\x95",
    b"[" + b"1," * 100000 + b"1]",
]

CONTENT_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-8",
    "application/octet-stream",
    "garbage",
    "application/json, text/plain",
    "text/json",
    "application/problem+json",
    "",
]

# Values of query parameters and path segments (already URL-safe or percent-encoded).
QUERY_VALUES = [
    "inf",
    "-inf",
    "1e400",
    "1e18",
    quote("0001-01-01T00:00:00+14:00"),
    quote("9999-12-31T23:59:59-14:00"),
    "nan",
    "",
    "abc",
    "-1",
    "0",
    "99999999999999999999999",
    "2026-13-45",
    "%00",
    "%0A",
    "%FF",
    quote("名前"),
    "x" * 3000,
    quote("2026-11-22T17:00:00Z"),
    "1795000000",
    quote("+14:00"),
    "1e-400",
    "Infinity",
    quote("10000-01-01T00:00:00Z"),
    quote("1969-12-31T23:59:59Z"),
]
PATH_VALUES = [
    "%00",
    "%0A",
    "churn%0A",
    quote("名前"),
    "..",
    "...",
    "a" * 300,
    "%2F",
    "-x",
    ".x",
    "churn%20x",
    "%FF",
    "churn%0D%0AX-Evil:%201",
    "latest",
    "0",
    "-1",
    "99999999999999999999",
    "1e400",
    "v1",
]

# What a CLI argument takes: text, a number, a time, a file (the names of files the fixture creates).
BAD_TEXT = ["", " ", "名前", "😀", "a b", "x\ny", "../../etc/passwd", "-", "x" * 5000, "churn\n", "\t", "%00"]
BAD_NUMBERS = ["inf", "-inf", "nan", "1e400", "-1", "0", "abc", "1e18", "99999999999999999999999", "", "1.5"]
BAD_TIMES = [
    "inf",
    "-inf",
    "1e400",
    "1e18",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "nan",
    "",
    "abc",
    "-1",
    "2026-13-45",
    "99999d",
    "1e400s",
]
BAD_FILES = [
    "empty.joblib",
    "garbage.joblib",
    "text.joblib",
    "link.joblib",
    "dict.joblib",
    "garbage.npy",
    "text.npy",
    "empty.csv",
    "latin1.csv",
    "garbage.csv",
    "dir",
    "missing.joblib",
    "garbage.parquet",
    "deep.json",
    "garbage.yaml",
]


@dataclass
class HttpCase:
    id: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _body_with(base: dict, key: str, raw: str) -> bytes:
    marker = "\u0001FUZZ\u0001"
    doc = dict(base)
    doc[key] = marker
    return json.dumps(doc).replace(json.dumps(marker), raw).encode()


def http_cases(n: int = 780, *, endpoint: str = "churn", model: str = "churn") -> list[HttpCase]:
    """``n`` requests spread over every route: field mutations, whole bodies, content types, queries, paths."""
    rng = random.Random(SEED)
    ep, m = endpoint, model
    row = [0.0] * 20
    body_routes: list[tuple[str, str, dict]] = [
        ("POST", f"/v1/endpoints/{ep}/predict", {"instances": [row]}),
        ("POST", f"/v1/endpoints/{ep}/feedback", {"prediction_id": "0" * 32, "actual": 1}),
        (
            "POST",
            "/v1/models",
            {
                "name": "fuzz-model",
                "description": "d",
                "tags": {"owner": "x"},
                "required_metadata": [],
                "governed_aliases": ["production"],
            },
        ),
        ("PUT", f"/v1/models/{m}", {"description": "d", "tags": {"owner": "x"}}),
        (
            "POST",
            f"/v1/models/{m}/versions",
            {
                "artifact_sha256": "0" * 64,
                "signature": {"inputs": [{"name": "a"}], "classes": [0, 1]},
                "params": {"a": 1},
                "metrics": {"auc": 0.5},
            },
        ),
        ("POST", f"/v1/models/{m}/versions/1/approval", {"action": "request", "comment": "c"}),
        ("PUT", f"/v1/models/{m}/aliases/fuzz", {"version": 1, "reason": "r"}),
        ("POST", f"/v1/endpoints/{ep}/deployment", {"action": "set_weight", "weight_bp": 0, "reason": "r"}),
    ]
    get_routes: list[tuple[str, dict[str, str]]] = [
        (
            "/v1/audit/entries",
            {"since": "", "until": "", "limit": "", "before_seq": "", "model": m, "action": ""},
        ),
        ("/v1/audit/alias-at", {"model": m, "alias": "production", "at": ""}),
        ("/v1/audit/deployment-at", {"endpoint": ep, "at": ""}),
        (f"/v1/endpoints/{ep}/deployment", {"at": ""}),
        (f"/v1/models/{m}/aliases/production", {"at": ""}),
        ("/v1/audit/verify", {}),
        ("/v1/models", {}),
        (f"/v1/models/{m}/versions", {}),
        ("/v1/health", {}),
    ]
    path_templates = [
        ("GET", "/v1/models/{x}"),
        ("GET", "/v1/models/{x}/versions"),
        ("GET", f"/v1/models/{m}/versions/{{x}}"),
        ("GET", f"/v1/models/{m}/versions/{{x}}/profile"),
        ("GET", f"/v1/models/{m}/versions/{{x}}/approval"),
        ("GET", f"/v1/models/{m}/aliases/{{x}}"),
        ("DELETE", f"/v1/models/{m}/aliases/{{x}}"),
        ("GET", "/v1/models/{x}/aliases"),
        ("GET", "/v1/endpoints/{x}/deployment"),
        ("POST", "/v1/endpoints/{x}/predict"),
        ("GET", "/v1/audit/{x}"),
        ("PUT", "/v1/models/{x}"),
    ]
    cases: list[HttpCase] = []
    # 1. every field of every body route, with raw values (the bulk)
    for method, path, base in body_routes:
        for key in [*base, "unknown_field"]:
            for raw in RAW_VALUES:
                cases.append(
                    HttpCase(f"{method} {path} {key}={raw[:24]!r}", method, path, _body_with(base, key, raw))
                )
    # 2. whole bodies and content types on every body route
    for method, path, base in body_routes:
        for body in RAW_BODIES:
            cases.append(HttpCase(f"{method} {path} body={body[:24]!r}", method, path, body))
        for ct in CONTENT_TYPES:
            cases.append(
                HttpCase(
                    f"{method} {path} content-type={ct!r}",
                    method,
                    path,
                    json.dumps(base).encode(),
                    {"Content-Type": ct} if ct else {},
                )
            )
    # 3. query parameters of every GET route
    for path, params in get_routes:
        for name in params or {"x": ""}:
            for value in QUERY_VALUES:
                query = {k: v for k, v in params.items() if v} | {name: value}
                cases.append(
                    HttpCase(
                        f"GET {path}?{name}={value[:24]}",
                        "GET",
                        f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}",
                    )
                )
    # 4. path segments
    for method, template in path_templates:
        for value in PATH_VALUES:
            body = b'{"instances": [[0]]}' if method in ("POST", "PUT") else None
            cases.append(
                HttpCase(f"{method} {template} x={value[:24]}", method, template.replace("{x}", value), body)
            )
    # every route keeps its mandatory cases (content types, the values); the rest is sampled
    must = [c for c in cases if "content-type=" in c.id or "body=b'[[[[" in c.id or "body=b''" in c.id]
    must_ids = {id(c) for c in must}
    rest = [c for c in cases if id(c) not in must_ids]
    rng.shuffle(rest)
    chosen = must + rest[: max(0, n - len(must))]
    return chosen[:n]
