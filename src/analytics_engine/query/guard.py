"""The guard: a tenant's SQL in, SQL that can only read that tenant's rows out, or a refusal.

chDB has no users or row policies, so this is the only boundary between tenants and between a tenant
and the host. It fails closed and works by allowlists:

1. Parse with sqlglot's ClickHouse dialect; anything it cannot parse is a `sql_syntax_error`, and a
   statement it falls back to reading as an opaque command is refused.
2. Exactly one statement, a SELECT or a set operation (UNION, INTERSECT, EXCEPT) at the root; no
   INTO, SETTINGS, FORMAT, FINAL, SAMPLE or any clause not on the list below.
3. Every node of the tree must be of an allowed kind (`ALLOWED_NODES`, `ALLOWED_FUNCTION_CLASSES`);
   a function sqlglot does not know by type is allowed only if its exact name is in
   `functions.ALLOWED_FUNCTIONS`. So table functions (`file`, `url`, `s3`, `remote`, `merge`,
   `input`, `python`, every `*Cluster`) are refused wherever they appear: in FROM, in a CTE, in an
   IN, a JOIN or a UNION, or called as a scalar function.
4. Every table reference is a CTE of the same query (subquery CTEs only, visible in that scope,
   not defined later in the same WITH) or a table of the tenant catalogue (`catalogue.py`) without a
   database. Each catalogue table is replaced by its trusted SELECT filtered on `{tenant_id:String}`,
   under the name the query used; the tenant column is not part of it. The right side of IN must not
   be a bare name (ClickHouse reads `x IN t` as "in table t").
5. Emit the rewritten tree, parse the emitted text again and check it again (the trusted SELECTs are
   recognised by their exact text), and require that emitting it once more gives the same text.

`guard(sql, catalogue)` returns a `Guarded` (the SQL to run and the tables it reads); the caller runs
it through the warehouse's tenant scope, which binds the tenant and applies the budget (service.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError

from analytics_engine.query.catalogue import Catalogue
from analytics_engine.query.dialect import emit
from analytics_engine.query.dialect import parse as parse_statements
from analytics_engine.query.errors import SqlNotAllowed, SqlSyntaxError, position
from analytics_engine.query.functions import ALLOWED_FUNCTIONS

MAX_SQL_CHARS = 100_000
UNKNOWN_TABLE = "there is no table "
MEMO_SIZE = 1_000
TENANT_MARKER = "_tenant"
_MARKER_WITH = parse_statements(f"WITH {{tenant_id:String}} AS {TENANT_MARKER} SELECT 1")[0].args["with_"]  # type: ignore[union-attr]
_MARKER_SQL = emit(_MARKER_WITH.expressions[0].copy())
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters no identifier may hold: quotes and backslashes (no way to re-read them differently) and
# control characters.
_BAD_IDENTIFIER = re.compile(r"[`\"'\\\x00-\x1f\x7f]")

ALLOWED_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        # query structure
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.From, exp.Join, exp.Where,
        exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Ordered, exp.WithFill, exp.Limit,
        exp.Offset, exp.With, exp.CTE, exp.TableAlias, exp.Alias, exp.Table, exp.Column, exp.Identifier,
        exp.Star, exp.Distinct, exp.Window, exp.WindowSpec, exp.Filter, exp.Lambda, exp.Exists, exp.Paren,
        # values
        exp.Literal, exp.Null, exp.Boolean, exp.Tuple, exp.Array, exp.Struct, exp.VarMap, exp.Bracket,
        exp.Dot, exp.Interval, exp.Var, exp.Cast, exp.JSONCast, exp.DataType, exp.DataTypeParam,
        # operators
        exp.In, exp.Between, exp.Case, exp.If, exp.Not, exp.Neg, exp.And, exp.Or, exp.Xor, exp.EQ,
        exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.Is, exp.Like, exp.ILike,
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.DPipe, exp.BitwiseAnd,
        exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift, exp.BitwiseRightShift,
        exp.Extract,
    }
)  # fmt: skip

# Functions sqlglot reads into typed expressions (each stands for one of the allowed names; see
# tests/query/test_functions.py, which checks every one emits an allowed ClickHouse function).
ALLOWED_FUNCTION_CLASSES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Abs, exp.Acos, exp.AnyValue, exp.ApproxDistinct, exp.ArgMax, exp.ArgMin, exp.ArrayCompact,
        exp.ArrayConcat, exp.ArrayContains, exp.ArrayDistinct, exp.ArrayFilter, exp.ArrayMax, exp.ArrayMin,
        exp.ArrayReverse, exp.ArraySlice, exp.ArraySum, exp.Asin, exp.Atan, exp.Atan2, exp.Avg,
        exp.BitwiseAndAgg, exp.BitwiseOrAgg, exp.BitwiseXorAgg, exp.Cbrt, exp.Ceil, exp.CityHash64,
        exp.Coalesce, exp.Concat, exp.Corr, exp.Cos, exp.Cosh, exp.Count, exp.CountIf, exp.CumeDist,
        exp.DateAdd, exp.DateDiff, exp.DateSub, exp.DateTrunc, exp.DayOfWeekIso, exp.DenseRank,
        exp.EndsWith, exp.Exp, exp.Explode, exp.FirstValue, exp.Floor, exp.Format, exp.Greatest, exp.Hex,
        exp.Initcap, exp.IsInf, exp.IsNan, exp.JSONExtract, exp.JSONExtractScalar, exp.JSONPath, exp.JSONPathKey,
        exp.JSONPathRoot, exp.JSONPathSubscript,
        exp.LastValue, exp.Least, exp.Left, exp.Length, exp.Ln, exp.Log, exp.Lower,
        exp.MD5Digest, exp.Max, exp.Min, exp.Monthname, exp.NthValue, exp.Ntile, exp.Nullif, exp.Pad,
        exp.ParseDatetime, exp.PercentRank, exp.Pi, exp.Pow, exp.Quantile, exp.Rand, exp.Rank,
        exp.RegexpLike, exp.RegexpSplit, exp.Repeat, exp.Reverse, exp.Right, exp.Round, exp.RowNumber,
        exp.SHA, exp.SHA2, exp.Sign, exp.Sin, exp.Sinh, exp.Space, exp.Split, exp.Sqrt, exp.StartsWith,
        exp.StrPosition, exp.Substring, exp.Sum, exp.Tan, exp.Tanh, exp.TimeToStr, exp.TimestampAdd,
        exp.TimestampSub, exp.TimestampTrunc, exp.Transform, exp.Trim, exp.Trunc, exp.Typeof, exp.Unhex,
        exp.Upper, exp.WeekOfYear, exp.YearOfWeekIso,
    }
)  # fmt: skip

# Functions whose ClickHouse name travels as text on the node: the name must be allowed.
NAMED_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset(
    {exp.Anonymous, exp.AnonymousAggFunc, exp.ParameterizedAgg, exp.CombinedAggFunc, exp.CombinedParameterizedAgg}
)

# Arguments a node may carry (anything else set on it is refused): the clauses we allow.
_QUERY_ARGS = frozenset(
    {"with_", "expressions", "distinct", "from_", "joins", "where", "group", "having", "qualify"}
    | {"windows", "order", "limit", "offset"}
)
_SET_ARGS = frozenset({"with_", "this", "expression", "distinct", "order", "limit", "offset"})
_ALLOWED_ARGS: dict[type[exp.Expr], frozenset[str]] = {
    exp.Select: _QUERY_ARGS,
    exp.Union: _SET_ARGS,
    exp.Intersect: _SET_ARGS,
    exp.Except: _SET_ARGS,
    exp.Subquery: frozenset({"this", "alias"}),
    exp.Table: frozenset({"this", "alias"}),
    exp.Join: frozenset({"this", "on", "using", "side", "kind", "method", "global_", "expressions"}),
    exp.With: frozenset({"expressions"}),
    exp.CTE: frozenset({"this", "alias", "scalar"}),
    exp.TableAlias: frozenset({"this"}),
}
_IN_SINGLE = (exp.Subquery, exp.Query, exp.Tuple, exp.Array, exp.Literal, exp.Null, exp.Boolean, exp.Neg)
_JOIN_KINDS = frozenset({"", "INNER", "OUTER", "CROSS", "SEMI", "ANTI", "ARRAY", "ANY", "ALL", "ASOF"})
_JOIN_METHODS = frozenset({"", "ANY", "ALL", "ASOF", "PASTE"})
_CLAUSE_NAMES = {
    "into": "INTO",
    "settings": "SETTINGS",
    "format": "FORMAT",
    "sample": "SAMPLE",
    "db": "a database-qualified table name",
    "catalog": "a database-qualified table name",
    "kind": "SELECT AS ...",
    "hint": "query hints",
    "options": "OPTION",
    "locks": "FOR UPDATE",
    "columns": "column aliases on a table alias",
    "match_condition": "MATCH_CONDITION",
    "laterals": "LATERAL",
    "pivots": "PIVOT",
    "prewhere": "PREWHERE (use WHERE: tables are subqueries here)",
}


@dataclass(frozen=True)
class Guarded:
    """What the guard lets through: the SQL to run (tenant bound by `{tenant_id:String}`) and the
    catalogue tables it reads."""

    sql: str
    tables: tuple[str, ...]


def _where(node: exp.Expr) -> dict[str, int] | None:
    """The position of the node in the submitted text: its own token, else its first token inside."""
    for candidate in _preorder(node):
        meta = candidate.meta
        if "line" in meta or "start" in meta:
            return position(meta.get("line"), meta.get("col"), meta.get("start"))
    return None


def _preorder(node: exp.Expr) -> Iterator[exp.Expr]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(current.iter_expressions())))


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Func):
        return f"the function {_function_name(node)}"
    if isinstance(node, exp.Placeholder | exp.Parameter):
        return "query parameters"
    if isinstance(node, exp.Command):
        return f"the statement {node.name.upper()}"
    if isinstance(node, exp.Final):
        return "FINAL"
    return f"{type(node).__name__} syntax"


def _function_name(node: exp.Expr) -> str:
    if type(node) in NAMED_FUNCTIONS:
        name = node.this
        return name if isinstance(name, str) else node.name
    return str(node.sql_name()) if isinstance(node, exp.Func) else type(node).__name__


class _Checker:
    """One walk over a tree: every node checked, every table reference resolved."""

    def __init__(self, catalogue: Catalogue, *, recheck: bool) -> None:
        self.catalogue = catalogue
        self.recheck = recheck
        self.replacements: list[tuple[exp.Table, str]] = []
        self.read: set[str] = set()

    def refuse(self, reason: str, node: exp.Expr) -> SqlNotAllowed:
        if self.recheck:
            reason = f"{reason} (after rewriting)"
        return SqlNotAllowed(reason, _where(node))

    def run(self, root: exp.Expr) -> None:
        stack: list[exp.Expr] = [root]
        recheck = self.recheck
        while stack:
            node = stack.pop()
            if recheck and type(node) is exp.Select and self._trusted_select(node):
                continue
            self.check(node)
            stack.extend(node.iter_expressions())  # every child, in argument order (sqlglot's own walk)

    def _trusted_select(self, node: exp.Expr) -> bool:
        """In the re-check: a catalogue table's own SELECT, inside the subquery that replaced it."""
        if not isinstance(node, exp.Select) or not isinstance(node.parent, exp.Subquery):
            return False
        source = node.args.get("from_")
        inner = source.this if isinstance(source, exp.From) else None
        if isinstance(inner, exp.Final):
            inner = inner.this
        if not isinstance(inner, exp.Table) or inner.args.get("db") is None:
            return False
        table = self.catalogue.get(inner.name)
        if table is None or inner.text("db") != self.catalogue.database:
            return False
        # exactly the trusted SELECT, node for node (sqlglot compares trees by their structure)
        if node != table.select:
            return False
        self.read.add(table.name)
        return True

    # --- one node ------------------------------------------------------------------------------
    def check(self, node: exp.Expr) -> None:
        kind = type(node)
        if kind in NAMED_FUNCTIONS:
            if _function_name(node) not in ALLOWED_FUNCTIONS:
                raise self.refuse(f"the function {_function_name(node)} is not allowed", node)
        elif kind not in ALLOWED_NODES and kind not in ALLOWED_FUNCTION_CLASSES:
            if self.recheck and self._marker(node):
                return
            raise self.refuse(f"{_describe(node)} is not allowed", node)
        allowed_args = _ALLOWED_ARGS.get(kind)
        if allowed_args is not None:
            for name, value in node.args.items():
                if name not in allowed_args and value not in (None, False, [], ""):
                    clause = _CLAUSE_NAMES.get(name, name.rstrip("_").upper())
                    raise self.refuse(f"{clause} is not allowed", node)
        # Only the exact kinds above get this far, so one look-up by type finds a node's own check.
        special = _SPECIAL.get(kind)
        if special is not None:
            special(self, node)

    def _select(self, node: exp.Select) -> None:
        if not node.expressions:
            raise self.refuse("a SELECT needs at least one column", node)

    def _var(self, node: exp.Var) -> None:
        if not _VAR.match(node.name):
            raise self.refuse(f"the word {node.name!r} is not allowed here", node)

    def _data_type(self, node: exp.DataType) -> None:
        if node.this == exp.DataType.Type.USERDEFINED:
            raise self.refuse("this type name is not allowed", node)

    def _marker(self, node: exp.Expr) -> bool:
        """The re-check meets the tenant marker CTE's parameter (added when no table is read)."""
        return (
            isinstance(node, exp.Placeholder)
            and isinstance(node.parent, exp.CTE)
            and node.parent.alias == TENANT_MARKER
            and emit(node.parent.copy()) == _MARKER_SQL
        )

    def _identifier(self, node: exp.Identifier) -> None:
        name = node.this if isinstance(node.this, str) else ""
        if not name or _BAD_IDENTIFIER.search(name):
            raise self.refuse("identifiers may not hold quotes, backslashes or control characters", node)

    def _join(self, node: exp.Join) -> None:
        if (node.args.get("kind") or "").upper() not in _JOIN_KINDS:
            raise self.refuse(f"{node.args.get('kind')} JOIN is not allowed", node)
        if (node.args.get("method") or "").upper() not in _JOIN_METHODS:
            raise self.refuse(f"{node.args.get('method')} JOIN is not allowed", node)
        if node.args.get("expressions") and not _is_array_join(node):
            raise self.refuse("this JOIN form is not allowed", node)

    def _with(self, node: exp.With) -> None:
        if node.args.get("recursive"):
            raise self.refuse("WITH RECURSIVE is not allowed", node)
        seen: set[str] = set()
        for cte in node.expressions:
            name = cte.alias
            if not name:
                raise self.refuse("a CTE needs a name", cte)
            if name in seen:
                raise self.refuse(f"the CTE name {name} is used twice", cte)
            if self.catalogue.get(name) is not None:
                raise self.refuse(f"a CTE may not take the name of the table {name}", cte)
            if name == TENANT_MARKER and not self.recheck:
                raise self.refuse(f"the name {name} is reserved", cte)
            seen.add(name)

    def _in(self, node: exp.In) -> None:
        # ClickHouse reads a lone name on the right of IN as a table (`x IN t`) and a lone function
        # call as a table function (`1 IN fileCluster(...)`): one item there must be a value list,
        # an array, a literal or a subquery.
        right = [item for item in (node.args.get("field"), node.args.get("query"), *node.expressions) if item]
        if len(right) == 1 and not isinstance(right[0], _IN_SINGLE):
            raise self.refuse(
                "IN needs a list of values, an array or a subquery on its right (ClickHouse would read a name "
                "as a table and a function call as a table function)",
                node,
            )
        for item in right:
            if isinstance(item, exp.Column | exp.Identifier | exp.Table | exp.Dot):
                raise self.refuse("IN needs values on its right, not names", node)
        if node.args.get("unnest"):
            raise self.refuse("IN UNNEST is not allowed", node)

    def _table(self, node: exp.Table) -> None:
        join = node.parent if isinstance(node.parent, exp.Join) else None
        if join is not None and _is_array_join(join):
            return  # ARRAY JOIN x: sqlglot reads the array expression `x` as a table name; it is a column
        if not isinstance(node.this, exp.Identifier):
            raise self.refuse(f"table functions are not allowed ({_describe(node.this)})", node)
        name = node.name
        if _cte_visible(node, name):
            return
        table = self.catalogue.get(name)
        if table is None:
            available = ", ".join(sorted(self.catalogue.tables))
            raise self.refuse(f"{UNKNOWN_TABLE}{name} (tables: {available})", node)
        if self.recheck:
            raise self.refuse(f"the table {name} was not replaced", node)
        alias = node.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.args.get("columns"):
            raise self.refuse("column aliases on a table alias are not allowed", node)
        self.replacements.append((node, name))
        self.read.add(name)


