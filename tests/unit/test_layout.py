"""docs/layout.md is the map of the package: every folder and top-level module is on it, and no module imports
another in a circle (the layering the page describes)."""

import ast
import re

from helpers import ROOT

PACKAGE = ROOT / "src" / "whitening_ssl"


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, name):
    """The package's modules that ``path`` (module ``name``) imports, at any depth of the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_layout_page_names_every_folder_and_top_level_module():
    text = (ROOT / "docs" / "layout.md").read_text()
    folders = sorted(p.name + "/" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    nested = sorted(p.name + "/" for p in PACKAGE.glob("*/*") if p.is_dir() and (p / "__init__.py").is_file())
    modules = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    listed = set(re.findall(r"[\w.]+/?", text))
    assert [name for name in folders + nested + modules if name not in listed] == []


def test_no_module_imports_another_in_a_circle():
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {
        name: {other for other in _imports(path, name) if other in modules and other != name}
        for name, path in modules.items()
    }
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in modules:
        if name not in index:
            visit(name)
    assert circles == []
