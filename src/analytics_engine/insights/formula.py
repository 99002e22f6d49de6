"""Formulas across trend series (`A / B * 100`), parsed with Python's `ast` against a whitelist and
evaluated by walking the tree: never `eval`. Letters name series in order (A = first). Division by
zero gives 0 (as a chart would show it); a missing value counts as 0."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def letter(index: int) -> str:
    return chr(ord("A") + index)


def parse_formula(text: str, series_count: int) -> ast.Expression:
    """The checked tree; ValueError with a clear message otherwise."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(
            f"formula {text!r} is not a valid expression (use A-Z, numbers, + - * / and parentheses)"
        ) from None
    allowed = {letter(i) for i in range(series_count)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Expression | ast.Load):
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            continue
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            continue
        if isinstance(node, ast.Name):
            if node.id not in allowed:
                raise ValueError(f"formula names {node.id!r}; the query has series {', '.join(sorted(allowed))}")
            continue
        if type(node) in _BINARY or type(node) in _UNARY:
            continue
        raise ValueError(f"formula {text!r} may only use series letters, numbers, + - * / and parentheses")
    return tree


def evaluate(tree: ast.Expression, values: Mapping[str, float | None]) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float):
                raise ValueError(f"not a number: {node.value!r}")
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(values.get(node.id) or 0.0)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                return 0.0
            return _BINARY[type(node.op)](left, right)
        raise ValueError("unsupported formula node")  # parse_formula refused it already

    return walk(tree)
