"""The package's parts import only downward, and no module reaches into another's private names.

The layers are those drawn in docs/architecture.md; an import, deferred ones inside functions included, may
name its own part or a part below it.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nwb_biornn"
LAYERS = ["core", "recordings", "model", "fit", "analysis", "nwbio", "synthetic", "render", "api", "sweep", "cli",
          "__main__"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """``(imported module, names)`` for every import in ``path``, relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield base, tuple(alias.name for alias in node.names)


def _part(module: str) -> str | None:
    """The layer of a module of the package (None for the package itself and for other packages)."""
    parts = module.split(".")
    if parts[0] != "nwb_biornn" or len(parts) == 1:
        return None
    return parts[1]


def _edges():
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _part(_module_name(path)) if path.name != "__init__.py" or path.parent != PACKAGE else None
        for target, names in _imports(path):
            if target == "nwb_biornn":
                for name in names:
                    if name != "__version__":
                        yield path, source, name, name
            else:
                yield path, source, _part(target), target


def test_every_part_is_a_known_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"}
    assert parts == set(LAYERS)


def test_parts_import_only_their_own_layer_or_lower_ones():
    upward = [f"{path.relative_to(PACKAGE.parent)}: {source} imports {target}"
              for path, source, part, target in _edges()
              if source is not None and part is not None and LAYERS.index(part) > LAYERS.index(source)]
    assert not upward, "\n".join(upward)


def test_the_import_graph_between_parts_has_no_cycle():
    graph = {layer: set() for layer in LAYERS}
    for _, source, part, _ in _edges():
        if source is not None and part is not None and part != source:
            graph[source].add(part)
    seen, on_path = set(), []

    def visit(node):
        if node in on_path:
            pytest.fail("import cycle: " + " -> ".join(on_path[on_path.index(node):] + [node]))
        if node in seen:
            return
        on_path.append(node)
        for successor in sorted(graph[node]):
            visit(successor)
        on_path.pop()
        seen.add(node)

    for layer in LAYERS:
        visit(layer)


def test_no_module_imports_another_modules_private_names():
    private = [f"{path.relative_to(PACKAGE.parent)}: {name} from {target}"
               for path in sorted(PACKAGE.rglob("*.py")) for target, names in _imports(path)
               if target.startswith("nwb_biornn") for name in names if name.startswith("_") and name != "__version__"]
    assert not private, "\n".join(private)