# The node kinds with a check of their own (exact types: subclasses are not in the allowlists).
_SPECIAL: dict[type[exp.Expr], Callable[[_Checker, Any], None]] = {
    exp.Select: _Checker._select,
    exp.Identifier: _Checker._identifier,
    exp.Var: _Checker._var,
    exp.DataType: _Checker._data_type,
    exp.Join: _Checker._join,
    exp.With: _Checker._with,
    exp.In: _Checker._in,
    exp.Table: _Checker._table,
}


def _is_array_join(join: exp.Join) -> bool:
    return (join.args.get("kind") or "").upper() == "ARRAY"


def _cte_visible(node: exp.Expr, name: str) -> bool:
    """Whether `name` at `node` is a subquery CTE of an enclosing query: defined in the WITH of a query
    the node is inside, and, for a node inside a CTE of that WITH, defined before that CTE."""
    child: exp.Expr = node
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.With):
            # `child` is one of this WITH's CTEs: only earlier ones are visible from inside it.
            ctes = parent.expressions
            index = next((i for i, cte in enumerate(ctes) if cte is child), len(ctes))
            if any(_is_table_cte(cte) and cte.alias == name for cte in ctes[:index]):
                return True
        elif isinstance(parent, exp.Query) and child is not parent.args.get("with_"):
            with_ = parent.args.get("with_")
            if isinstance(with_, exp.With) and any(_is_table_cte(c) and c.alias == name for c in with_.expressions):
                return True
        child, parent = parent, parent.parent
    return False


