"""The mutation operators: list every mutant of a module's AST, and build one of them.

A mutant is named by ``(index, line, description)``: ``index`` is its place in the
deterministic walk of :func:`mutants`, so the same source always yields the same list and
a sampled index rebuilds the same mutant in the test process (no mutated file is written
anywhere). The operators: arithmetic and augmented-assignment swaps, comparison flips,
``and``/``or``, ``not`` removal (the operator replacements of Offutt et al.'s selective
set), constant tweaks, ``return`` value replaced by ``None``, statement and ``raise``
deletion, ``break``/``continue`` swap (kinds that mutmut and cosmic-ray make too).
Docstrings, annotations, imports, ``__all__`` and decorators are never mutated
(changing them tests nothing).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Mutant", "build", "mutants"]

_BINOP = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.Mult,
    ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
_CMP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_SYM = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.BitOr: "|", ast.BitAnd: "&", ast.LShift: "<<",
    ast.RShift: ">>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in",
    ast.NotIn: "not in", ast.And: "and", ast.Or: "or",
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    index: int
    line: int
    description: str

    @property
    def key(self) -> str:
        """Stable while the module's source does not change: ``line:description``."""
        return f"{self.line}:{self.description}"


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes (and their subtrees) no operator touches."""
    skip: set[int] = set()

    def drop(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(
            node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        ) and (isinstance(body, list) and body):
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                drop(first)  # docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            drop(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for d in node.decorator_list:
                drop(d)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            drop(node.returns)
            for a in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                drop(a.annotation)
            for a in (node.args.vararg, node.args.kwarg):
                if a is not None:
                    drop(a.annotation)
        if isinstance(node, ast.AnnAssign):
            drop(node.annotation)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            drop(node)
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and (node.test.id == "TYPE_CHECKING")
        ):
            drop(node)
        if isinstance(node, ast.JoinedStr):
            drop(node)  # f-string pieces: message wording, not behaviour
    return skip


def _constant_variants(value: object) -> list[tuple[object, str]]:
    if isinstance(value, bool):
        return [(not value, f"{value} -> {not value}")]
    if isinstance(value, int):
        return [(value + 1, f"{value} -> {value + 1}")]
    if isinstance(value, float):
        new = value * 2 if value else 1.0
        return [(new, f"{value} -> {new}")]
    if isinstance(value, str):
        return [("XX" + value + "XX", f"{value[:20]!r} -> 'XX..XX'")]
    if isinstance(value, bytes):
        return [(b"XX" + value + b"XX", "bytes -> b'XX..XX'")]
    return []


def _candidates(tree: ast.Module) -> Iterator[tuple[ast.AST, str, object]]:
    """Yield ``(node, description, change)`` in a fixed order (``ast.walk`` order)."""
    skip = _skipped_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
            new = _BINOP[type(node.op)]
            yield node, f"{_SYM[type(node.op)]} -> {_SYM[new]}", ("op", new)
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP:
            new = _BINOP[type(node.op)]
            yield node, f"{_SYM[type(node.op)]}= -> {_SYM[new]}=", ("op", new)
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                new = _CMP[type(op)]
                yield node, f"{_SYM[type(op)]} -> {_SYM[new]}", ("cmp", i, new)
        elif isinstance(node, ast.BoolOp):
            new_b = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield node, f"{_SYM[type(node.op)]} -> {_SYM[new_b]}", ("op", new_b)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not x -> x", ("unnot",)
        elif isinstance(node, ast.Constant) and node.value is not None:
            for value, desc in _constant_variants(node.value):
                yield node, f"constant {desc}", ("const", value)
        elif (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            yield node, "return x -> return None", ("retnone",)
        elif isinstance(node, ast.Break):
            yield node, "break -> continue", ("swap", ast.Continue)
        elif isinstance(node, ast.Continue):
            yield node, "continue -> break", ("swap", ast.Break)
        # Statement deletion: a statement with an effect replaced by ``pass``.
        if (
            isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
            or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Await))
        ) and not (isinstance(node, ast.AnnAssign) and node.value is None):
            yield node, "statement -> pass", ("delete",)
        if isinstance(node, ast.Raise):
            yield node, "raise -> pass", ("delete",)


def _apply(node: ast.AST, change: tuple[object, ...]) -> ast.AST:
    kind = change[0]
    if kind == "op":
        node.op = change[1]()  # type: ignore[attr-defined,operator]
    elif kind == "cmp":
        node.ops[change[1]] = change[2]()  # type: ignore[attr-defined,index,operator]
    elif kind == "unnot":
        return node.operand  # type: ignore[attr-defined,no-any-return]
    elif kind == "const":
        node.value = change[1]  # type: ignore[attr-defined]
    elif kind == "retnone":
        node.value = ast.Constant(None)  # type: ignore[attr-defined]
    elif kind == "swap":
        return change[1]()  # type: ignore[operator,no-any-return]
    elif kind == "delete":
        return ast.Pass()
    return node


def mutants(source: str, filename: str = "<module>") -> list[Mutant]:
    """Every mutant of ``source``, in a fixed order."""
    tree = ast.parse(source, filename)
    return [
        Mutant(i, getattr(node, "lineno", 0), desc)
        for i, (node, desc, _) in enumerate(_candidates(tree))
    ]


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, change: tuple[object, ...]) -> None:
        self.target, self.change = target, change

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return _apply(node, self.change)
        return super().generic_visit(node)


def build(source: str, filename: str, index: int) -> ast.Module:
    """The AST of mutant ``index`` of ``source``, ready for ``compile``."""
    tree = ast.parse(source, filename)
    for i, (node, _desc, change) in enumerate(_candidates(tree)):
        if i == index:
            new = _Replace(node, change).visit(tree)
            return ast.fix_missing_locations(new)
    raise IndexError(f"{filename} has no mutant {index}")
