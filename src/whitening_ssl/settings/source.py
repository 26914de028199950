"""The built-in components' settings, defaults and meanings, read from the package's source text.

The configuration's default nodes (``method/_defaults/<family>``, ``method/_losses/<name>``) and
``python run.py --help`` need every setting's default and meaning, which live in the signatures,
docstrings and registries of modules that import torch. Reading those modules as text (:mod:`ast`,
nothing executed) gives the same values without the seconds torch takes to import, so the help and
the configuration are made before any heavy module is loaded. The tests compare every value read
here with the imported objects' (``inspect.signature``), so the source stays the only place a
default is written.

Paths are module paths relative to the package (``whitening.transform``) and dotted names inside
the module (``Whitening.__init__``).
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1]
_ARGS_HEADER = re.compile(r"^\s*Args:\s*$")
_ARG_LINE = re.compile(r"^(?P<indent>\s+)\**(?P<name>\w+)(?: \([^)]*\))?:\s*(?P<text>.*)$")


@functools.cache
def _source(module: str) -> tuple[ast.Module, tuple[str, ...]]:
    path = PACKAGE / (module.replace(".", "/") + ".py")
    if not path.is_file():
        path = PACKAGE / module.replace(".", "/") / "__init__.py"
    text = path.read_text()
    return ast.parse(text), tuple(text.splitlines())


def node(module: str, name: str) -> Any:
    """The class, function or assignment ``name`` (``Class.method``) of ``module`` (its kind is the caller's to
    know: ``Any``)."""
    current: ast.AST = _source(module)[0]
    for part in name.split("."):
        for child in getattr(current, "body", ()):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef)) and child.name == part:
                current = child
                break
            targets = (
                child.targets
                if isinstance(child, ast.Assign)
                else [child.target]
                if isinstance(child, ast.AnnAssign)
                else []
            )
            if any(isinstance(t, ast.Name) and t.id == part for t in targets):
                current = child
                break
        else:
            raise LookupError(f"{module} has no {name}")
    return current


def parameters(module: str, function: str, keyword_only: bool = False) -> dict[str, Any]:
    """The parameters of ``function`` that have a default, with it (only the keyword-only ones if asked).

    A class's ``__init__`` that the class does not define is its first base's of the same module, else
    (``nn.Module``'s) one without settings."""
    owner, _, name = function.rpartition(".")
    if (
        name == "__init__"
        and owner
        and not any(isinstance(c, ast.FunctionDef) and c.name == name for c in node(module, owner).body)
    ):
        bases = [b.id for b in node(module, owner).bases if isinstance(b, ast.Name)]
        return next(
            (
                parameters(module, f"{base}.__init__")
                for base in bases
                if any(isinstance(c, ast.ClassDef) and c.name == base for c in _source(module)[0].body)
            ),
            {},
        )
    args = node(module, function).args
    positional = args.posonlyargs + args.args
    pairs = [] if keyword_only else list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
    pairs += [(arg, default) for arg, default in zip(args.kwonlyargs, args.kw_defaults) if default is not None]
    return {arg.arg: ast.literal_eval(default) for arg, default in pairs}


def constant(module: str, name: str) -> Any:
    """The literal value assigned to ``name`` (a module constant or a class attribute)."""
    return ast.literal_eval(node(module, name).value)


def key_comments(module: str, name: str) -> dict[str, str]:
    """The trailing ``# ...`` comment of each key of the dict literal assigned to ``name``."""
    lines = _source(module)[1]
    value = node(module, name).value
    return {
        ast.literal_eval(key): lines[key.lineno - 1].partition("#")[2].strip()
        for key in value.keys
        if key is not None and "#" in lines[key.lineno - 1]
    }


def docstring(module: str, name: str) -> str:
    return ast.get_docstring(node(module, name)) or ""


def summary(module: str, name: str) -> str:
    """The first sentence of the docstring of ``name``."""
    text = " ".join(docstring(module, name).split("\n\n")[0].split())
    return text.split(". ")[0].rstrip(".")


def argument_docs(module: str, name: str) -> dict[str, str]:
    """``{argument: its one-line meaning}`` from the ``Args:`` section of the docstring of ``name``."""
    found: dict[str, str] = {}
    inside, indent, last = False, None, None
    for line in docstring(module, name).splitlines():
        if _ARGS_HEADER.match(line):
            inside, indent = True, None
            continue
        if not inside:
            continue
        if not line.strip():
            break
        match = _ARG_LINE.match(line)
        if match and (indent is None or len(match["indent"]) == indent):
            indent, last = len(match["indent"]), match["name"]
            found[last] = match["text"].strip()
        elif last is not None:
            found[last] += " " + line.strip()
    return found


def decorated(module: str, decorator: str) -> list[str]:
    """The module's functions decorated with ``@decorator`` or ``@decorator(...)``, in order."""

    def name(expression: ast.expr) -> str:
        expression = expression.func if isinstance(expression, ast.Call) else expression
        return expression.id if isinstance(expression, ast.Name) else getattr(expression, "attr", "")

    return [
        child.name
        for child in _source(module)[0].body
        if isinstance(child, ast.FunctionDef) and any(name(d) == decorator for d in child.decorator_list)
    ]


def registry(module: str, name: str) -> dict[str, tuple[str, str]]:
    """``{key: (module, attribute)}`` of a registry dict literal ``{"key": Class, ...}`` of ``module``, each
    value resolved through the module's own ``from .x import Class`` statements."""
    origins = _imports(module)
    value = node(module, name).value
    return {
        ast.literal_eval(key): origins.get(item.id, (module, item.id)) for key, item in zip(value.keys, value.values)
    }


def keys(module: str, name: str) -> tuple[str, ...]:
    """The keys of the dict literal assigned to ``name`` (a registry's names, in order), nothing imported."""
    return tuple(ast.literal_eval(key) for key in node(module, name).value.keys)


def signature(module: str, function: str) -> inspect.Signature:
    """The signature of ``function`` (``Class.__init__``: without ``self``), its defaults the literals written."""
    args = node(module, function).args
    positional = args.posonlyargs + args.args
    if function.endswith(".__init__") or (positional and positional[0].arg in ("self", "cls")):
        positional = positional[1:]
    first_default = len(positional) - len(args.defaults)
    kind = inspect.Parameter
    found = [
        kind(
            arg.arg,
            kind.POSITIONAL_OR_KEYWORD,
            default=ast.literal_eval(args.defaults[i - first_default]) if i >= first_default else kind.empty,
        )
        for i, arg in enumerate(positional)
    ]
    if args.vararg:
        found.append(kind(args.vararg.arg, kind.VAR_POSITIONAL))
    found += [
        kind(arg.arg, kind.KEYWORD_ONLY, default=kind.empty if default is None else ast.literal_eval(default))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults)
    ]
    if args.kwarg:
        found.append(kind(args.kwarg.arg, kind.VAR_KEYWORD))
    return inspect.Signature(found)