def _is_table_cte(cte: exp.Expr) -> bool:
    return isinstance(cte, exp.CTE) and not cte.args.get("scalar") and isinstance(cte.this, exp.Query)


def parse(sql: str) -> exp.Expr:
    """Exactly one statement, parsed; a syntax error or more than one statement is refused."""
    if len(sql) > MAX_SQL_CHARS:
        raise SqlNotAllowed(f"the query is longer than {MAX_SQL_CHARS} characters")
    try:
        statements = parse_statements(sql)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        description = first.get("description") or str(exc).splitlines()[0]
        line, column = first.get("line"), first.get("col")
        raise SqlSyntaxError(str(description), position(line, column, _offset(sql, line, column))) from None
    except TokenError as exc:
        raise SqlSyntaxError(str(exc).splitlines()[0][:300]) from None
    except (SqlglotError, RecursionError, Exception) as exc:  # fail closed on anything sqlglot raises
        raise SqlSyntaxError(f"the query cannot be read ({type(exc).__name__})") from None
    present = [statement for statement in statements if statement is not None]
    if len(present) != 1:
        raise SqlNotAllowed("send exactly one statement" if present else "the query is empty")
    return present[0]


def _offset(sql: str, line: int | None, column: int | None) -> int | None:
    """The character offset of a 1-based line and column in `sql`."""
    if not line or not column:
        return None
    lines = sql.split("\n")
    return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1


