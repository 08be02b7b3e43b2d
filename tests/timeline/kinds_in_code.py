"""Every event kind the code can write, found by reading the source (no list kept by hand).

An event is written through `Event(kind=…)`, `Event.on_invoice(invoice, kind, …)`, a
row dict with "kind" and "actor" keys for bulk inserts, or a helper that passes its
`kind` (or, for `audit`, its `action`) parameter on to one of those. For helpers the
scan follows the parameter to every call of the helper in the same module (and, for
the public `audit` and `events.record`, in every module). Dynamic kinds
(`f"ledger.{kind}"`) are expanded from `portal.timeline.FAMILIES`; a kind the scan
cannot resolve fails the test, so a new way of writing events is noticed too.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "portal"

# Helpers called from other modules with the kind (`audit(action)`, `events.record(debtor, kind)`).
PUBLIC_WRITERS = {"audit", "record"}


@dataclass
class Found:
    kinds: dict[str, str] = field(default_factory=dict)  # kind -> where (file:line)
    unresolved: list[str] = field(default_factory=list)


def _fstring_pattern(node: ast.JoinedStr) -> str:
    parts = []
    for value in node.values:
        parts.append(value.value if isinstance(value, ast.Constant) else "{}")
    return "".join(parts)


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, ast.FunctionDef]:
    owner: dict[ast.AST, ast.FunctionDef] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in ast.walk(fn):
                if child is not fn:
                    owner[child] = fn  # inner functions overwrite later (walk is outer first)
    return owner


def _callee(call: ast.Call) -> str | None:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def _arg(call: ast.Call, position: int | None, keyword: str) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[position] if position is not None and len(call.args) > position else None


def _params(fn: ast.FunctionDef) -> list[str]:
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return names


def scan(families: dict[str, tuple[str, ...]]) -> Found:
    found = Found()
    modules = {p: ast.parse(p.read_text(), str(p)) for p in ROOT.rglob("*.py")}
    pending: list[tuple] = []  # (module, expression, prefix or (head, tail), where, enclosing functions)

    all_sites = []
    calls_by_name: dict[str, list] = {}
    for path, tree in modules.items():
        owner = _enclosing_functions(tree)
        for node in ast.walk(tree):
            all_sites.append((path, owner, node))
            if isinstance(node, ast.Call) and _callee(node):
                calls_by_name.setdefault(_callee(node), []).append((path, owner, node))

    # Direct writers: Event(kind=…), Event.on_invoice(x, kind), {"kind": …, "actor": …}
    for path, owner, node in all_sites:
        where = f"{path.relative_to(ROOT.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and _callee(node) == "Event" and isinstance(node.func, ast.Name):
            value = _arg(node, None, "kind")
            if value is not None:
                pending.append((path, value, "", where, owner))
        elif isinstance(node, ast.Call) and _callee(node) == "on_invoice":
            value = _arg(node, 1, "kind")
            if value is not None:
                pending.append((path, value, "", where, owner))
        elif isinstance(node, ast.Dict):
            keys = {k.value: v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant)}
            if "kind" in keys and "actor" in keys:
                pending.append((path, keys["kind"], "", where, owner))

    seen_writers: set[tuple] = set()
    while pending:
        path, expr, prefix, where, owner = pending.pop()
        head, tail = prefix if isinstance(prefix, tuple) else (prefix, "")
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            found.kinds.setdefault(head + expr.value + tail, where)
            continue
        if isinstance(expr, ast.JoinedStr):
            pattern = head + _fstring_pattern(expr) + tail
            holes = [v.value for v in expr.values if isinstance(v, ast.FormattedValue)]
            if pattern in families:
                for value in families[pattern]:
                    found.kinds.setdefault(pattern.replace("{}", value), where)
            elif (len(holes) == 1 and pattern.count("{}") == 1 and isinstance(holes[0], ast.Name)
                  and owner.get(expr) is not None and holes[0].id in _params(owner[expr])):
                # f"staff.{action}" inside a helper: follow the parameter to the helper's callers
                h, t = pattern.split("{}")
                pending.append((path, holes[0], (h, t), where, owner))
            else:
                found.unresolved.append(f"{where}: f-string kind {pattern!r} (add its values to portal.timeline.FAMILIES)")
            continue
        if isinstance(expr, ast.IfExp):
            pending.append((path, expr.body, prefix, where, owner))
            pending.append((path, expr.orelse, prefix, where, owner))
            continue
        fn = owner.get(expr)
        if isinstance(expr, ast.Name) and fn is not None and expr.id in _params(fn):
            key = (path, fn.name, expr.id, prefix)
            if key in seen_writers:
                continue
            seen_writers.add(key)
            positional = _params(fn)[: len(_params(fn)) - len(fn.args.kwonlyargs)]
            position = positional.index(expr.id) if expr.id in positional else None
            public = fn.name in PUBLIC_WRITERS
            for other_path, other_owner, node in calls_by_name.get(fn.name, ()):
                if public or other_path == path:
                    value = _arg(node, position, expr.id)
                    if value is not None:
                        w = f"{other_path.relative_to(ROOT.parent)}:{node.lineno}"
                        pending.append((other_path, value, prefix, w, other_owner))
            continue
        if isinstance(expr, ast.Subscript) or isinstance(expr, ast.Name):
            # e.g. r["kind"] in a bulk helper whose rows are built elsewhere: the dict literals that
            # build those rows are scanned themselves; here it must be an f-string or parameter.
            found.unresolved.append(f"{where}: kind {ast.unparse(expr)!r} is neither a literal nor a helper's parameter")
            continue
        found.unresolved.append(f"{where}: cannot read the kind {ast.unparse(expr)!r}")
    return found
