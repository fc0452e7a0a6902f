"""The house in figures: modules, lines, import circles, imports that run upward, weights readers.

Why by hand: the import-linter and pydeps packages answer parts of this, but neither knows the
project's layer order nor reads the module names that `importlib.import_module` is given as
strings (the way a registry can hide a dependency); this reads every import statement (at module
level and inside functions) and every string literal that names a module of the tree.

The layer order (lowest first; a module may import its own layer and the ones below):

    render                         the standalone page library: imports nothing of ecgimg
    ecgimg.{distributed,weights}   process-group helpers, the one weights reader
    ecgimg.data                    records, caches, datasets, image preprocessing
    ecgimg.models                  signal and image networks, the registry
    ecgimg.ssl                     self-supervised wrappers and objectives
    ecgimg.train                   the engine
    ecgimg.evaluate                metrics, statistics, report
    ecgimg.{pages,predict}         batch page rendering, scan inference
    ecgimg.{experiments,config,cli}  runners, configs, the command line

Weights: the modules that open a weights file (`torch.load`, safetensors' `load_file`,
`load_model`, `safe_open`) and those that put a state dict into a model (`.load_state_dict` on
anything but an optimizer, scheduler or grad scaler), in the packages and in benchmarks/.

Usage: python scripts/structure.py [ROOT] [--json]
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

LAYERS = [
    ("render",),
    ("ecgimg", "ecgimg.distributed", "ecgimg.weights"),
    ("ecgimg.data",),
    ("ecgimg.models",),
    ("ecgimg.ssl",),
    ("ecgimg.train",),
    ("ecgimg.evaluate",),
    ("ecgimg.pages", "ecgimg.predict"),
    ("ecgimg.experiments", "ecgimg.config", "ecgimg.cli"),
]
PACKAGES = ("ecgimg", "render")


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages under `root`."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest prefix that names `module` (a package covers its modules)."""
    best, best_len = None, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_len:
                best, best_len = index, len(name)
    if best is None:
        raise ValueError(f"{module}: in no layer")
    return best


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The tree's module that `import name` loads (a name inside a module counts as the module)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> dict[str, str]:
    """{imported module of the tree: "import" or "string"} for one file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                     for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules:
            target = node.value
            if target != module and not found.get(target):
                found[target] = "string"
            continue
        for name in names:
            target = _resolve(name, modules)
            if target and target != module:
                found[target] = "import"
    return found


def graph(root: Path) -> tuple[dict[str, Path], dict[str, dict[str, str]]]:
    modules = module_files(root)
    return modules, {m: imports_of(m, p, modules) for m, p in modules.items()}


def _into_own_package(module: str, target: str) -> bool:
    """A module importing its own package's __init__ (``from ecgimg.train import x``): Python
    loads the package first anyway, so this is no loop of its own."""
    return module.startswith(target + ".")


def circles(edges: dict[str, dict[str, str]], strings: bool = True) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan); `strings=False` follows
    import statements only."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]
    succ = {m: [t for t, how in targets.items() if not _into_own_package(m, t)
                and (strings or how == "import")]
            for m, targets in edges.items()}

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in succ.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(succ):
        if node not in index:
            visit(node)
    return result


def upward(edges: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    """(importer, imported, how) for every import into a higher layer, and render -> ecgimg."""
    rows = []
    for module, targets in sorted(edges.items()):
        for target, how in sorted(targets.items()):
            if layer_of(target) > layer_of(module) or (
                    module.split(".")[0] == "render" and target.split(".")[0] != "render"):
                rows.append((module, target, how))
    return rows


WEIGHT_READERS = {"load_file", "load_model", "safe_open", "_st_load_model"}
NOT_MODELS = ("optim", "sched", "scaler")


def weights_calls(path: Path) -> tuple[int, int]:
    """(calls that open a weights file, calls that load a state dict into a model) in one file."""
    reads = loads = 0
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in WEIGHT_READERS or (name == "load" and isinstance(func, ast.Attribute)
                                      and ast.unparse(func.value) == "torch"):
            reads += 1
        elif name == "load_state_dict" and isinstance(func, ast.Attribute) and not any(
                word in ast.unparse(func.value).lower() for word in NOT_MODELS):
            loads += 1
    return reads, loads


def weights_paths(root: Path) -> dict[str, list[str]]:
    """Files (package and benchmarks) that open weights files / load state dicts into models."""
    files = [*module_files(root).values(), *sorted((root / "benchmarks").glob("*.py"))]
    readers, loaders, unparsed = [], [], []
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            reads, loads = weights_calls(path)
        except SyntaxError as err:
            unparsed.append(f"{rel}: {err}")
            continue
        readers += [rel] * bool(reads)
        loaders += [rel] * bool(loads)
    return {"open_weights_files": readers, "load_state_into_models": loaders,
            "not_parsed": unparsed}


def code_lines(path: Path) -> int:
    """Lines that are not blank and not only a comment."""
    return sum(1 for line in path.read_text().splitlines()
               if line.strip() and not line.strip().startswith("#"))


def measure(root: Path) -> dict:
    modules, edges = graph(root)
    return {
        "modules": len(modules),
        "lines": sum(len(p.read_text().splitlines()) for p in modules.values()),
        "code_lines": sum(code_lines(p) for p in modules.values()),
        "circles": circles(edges),
        "circles_of_import_statements": circles(edges, strings=False),
        "upward": upward(edges),
        **weights_paths(root),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=Path(__file__).resolve().parents[1], type=Path)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.root)
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"modules {figures['modules']}, lines {figures['lines']} "
          f"({figures['code_lines']} not blank or comment)")
    print(f"import circles: {len(figures['circles'])} "
          f"({len(figures['circles_of_import_statements'])} of import statements alone)")
    for component in figures["circles"]:
        print("  " + " <-> ".join(component))
    for component in figures["circles_of_import_statements"]:
        print("  statements: " + " <-> ".join(component))
    print(f"upward imports: {len(figures['upward'])}")
    for module, target, how in figures["upward"]:
        print(f"  {module} -> {target}" + (" (by string)" if how == "string" else ""))
    for key, label in (("open_weights_files", "modules that open weights files"),
                       ("load_state_into_models", "modules that load state dicts into models")):
        print(f"{label}: {len(figures[key])}")
        for rel in figures[key]:
            print(f"  {rel}")
    for line in figures["not_parsed"]:
        print(f"not parsed: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