def _check_root(root: exp.Expr, checker: _Checker) -> None:
    if not isinstance(root, exp.Select | exp.SetOperation):
        raise checker.refuse(f"only SELECT queries are allowed, not {_describe(root)}", root)


def guard(sql: str, catalogue: Catalogue, *, cached: bool = True) -> Guarded:
    """Check and rewrite a tenant's SQL (see the module doc); raises SqlNotAllowed or SqlSyntaxError.
    An accepted text is remembered per catalogue (the same text gives the same answer); refusals are
    not, so a refused query costs a full check each time."""
    memo = catalogue.guarded
    if cached and (hit := memo.get(sql)) is not None:
        return hit  # type: ignore[no-any-return]
    try:
        answer = _guard(sql, catalogue)
    except (SqlNotAllowed, SqlSyntaxError):
        raise
    except RecursionError:
        raise SqlNotAllowed("the query is nested too deeply") from None
    except Exception as exc:  # fail closed: whatever goes wrong in rewriting refuses the query
        raise SqlNotAllowed(f"the query cannot be rewritten safely ({type(exc).__name__})") from None
    if cached:
        if len(memo) >= MEMO_SIZE:
            memo.clear()  # simple bound: a busy catalogue starts over (it is rebuilt every 30 s anyway)
        memo[sql] = answer
    return answer


