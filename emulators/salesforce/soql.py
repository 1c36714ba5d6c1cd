"""A small hand-written SOQL subset: SELECT fields|COUNT() FROM one object [WHERE ...] [ORDER BY ...]
[LIMIT n] [OFFSET n]. Relationship paths (Account.Name), =, !=, <>, <, >, <=, >=, [NOT] IN (...), LIKE,
AND/OR/NOT, parentheses; string/number/true/false/null/date/datetime literals and TODAY, YESTERDAY,
LAST_N_DAYS:n. Errors use the real codes (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from .errors import ApiError
from .schema import NUMBER_TYPES, Field, SObject
from .sfids import to18
from .state import OrgState
from .values import parse_date, parse_dt

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<str>'(?:\\.|[^'\\])*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
""", re.X)
_KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc", "limit",
             "offset", "nulls", "first", "last", "true", "false", "null", "count", "includes", "excludes",
             "group", "having"}
_DATE_LITERALS = {"today", "yesterday", "tomorrow", "last_n_days", "next_n_days"}
_CUSTOM_HINT = ("If you are attempting to use a custom field, be sure to append the '__c' after the custom field "
                "name. Please reference your WSDL or the describe call for the appropriate names.")


@dataclass
class Tok:
    kind: str
    text: str
    pos: int  # 0-based offset in the query


@dataclass
class Query:
    sobject: SObject
    fields: list[list[Field]]  # each select item: chain of fields (lookups then the leaf)
    count: bool = False
    where: object = None
    order: list[tuple[list[Field], bool, bool]] = field(default_factory=list)  # (path, desc, nulls_first)
    limit: int | None = None
    offset: int = 0


