"""The package's public names resolve to the chapter modules that define them."""

import importlib

import pytest

import lstm_lib


@pytest.mark.parametrize("name", lstm_lib.__all__)
def test_every_exported_name_resolves(name):
    obj = getattr(lstm_lib, name)
    module = importlib.import_module(f"lstm_lib.{lstm_lib._WHERE[name]}")
    assert obj is getattr(module, name)
    assert obj.__doc__, f"{name} has no docstring"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_model"):
        lstm_lib.no_such_model  # noqa: B018


# ---- the layers of the package (its docstring): the models import no display code, and no two modules
# of lstm_lib import each other, directly or through others


def _imports(path):
    """The lstm_lib modules and the top-level packages a file imports, at any depth (inside functions too)."""
    import ast

    own, other = set(), set()
    pkg = path.parent.relative_to(LIB.parent).as_posix().replace("/", ".")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (own if alias.name.startswith("lstm_lib") else other).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                mod = f"{base}.{node.module}" if node.module else base
                own.add(mod)
                if not node.module:
                    own.update(f"{base}.{a.name}" for a in node.names)
            elif node.module.startswith("lstm_lib"):
                own.add(node.module)
            else:
                other.add(node.module)
    return own, other


from pathlib import Path  # noqa: E402

LIB = Path(lstm_lib.__file__).parent
MODULES = {
    p.relative_to(LIB.parent).with_suffix("").as_posix().replace("/", "."): p
    for p in LIB.rglob("*.py") if p.name != "__init__.py" and "bench" not in p.parts
}
DISPLAY = ("lstm_lib.widgets", "lstm_lib.figures")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith(DISPLAY)))
def test_models_and_analyses_import_no_display_code(module):
    own, other = _imports(MODULES[module])
    bad = sorted({m for m in other if m.split(".")[0] in ("matplotlib", "ipywidgets", "IPython")}
                 | {m for m in own if m.startswith(DISPLAY)})
    assert not bad, f"{module} imports display code: {bad}"


def test_no_import_cycles():
    graph = {m: {o for o in _imports(p)[0] if o in MODULES and o != m} for m, p in MODULES.items()}
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for n in graph[m]:
            if state.get(n) == "open":
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import cycles: {cycles}"