def _guard(sql: str, catalogue: Catalogue) -> Guarded:
    root = parse(sql)
    checker = _Checker(catalogue, recheck=False)
    _check_root(root, checker)
    checker.run(root)
    for node, name in checker.replacements:
        # The table becomes `(<trusted SELECT>) AS <its alias or name>`. The trusted SELECT goes in as
        # its emitted text (a Var writes its text as it is) instead of a copy of its tree: the text
        # that runs is parsed and checked again below, where the SELECT must equal the trusted tree.
        alias = node.args.get("alias")
        if not isinstance(alias, exp.TableAlias):
            alias = exp.TableAlias(this=node.this)
        trusted = exp.Var(this=catalogue.tables[name].trusted_sql)
        node.replace(exp.Subquery(this=trusted, alias=alias))
    if not checker.replacements:
        # Nothing read: the statement still carries the tenant (the tenant scope binds every query).
        with_ = root.args.get("with_")
        marker = _MARKER_WITH.expressions[0].copy()
        if isinstance(with_, exp.With):
            with_.set("expressions", [marker, *with_.expressions])
        else:
            root.set("with_", _MARKER_WITH.copy())
    emitted = emit(root)
    # The emitted text is what runs: read it again and check it again.
    again = parse(emitted)
    rechecker = _Checker(catalogue, recheck=True)
    _check_root(again, rechecker)
    rechecker.run(again)
    # ... and writing what was read gives the same text: sqlglot reads the text that runs one way only.
    if emit(again) != emitted:
        raise SqlNotAllowed("the query does not read back the same after rewriting")
    return Guarded(emitted, tuple(sorted(rechecker.read)))
