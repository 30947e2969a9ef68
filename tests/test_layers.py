"""The package's layers: a module imports from its own package or from a lower layer, never up or sideways, and no
import (at the top of a module or inside a function) closes a cycle."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# lowest first; the packages of a layer do not import one another
LAYERS = [
    {"version", "errors", "replies"},
    {"io", "progress", "precision", "devices", "resources", "ranking"},
    {"config", "bundled", "plots"},
    {"text", "checkpoints"},
    {"data", "training"},
    {"transformer"},
    {"retrieval", "generation"},
    {"scorers", "agents"},
    {"eval", "chat", "packing"},
    {"serve", "demo"},
    {"cli"},
]  # fmt: skip
LAYER = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def confab_imports(path: Path) -> list[tuple[str, int]]:
    """(module imported, line) for every import of a confab module in the file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "confab":
            found += [(node.module, node.lineno)]
            # `from confab.eval import plots`: the module is confab.eval.plots
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names
                      if (SRC / node.module.replace(".", "/") / f"{a.name}.py").exists()]  # fmt: skip
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "confab"]
    return found


def package(module: str) -> str:
    """The part of confab a module belongs to: confab.data.build -> data; confab -> the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, list[tuple[str, int]]]:
    return {module_name(p): confab_imports(p) for p in sorted(SRC.rglob("*.py"))}


def test_every_part_of_the_package_has_a_layer():
    parts = {package(m) for m in graph()} - {""}
    assert parts <= set(LAYER), f"give these a layer: {sorted(parts - set(LAYER))}"


def test_no_module_imports_up_or_sideways():
    wrong = []
    for module, imports in graph().items():
        here = package(module)
        for target, line in imports:
            there = package(target)
            if not here or not there or there == here:
                continue  # the package's __init__ exports the public API; a package may import itself
            if LAYER[there] >= LAYER[here]:
                wrong.append(f"{module}:{line} imports {target} ({there}: layer {LAYER[there]}, {here}: {LAYER[here]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_modules():
    edges = {m: {t for t, _ in imports if t in graph_modules and t != m} for m, imports in graph().items()}
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m) :] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for t in sorted(edges[m]):
            visit(t)
        stack.pop()

    for m in sorted(edges):
        visit(m)
    assert not cycles, [" -> ".join(c) for c in cycles]


graph_modules = set(graph())


def test_the_command_line_starts_without_pytorch():
    """`confab --help` and a bad option answer at once: the commands import the library when they run."""
    import subprocess
    import sys

    code = "import sys, confab.cli; print(sorted(m for m in ('torch', 'transformers', 'spacy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_a_function_imports_confab_modules_only_to_defer_on_purpose():
    """Outside the command line (which keeps PyTorch out of `import confab.cli`), a confab module is imported at the
    top of a module; a function-local one defers a heavy part on purpose and says so in a `# deferred:` comment."""
    undeclared = []
    for path in sorted(SRC.rglob("*.py")):
        if "cli" in path.relative_to(SRC).parts:
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for sub in ast.walk(node):
                module = sub.module if isinstance(sub, ast.ImportFrom) else None
                if module and module.split(".")[0] == "confab":
                    before = "\n".join(lines[node.lineno - 1 : sub.lineno])
                    if "# deferred:" not in before:
                        undeclared.append(f"{module_name(path)}:{sub.lineno} imports {module}")
    assert not undeclared, "import at the top, or say why it is deferred: " + "; ".join(undeclared)
