"""The tree is the architecture: each folder of ``simulator/`` is one layer, and a module imports only from its
own layer or the layers below it. Read with ``ast`` from the source, nothing is imported or run.

Bottom to top: the root modules (``errors``, ``units``), ``schema`` (inputs), ``files`` (the only file access),
``model`` (one device, one step), ``cluster`` (many devices), ``run`` (the whole run), ``strategies``,
``analysis``, ``calibration``, ``output`` (strings and bytes), ``api`` (the public functions), then ``cli/``.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("", "schema", "files", "model", "cluster", "run", "strategies", "analysis", "calibration", "output",
          "api", "cli")
LAZY_ALLOWED = {"matplotlib", "dask", "distributed", "torch", "pynvml", "threadpoolctl"}  # heavy or optional
MAX_LINES = 450
MAX_PARAMETERS = 12


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("simulator", "cli"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    parts = module.split(".")
    if parts[0] == "cli":
        return LAYERS.index("cli")
    if len(parts) == 2 and parts[1] in ("errors", "units"):
        return 0
    return LAYERS.index(parts[1]) if len(parts) > 2 or (ROOT / "simulator" / parts[1]).is_dir() else 0


def _imports(module: str) -> list[tuple[str, ast.AST]]:
    """(imported project module, node) for every import of the module, at any depth."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES and "." in t:
                t = t.rsplit(".", 1)[0]
            if t in MODULES and t != module:
                out.append((t, node))
    return out


def test_every_folder_of_the_package_is_a_known_layer():
    folders = {p.name for p in (ROOT / "simulator").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(LAYERS[1:-1])


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for module in MODULES:
        if module == "simulator":  # the package's face re-exports the API
            continue
        for target, node in _imports(module):
            if target != "simulator" and _layer(target) > _layer(module):
                upward.append(f"{module} (line {node.lineno}) imports {target}")
            if target == "simulator" and module.startswith("simulator."):
                upward.append(f"{module} (line {node.lineno}) imports the package's face")
    assert not upward, "\n".join(upward)


def test_there_is_no_import_circle():
    graph = {m: sorted({t for t, _ in _imports(m)}) for m in MODULES}
    state: dict[str, int] = {}
    circles = []

    def visit(m, trail):
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                circles.append(" -> ".join(trail[trail.index(t):] + [t]))
            elif t not in state:
                visit(t, trail + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert not circles, "\n".join(circles)


def test_imports_sit_at_the_top_of_their_module():
    late = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                name = node.names[0].name if isinstance(node, ast.Import) else (node.module or "")
                if node.__dict__.get("level") or name.split(".")[0] not in LAZY_ALLOWED:
                    late.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not late, "\n".join(late)


def test_no_module_is_longer_than_the_bound():
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, "\n".join(long)


def test_no_function_takes_more_parameters_than_the_bound():
    wide = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                named = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
                n = len(named) - (named[:1] in (["self"], ["cls"]))
                if n > MAX_PARAMETERS:
                    wide.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} takes {n}")
    assert not wide, "\n".join(wide)


@pytest.mark.parametrize("statement", ["import simulator", "import cli.main"])
def test_importing_loads_no_plotting_or_distributed_code(statement):
    code = (f"import sys; {statement}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'dask', 'distributed', 'torch'));"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""



def test_the_readme_layout_is_the_tree_in_order():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    named = [line.split()[0].rstrip(",") for line in lines]
    assert named[:-1] == [f"simulator/{layer}/" for layer in LAYERS[1:-2]]
    assert lines[-1].startswith("simulator/api/, cli/") and len(lines) <= 10