def decorator_keywords(module: str, function: str, decorator: str) -> dict[str, Any]:
    """The keyword arguments of ``@decorator(...)`` on ``function``: literals as values, names as their text."""
    for item in node(module, function).decorator_list:
        if isinstance(item, ast.Call) and getattr(item.func, "id", getattr(item.func, "attr", None)) == decorator:
            return {
                k.arg: k.value.id if isinstance(k.value, ast.Name) else ast.literal_eval(k.value)
                for k in item.keywords
                if k.arg
            }
    return {}


def _imports(module: str) -> dict[str, tuple[str, str]]:
    """``{local name: (package-relative module, attribute)}`` of the relative imports of ``module``."""
    tree = _source(module)[0]
    package = module if (PACKAGE / module.replace(".", "/") / "__init__.py").is_file() else module.rpartition(".")[0]
    origins = {}
    for child in tree.body:
        if isinstance(child, ast.ImportFrom) and child.level:
            base = package.split(".") if package else []
            base = base[: len(base) - child.level + 1] if child.level > 1 else base
            source = ".".join(base + ([child.module] if child.module else []))
            origins.update({alias.asname or alias.name: (source, alias.name) for alias in child.names})
    return origins


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """A module's statements, with those under ``if TYPE_CHECKING:`` (a lazy package's names)."""
    statements: list[ast.stmt] = []
    for child in tree.body:
        if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
            statements += child.body
        else:
            statements.append(child)
    return statements


def defines_class(target: str) -> bool:
    """Whether the package's source defines the class ``target`` (``whitening_ssl.eval.OnlineEvaluation``),
    following a package's ``from .module import Class``; read, not imported."""
    module, _, name = target.removeprefix(f"{PACKAGE.name}.").rpartition(".")
    try:
        tree = _source(module)[0]
    except OSError:
        return False
    package = module if (PACKAGE / module.replace(".", "/") / "__init__.py").is_file() else module.rpartition(".")[0]
    for child in _top_level(tree):
        if isinstance(child, ast.ClassDef) and child.name == name:
            return True
        if isinstance(child, ast.ImportFrom) and child.level:
            for alias in child.names:
                if (alias.asname or alias.name) == name:
                    base = package.split(".") if package else []
                    base = base[: len(base) - child.level + 1]
                    return defines_class(
                        ".".join([PACKAGE.name, *base, *([child.module] if child.module else [])]) + f".{alias.name}"
                    )
    return False