class _Parser:
    def __init__(self, org: OrgState, text: str):
        self.org, self.text = org, text
        self.toks = self._lex(text)
        self.i = 0
        self.obj: SObject | None = None

    # ---- errors ----------------------------------------------------------------------------------
    def _echo(self, pos: int, msg: str) -> str:
        return f"\n{self.text}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{msg}"

    def malformed(self, tok: Tok | None) -> ApiError:
        if tok is None:
            return ApiError(400, "MALFORMED_QUERY", self._echo(len(self.text), "unexpected token: <EOF>"))
        if tok.pos == 0:
            return ApiError(400, "MALFORMED_QUERY", f"unexpected token: '{tok.text}'")
        return ApiError(400, "MALFORMED_QUERY", self._echo(tok.pos, f"unexpected token: '{tok.text}'"))

    def _lex(self, text: str) -> list[Tok]:
        out, pos = [], 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if not m:
                raise ApiError(400, "MALFORMED_QUERY", self._echo(pos, f"unexpected token: '{text[pos]}'"))
            if m.lastgroup != "ws":
                out.append(Tok(m.lastgroup, m.group(), pos))
            pos = m.end()
        return out

    # ---- token helpers ---------------------------------------------------------------------------
    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def kw(self, *words: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "ident" and t.text.lower() in words

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise self.malformed(None)
        self.i += 1
        return t

    def expect_kw(self, word: str) -> Tok:
        if not self.kw(word):
            raise self.malformed(self.peek())
        return self.take()

    def expect(self, text: str) -> Tok:
        t = self.peek()
        if t is None or t.text != text:
            raise self.malformed(t)
        return self.take()

    # ---- grammar ---------------------------------------------------------------------------------
    def parse(self) -> Query:
        if not self.toks:
            raise ApiError(400, "MALFORMED_QUERY", "SOQL statements cannot be empty or null")
        self.expect_kw("select")
        items, count = [], False
        if self.kw("count") and self.i + 1 < len(self.toks) and self.toks[self.i + 1].text == "(":
            self.take(), self.take()
            self.expect(")")
            count = True
        else:
            while True:
                t = self.take()
                if t.kind != "ident" or t.text.lower() in _KEYWORDS:
                    raise self.malformed(t)
                items.append(t)
                if self.peek() is not None and self.peek().text == ",":
                    self.take()
                    continue
                break
        self.expect_kw("from")
        t = self.take()
        obj = self.org.sobject(t.text) if t.kind == "ident" else None
        if obj is None:
            raise ApiError(400, "INVALID_TYPE", self._echo(t.pos, f"sObject type '{t.text}' is not supported. "
                           "If you are attempting to use a custom object, be sure to append the '__c' after the "
                           "entity name. Please reference your WSDL or the describe call for the appropriate names."))
        self.obj = obj
        q = Query(obj, [self.path(x) for x in items], count=count)
        if self.kw("where"):
            self.take()
            q.where = self.cond()
        if self.kw("order"):
            self.take()
            self.expect_kw("by")
            while True:
                path = self.path(self.take())
                desc = False
                if self.kw("asc", "desc"):
                    desc = self.take().text.lower() == "desc"
                nulls_first = not desc
                if self.kw("nulls"):
                    self.take()
                    nulls_first = self.take().text.lower() == "first"
                q.order.append((path, desc, nulls_first))
                if self.peek() is not None and self.peek().text == ",":
                    self.take()
                    continue
                break
        if self.kw("limit"):
            self.take()
            q.limit = self.integer()
        if self.kw("offset"):
            self.take()
            q.offset = self.integer()
        if self.peek() is not None:
            raise self.malformed(self.peek())
        return q

    def integer(self) -> int:
        t = self.take()
        if t.kind != "num" or not t.text.isdigit():
            raise self.malformed(t)
        return int(t.text)

    def path(self, tok: Tok) -> list[Field]:
        if tok.kind != "ident" or tok.text.lower() in _KEYWORDS:
            raise self.malformed(tok)
        obj, chain, parts = self.obj, [], tok.text.split(".")
        if len(parts) > 1 and parts[0].lower() == obj.name.lower():
            parts = parts[1:]
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            f = obj.field(part) if last else obj.relationship(part)
            if f is not None and not self.org.visible(obj.name, f):
                f = None  # hidden by field-level security
            if f is None:
                where = f"No such column '{part}' on entity '{obj.name}'. {_CUSTOM_HINT}" if last else \
                    f"Didn't understand relationship '{part}' in field path. {_CUSTOM_HINT}"
                raise ApiError(400, "INVALID_FIELD", self._echo(tok.pos, where))
            chain.append(f)
            if not last:
                obj = self.org.schema[f.reference_to[0]]
        return chain

    def cond(self):
        left = self.conj()
        while self.kw("or"):
            self.take()
            left = ("or", left, self.conj())
        return left

    def conj(self):
        left = self.unary()
        while self.kw("and"):
            self.take()
            left = ("and", left, self.unary())
        return left

    def unary(self):
        if self.kw("not"):
            self.take()
            return ("not", self.unary())
        t = self.peek()
        if t is not None and t.text == "(":
            self.take()
            inner = self.cond()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self):
        ftok = self.take()
        path = self.path(ftok)
        leaf = path[-1]
        negate = False
        if self.kw("not"):
            self.take()
            negate = True
            if not self.kw("in"):
                raise self.malformed(self.peek())
        if self.kw("in"):
            self.take()
            self.expect("(")
            values = []
            while True:
                values.append(self.literal(leaf))
                if self.peek() is not None and self.peek().text == ",":
                    self.take()
                    continue
                break
            self.expect(")")
            return ("in", path, values, negate)
        if self.kw("like"):
            self.take()
            t = self.take()
            if t.kind != "str":
                raise self.malformed(t)
            pattern = _unquote(t.text)
            rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
            return ("like", path, re.compile(f"^{rx}$", re.I | re.S))
        t = self.take()
        if t.kind != "op":
            raise self.malformed(t)
        op = "!=" if t.text == "<>" else t.text
        return ("cmp", path, op, self.literal(leaf))

    def literal(self, f: Field):
        t = self.take()
        low = t.text.lower()
        kind = _kind(f)

        def bad(expect: str, quoted: bool) -> ApiError:
            how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
            return ApiError(400, "INVALID_FIELD", self._echo(
                t.pos, f"value of filter criterion for field '{f.name}' must be of type {expect} and {how}"))

        if t.kind == "ident" and low == "null":
            return None
        if t.kind == "ident" and (low.split(":")[0] in _DATE_LITERALS):
            if kind not in ("datetime", "date"):
                raise bad("string" if kind == "text" else kind, kind == "text")
            return _date_literal(self.org, low, t, self)
        if kind in ("text", "id"):
            if t.kind != "str":
                raise bad("string", True)
            value = _unquote(t.text)
            if kind == "id":
                rid = to18(value)
                if rid is None:
                    raise ApiError(400, "INVALID_QUERY_FILTER_OPERATOR",
                                   self._echo(t.pos, f"invalid ID field: {value}"))
                return rid
            return value.lower()
        if kind == "boolean":
            if t.kind == "ident" and low in ("true", "false"):
                return low == "true"
            raise bad("boolean", False)
        if kind == "number":
            if t.kind == "num":
                return float(t.text)
            raise bad("double", False)
        if kind == "datetime":
            if t.kind == "dt":
                return parse_dt(t.text)
            raise bad("dateTime", False)
        if kind == "date":
            if t.kind == "date":
                return parse_date(t.text)
            raise bad("date", False)
        raise self.malformed(t)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), text[1:-1])


