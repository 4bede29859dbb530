"""A recursive-descent parser and renderer for the subset of OCI's Monitoring Query Language we use.

Grammar, after the MQL reference (docs.oracle.com/iaas/Content/Monitoring/Reference/mql.htm:
"metric[interval]{dimensionname="dimensionvalue"}.groupingfunction.statistic", comparison forms
"... statistic operator value" and "... statistic operator (value1, value2)", absence alarms
"... .absent()", joins with ``&&`` / ``||``; intervals 1m-60m, 1h-24h, 1d; predicate operators
``> >= == != < <=`` and ``in`` / ``not in``; fuzzy dimension matching with ``=~``, ``|`` and ``*``)::

    query     := alarm (("&&" | "||") alarm)*
    alarm     := metric "[" interval "]" [dims] ("." call)+ [predicate]
    metric    := letter (letter | digit | "." | "_" | "-" | "$")*
    interval  := 1..60 "m" | 1..24 "h" | "1d"
    dims      := "{" dim ("," dim)* "}"
    dim       := key ("=" | "=~") string
    call      := "grouping()" | "groupBy(" key ("," key)* ")" | statistic
    statistic := ("mean" | "avg" | "sum" | "count" | "min" | "max" | "first" | "last" | "rate"
                  | "increment") "()" | "percentile(" p ")" (0 < p < 1) | "absent(" [period] ")"
    predicate := (">" | ">=" | "<" | "<=" | "==" | "!=") number | ["not"] "in" "(" number "," number ")"

An alarm has exactly one statistic; ``absent()`` takes no predicate. Nested queries and arithmetic
are not part of this subset (the parser rejects them, so a rule can never render one by accident).
The local evaluator interprets the parsed form of each rule's rendered query, so the text deployed
to OCI and the condition evaluated on a laptop are one and the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from mlops.errors import UnprocessableError

STATISTICS = (
    "mean",
    "avg",
    "sum",
    "count",
    "min",
    "max",
    "first",
    "last",
    "rate",
    "increment",
    "percentile",
    "absent",
)
COMPARATORS = (">=", "<=", "==", "!=", ">", "<")
_INTERVAL = re.compile(r"^(?:([1-9]|[1-5][0-9]|60)m|([1-9]|1[0-9]|2[0-4])h|(1)d)\Z")
_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9._$-]*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_PERIOD = re.compile(r"\d+[mhd]?")


def interval_seconds(interval: str) -> int:
    """Seconds of an MQL interval ("1m".."60m", "1h".."24h", "1d")."""
    m = _INTERVAL.match(interval or "")
    if not m:
        raise UnprocessableError(
            f"interval {interval!r} is not one of 1m-60m, 1h-24h, 1d", code="invalid_mql"
        )
    minutes, hours, days = m.groups()
    if minutes:
        return int(minutes) * 60
    if hours:
        return int(hours) * 3600
    return 86400


def render_string(value: str) -> str:
    """A double-quoted MQL string literal."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_number(x: float) -> str:
    """A plain decimal (no exponent), integral values without a fraction: 100, 0.99, -2.5."""
    x = float(x)
    if x != x or x in (float("inf"), float("-inf")):
        raise UnprocessableError(f"threshold {x!r} is not a finite number", code="invalid_mql")
    if x.is_integer():
        return str(int(x))
    s = format(Decimal(repr(x)), "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


@dataclass(frozen=True)
class Dimension:
    key: str
    op: str  # "=" or "=~"
    value: str

    def matches(self, actual: str | None) -> bool:
        """Exact match for ``=``; for ``=~`` any of the ``|`` alternatives, ``*`` matching any run."""
        if actual is None:
            return False
        if self.op == "=":
            return actual == self.value
        for alt in self.value.split("|"):
            rx = "^" + ".*".join(re.escape(part) for part in alt.split("*")) + "$"
            if re.match(rx, actual):
                return True
        return False


@dataclass(frozen=True)
class Predicate:
    op: str  # one of COMPARATORS, or "in" / "not in"
    value: float | None = None
    low: float | None = None
    high: float | None = None

    def holds(self, x: float) -> bool:
        if self.op in ("in", "not in"):
            low, high = self._range()
            return (low <= x <= high) == (self.op == "in")
        v = self._value()
        return {">": x > v, ">=": x >= v, "<": x < v, "<=": x <= v, "==": x == v, "!=": x != v}[self.op]

    def render(self) -> str:
        if self.op in ("in", "not in"):
            low, high = self._range()
            return f"{self.op} ({render_number(low)}, {render_number(high)})"
        return f"{self.op} {render_number(self._value())}"

    def _range(self) -> tuple[float, float]:
        if self.low is None or self.high is None:
            raise ValueError(f"the predicate {self.op!r} needs low and high")
        return self.low, self.high

    def _value(self) -> float:
        if self.value is None:
            raise ValueError(f"the predicate {self.op!r} needs a value")
        return self.value


@dataclass(frozen=True)
class Alarm:
    """One parsed alarm query (no joins)."""

    metric: str
    interval: str
    dimensions: tuple[Dimension, ...] = ()
    statistic: str = "mean"
    stat_arg: str | None = None  # percentile's p, absent's period (as written)
    grouping: bool = False  # .grouping(): aggregate all streams into one
    group_by: tuple[str, ...] = ()  # .groupBy(k, ...): aggregate per value of these keys
    predicate: Predicate | None = None
    calls: tuple[str, ...] = field(default=(), compare=False)  # call names in written order

    @property
    def interval_s(self) -> int:
        return interval_seconds(self.interval)

    @property
    def percentile(self) -> float | None:
        return float(self.stat_arg) if self.statistic == "percentile" and self.stat_arg is not None else None

    def exact_dimensions(self) -> dict[str, str]:
        return {d.key: d.value for d in self.dimensions if d.op == "="}


@dataclass(frozen=True)
class Query:
    """A full query: alarms joined by ``&&`` / ``||`` (``ops[i]`` joins ``alarms[i]`` and ``alarms[i+1]``)."""

    alarms: tuple[Alarm, ...]
    ops: tuple[str, ...] = ()


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def fail(self, what: str) -> UnprocessableError:
        near = self.s[self.i : self.i + 20] or "end of query"
        return UnprocessableError(
            f"invalid MQL at offset {self.i} (near {near!r}): {what}; query: {self.s}", code="invalid_mql"
        )

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def peek(self, tok: str) -> bool:
        self.ws()
        return self.s.startswith(tok, self.i)

    def eat(self, tok: str) -> None:
        if not self.peek(tok):
            raise self.fail(f"expected {tok!r}")
        self.i += len(tok)

    def match(self, rx: re.Pattern, what: str) -> str:
        self.ws()
        m = rx.match(self.s, self.i)
        if not m or not m.group(0):
            raise self.fail(f"expected {what}")
        self.i = m.end()
        return m.group(0)

    def key(self) -> str:
        self.ws()
        j = self.i
        while j < len(self.s) and 33 <= ord(self.s[j]) <= 126 and self.s[j] not in '=~,{}()"!':
            j += 1
        if j == self.i:
            raise self.fail("expected a dimension name")
        k, self.i = self.s[self.i : j], j
        return k

    def string(self) -> str:
        self.ws()
        if not self.s.startswith('"', self.i):
            raise self.fail("expected a double-quoted value")
        j, out = self.i + 1, []
        while j < len(self.s):
            ch = self.s[j]
            if ch == "\\" and j + 1 < len(self.s):
                out.append(self.s[j + 1])
                j += 2
                continue
            if ch == '"':
                self.i = j + 1
                return "".join(out)
            out.append(ch)
            j += 1
        raise self.fail("unterminated string")

    def number(self) -> float:
        return float(self.match(_NUMBER, "a number"))

    def query(self) -> Query:
        alarms, ops = [self.alarm()], []
        while True:
            self.ws()
            if self.peek("&&") or self.peek("||"):
                ops.append(self.s[self.i : self.i + 2])
                self.i += 2
                alarms.append(self.alarm())
                continue
            break
        self.ws()
        if self.i != len(self.s):
            raise self.fail("unexpected text after the query")
        return Query(tuple(alarms), tuple(ops))

    def alarm(self) -> Alarm:
        metric = self.match(_METRIC, "a metric name")
        interval = self.interval()
        dims = self.dimensions() if self.peek("{") else []
        if not self.peek("."):
            raise self.fail("expected '.' and a statistic")
        statistic, stat_arg, grouping, group_by, calls = self.calls()
        self.ws()
        pred = self.predicate()
        if statistic == "absent" and pred is not None:
            raise self.fail("absent() takes no predicate")
        return Alarm(
            metric, interval, tuple(dims), statistic, stat_arg, grouping, group_by, pred, tuple(calls)
        )

    def interval(self) -> str:
        """``[5m]``: the text between the brackets, checked against the allowed intervals."""
        self.eat("[")
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in "]":
            self.i += 1
        interval = self.s[start : self.i].strip()
        if not _INTERVAL.match(interval):
            self.i = start
            raise self.fail(f"interval {interval!r} is not one of 1m-60m, 1h-24h, 1d")
        self.eat("]")
        return interval

    def dimensions(self) -> list[Dimension]:
        """``{k = "v", k2 =~ "a|b*"}``."""
        dims: list[Dimension] = []
        self.eat("{")
        while True:
            k = self.key()
            self.ws()
            if self.peek("=~"):
                op = "=~"
            elif self.peek("="):
                op = "="
            else:
                raise self.fail("expected '=' or '=~'")
            self.i += len(op)
            dims.append(Dimension(k, op, self.string()))
            if self.peek(","):
                self.eat(",")
                continue
            self.eat("}")
            return dims

    def calls(self) -> tuple[str, str | None, bool, tuple[str, ...], list[str]]:
        """The ``.name(...)`` chain: (statistic, its argument, grouping, groupBy keys, call names in order)."""
        calls: list[str] = []
        statistic: str | None = None
        stat_arg: str | None = None
        grouping = False
        group_by: tuple[str, ...] = ()
        while self.peek("."):
            self.eat(".")
            name = self.match(re.compile(r"[A-Za-z]+"), "a function name")
            calls.append(name)
            self.eat("(")
            if name == "grouping":
                grouping = True
            elif name == "groupBy":
                keys = [self.key()]
                while self.peek(","):
                    self.eat(",")
                    keys.append(self.key())
                group_by = tuple(keys)
            elif name in STATISTICS:
                if statistic is not None:
                    raise self.fail(f"a second statistic {name}() (one per alarm query)")
                statistic = name
                stat_arg = self.stat_arg(name)
            else:
                raise self.fail(f"unknown function {name}()")
            self.eat(")")
        if statistic is None:
            raise self.fail("the query has no statistic")
        return statistic, stat_arg, grouping, group_by, calls

    def stat_arg(self, name: str) -> str | None:
        """The argument of a statistic call: percentile's p (required), absent's period (optional)."""
        if name == "percentile":
            arg = self.match(_NUMBER, "a percentile between 0 and 1")
            if not 0 < float(arg) < 1:
                raise self.fail(f"percentile {arg} must be between 0 and 1")
            return arg
        if name == "absent" and not self.peek(")"):
            return self.match(_PERIOD, "an absence period like 20, 2h or 1d")
        return None

    def predicate(self) -> Predicate | None:
        """``> 1``, ``in (0, 1)``, ``not in (0, 1)`` or nothing."""
        for op in COMPARATORS:
            if self.peek(op):
                self.i += len(op)
                return Predicate(op, value=self.number())
        neg = False
        if self.peek("not"):
            self.eat("not")
            neg = True
        if self.peek("in"):
            self.eat("in")
            self.eat("(")
            lo = self.number()
            self.eat(",")
            hi = self.number()
            self.eat(")")
            if lo > hi:
                raise self.fail("the range must be (low, high)")
            return Predicate("not in" if neg else "in", low=lo, high=hi)
        if neg:
            raise self.fail("expected 'in' after 'not'")
        return None


def parse_query(text: str) -> Query:
    """Parse a full MQL query (alarms joined by ``&&``/``||``); a 422 names the offset of any error."""
    if not isinstance(text, str) or not text.strip():
        raise UnprocessableError("an MQL query must be a non-empty string", code="invalid_mql")
    return _Parser(text).query()


def parse_alarm(text: str) -> Alarm:
    """Parse a single alarm query (no joins)."""
    q = parse_query(text)
    if len(q.alarms) != 1:
        raise UnprocessableError(
            f"expected a single alarm query, got {len(q.alarms)} joined: {text}", code="invalid_mql"
        )
    return q.alarms[0]


def render_alarm(
    metric: str,
    interval: str,
    dimensions: dict[str, str] | None,
    statistic: str,
    *,
    percentile: float | None = None,
    grouping: bool = False,
    predicate: Predicate | None = None,
) -> str:
    """The canonical text of one alarm query: ``name[5m]{k = "v"}.grouping().mean() > 1``."""
    interval_seconds(interval)
    out = [metric, f"[{interval}]"]
    if dimensions:
        out.append("{" + ", ".join(f"{k} = {render_string(v)}" for k, v in sorted(dimensions.items())) + "}")
    if grouping:
        out.append(".grouping()")
    if statistic == "percentile":
        if percentile is None:
            raise UnprocessableError("the percentile statistic needs a percentile", code="invalid_mql")
        out.append(f".percentile({render_number(percentile)})")
    else:
        out.append(f".{statistic}()")
    text = "".join(out)
    if predicate is not None:
        text += " " + predicate.render()
    return text
