"""The house rules of the layout: short files, no import circles, no Keras inside scratchnet.

These read the source as text (``ast``), so they check every module, imported or not, and every
import, at the top of a module or inside a function: a lazy import still ties two modules.
"""

import ast
import pathlib

import pytest

import scratchnet
from scratchnet import config, ops

ROOT = pathlib.Path(scratchnet.__file__).parent
MAX_LINES = 600


def modules():
    """{dotted module name: path} for every module of the scratchnet package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(name, path, known):
    """The scratchnet modules that module ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from . import x` names module x if there is one; `from .m import f` module m
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def test_no_library_file_is_over_600_lines():
    long = {
        str(path.relative_to(ROOT.parent)): n
        for path in ROOT.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these by responsibility (at most {MAX_LINES} lines): {long}"


def test_there_is_no_import_circle_inside_scratchnet():
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    # A package imports its own submodules (scratchnet/__init__ re-exports them): that edge
    # is not a circle. A circle is a path back to where it started through other modules.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_circle_check_sees_a_lazy_import(tmp_path):
    """The checker itself: an import inside a function counts."""
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from . import b\n")
    assert imported("pkg.a", a, {"pkg", "pkg.a", "pkg.b"}) == {"pkg.b"}


def test_scratchnet_never_imports_keras_or_tensorflow():
    known = modules()
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for n in names:
                assert n.split(".")[0] not in ("keras", "tensorflow"), f"{name} imports {n}"


def test_only_the_kernels_touch_numba():
    """jit.py owns numba's options; blas.py declares the BLAS helper numba's np.dot uses."""
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            if any(n.split(".")[0] == "numba" for n in names):
                assert name in ("scratchnet.kernels.jit", "scratchnet.kernels.blas"), name


def test_a_missing_op_says_what_exists():
    with pytest.raises(AttributeError, match="scratchnet.ops has no op 'frobnicate'.*has: "):
        ops.frobnicate  # noqa: B018


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: config.use_kernels("cuda"), "expected 'numba'"),
        (lambda: config.set_num_threads(0), "expected an int from 1"),
        (lambda: config.set_num_threads(2.5), "expected an int from 1"),
    ],
)
def test_config_switches_refuse_bad_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()