def _kind(f: Field) -> str:
    if f.type in ("id", "reference"):
        return "id"
    if f.type in NUMBER_TYPES:
        return "number"
    if f.type in ("boolean", "datetime", "date"):
        return f.type
    return "text"


def _date_literal(org: OrgState, low: str, tok: Tok, parser: _Parser):
    today = org.clock().astimezone(UTC).date()
    name, _, n = low.partition(":")
    if name in ("last_n_days", "next_n_days") and not n:
        raise parser.malformed(tok)
    start, days = {"today": (today, 1), "yesterday": (today - timedelta(1), 1), "tomorrow": (today + timedelta(1), 1),
                   "last_n_days": (today - timedelta(int(n or 0)), int(n or 0) + 1),
                   "next_n_days": (today + timedelta(1), int(n or 0))}[name]
    return ("range", start, start + timedelta(days))


def _norm(f: Field, value):
    if value is None:
        return None
    kind = _kind(f)
    if kind == "text":
        return str(value).lower()
    if kind == "number":
        return float(value)
    if kind == "datetime":
        return parse_dt(value)
    if kind == "date":
        return parse_date(value)
    return value


def _resolve(org: OrgState, rec: dict | None, path: list[Field]):
    for f in path[:-1]:
        if rec is None:
            return None
        rid = rec.get(f.name)
        rec = org.get(f.reference_to[0], rid) if rid else None
    return rec.get(path[-1].name) if rec is not None else None


def _compare(value, op: str, lit) -> bool:
    if isinstance(lit, tuple) and lit and lit[0] == "range":
        if value is None:
            return op == "!="
        lo, hi = lit[1], lit[2]
        if isinstance(value, datetime):
            lo = datetime.combine(lo, time(), UTC)
            hi = datetime.combine(hi, time(), UTC)
        inside = lo <= value < hi
        return {"=": inside, "!=": not inside, ">": value >= hi, ">=": value >= lo, "<": value < lo,
                "<=": value < hi}[op]
    if op == "=":
        return value == lit
    if op == "!=":
        return value != lit
    if value is None or lit is None:
        return False
    return {">": value > lit, "<": value < lit, ">=": value >= lit, "<=": value <= lit}[op]


def _matches(org: OrgState, rec: dict, node) -> bool:
    if node is None:
        return True
    tag = node[0]
    if tag == "and":
        return _matches(org, rec, node[1]) and _matches(org, rec, node[2])
    if tag == "or":
        return _matches(org, rec, node[1]) or _matches(org, rec, node[2])
    if tag == "not":
        return not _matches(org, rec, node[1])
    path = node[1]
    value = _norm(path[-1], _resolve(org, rec, path))
    if tag == "in":
        hit = value in node[2]
        return not hit if node[3] else hit
    if tag == "like":
        return value is not None and bool(node[2].match(str(value)))
    return _compare(value, node[2], node[3])


def parse(org: OrgState, text: str) -> Query:
    return _Parser(org, text).parse()


def _project(org: OrgState, o: SObject, rec: dict, paths: list[list[Field]], base: str) -> dict:
    out: dict = {"attributes": {"type": o.name, "url": f"{base}/sobjects/{o.name}/{rec['Id']}"}}
    for path in paths:
        node, cur, obj = out, rec, o
        for f in path[:-1]:
            rel = f.relationship_name
            rid = cur.get(f.name) if cur else None
            parent_name = f.reference_to[0]
            cur = org.get(parent_name, rid) if rid else None
            obj = org.schema[parent_name]
            if cur is None:
                node[rel] = None
                break
            if not isinstance(node.get(rel), dict):
                node[rel] = {"attributes": {"type": obj.name, "url": f"{base}/sobjects/{obj.name}/{cur['Id']}"}}
            node = node[rel]
        else:
            node[path[-1].name] = cur.get(path[-1].name)
    return out


def execute(org: OrgState, text: str, base: str) -> tuple[list[dict], bool, int]:
    """Run a query -> (projected rows, is_count, total). ``base`` is ``/services/data/vNN.0``."""
    q = parse(org, text)
    rows = [r for r in org.records[q.sobject.name].values() if _matches(org, r, q.where)]
    for path, desc, nulls_first in reversed(q.order):
        present = [r for r in rows if _resolve(org, r, path) is not None]
        absent = [r for r in rows if _resolve(org, r, path) is None]
        present.sort(key=lambda r: _norm(path[-1], _resolve(org, r, path)), reverse=desc)
        rows = absent + present if nulls_first else present + absent
    rows = rows[q.offset:]
    if q.limit is not None:
        rows = rows[:q.limit]
    if q.count:
        return [], True, len(rows)
    return [_project(org, q.sobject, r, q.fields, base) for r in rows], False, len(rows)
