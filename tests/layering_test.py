"""The package's imports point downward only, with no circles and no
private names borrowed across modules."""

import ast
import pathlib

import pytest

import keras_mm
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent

PACKAGE = pathlib.Path(keras_mm.__file__).parent

# A part may import parts of lower rank only (and itself).
RANKS = {
    "version": 0,
    "api_export": 0,
    "utils": 0,
    "data": 1,
    "metrics": 1,
    "schedules": 1,
    "layers": 2,
    "datasets": 2,
    "base": 3,
    "encoders": 4,
    "fusion": 4,
    "heads": 4,
    "optimizers": 4,
    "models": 5,
    "builders": 6,
    "callbacks": 6,
    "distribution": 6,
    "visualize": 6,
    "export": 7,
    "demo": 8,
    "__init__": 9,
    "tables": 8,
}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def part(module):
    """`keras_mm.encoders.image` -> `"encoders"`; `keras_mm` -> `"__init__"`."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path, known):
    """`(imported module, imported names, line)` of every keras_mm import in
    `path`, at any depth (inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("keras_mm"):
                    found.append((alias.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if not node.module.startswith("keras_mm") or node.level:
                continue
            names = [alias.name for alias in node.names]
            submodules = [f"{node.module}.{n}" for n in names]
            if all(m in known for m in submodules):
                found += [(m, [], node.lineno) for m in submodules]
            else:
                found.append((node.module, names, node.lineno))
    return found


def upward_imports(known):
    found = []
    for module, path in known.items():
        for imported, _, line in imports(path, known):
            here, there = part(module), part(imported)
            if here != there and RANKS[there] >= RANKS[here]:
                found.append(f"{module}:{line} imports {imported}")
    return found


def borrowed_names(known):
    return [
        f"{module}:{line} imports {name} from {imported}"
        for module, path in known.items()
        for imported, names, line in imports(path, known)
        for name in names
        if name.startswith("_")
        and not name.endswith("__")
        and imported != module
    ]


def circles(known):
    # A package's `__init__` imports its own modules; leave those out, so
    # that a module importing a sibling through its package is no circle.
    graph = {
        module: sorted(
            imported
            for imported, _, _ in imports(path, known)
            if imported in known
            and imported != module
            and known[imported].name != "__init__.py"
        )
        for module, path in known.items()
        if path.name != "__init__.py"
    }
    found, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        for imported in graph.get(module, ()):
            if state.get(imported) == "open":
                found.append(" -> ".join(stack[stack.index(imported) :]))
            elif imported not in state:
                visit(imported, stack + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


class LayeringTest(TestCase):
    def test_every_part_has_a_rank(self):
        self.assertEqual(sorted({part(m) for m in modules()} - set(RANKS)), [])

    def test_imports_point_down(self):
        self.assertEqual(upward_imports(modules()), [])

    def test_no_private_names_across_modules(self):
        self.assertEqual(borrowed_names(modules()), [])

    def test_no_circles(self):
        self.assertEqual(circles(modules()), [])

    def test_each_check_finds_its_fault(self):
        root = pathlib.Path(self.get_temp_dir())
        files = {
            "keras_mm/models/a.py": "from keras_mm.models.b import x\n",
            "keras_mm/models/b.py": (
                "def f():\n    from keras_mm.models.a import _y\n"
            ),
            "keras_mm/layers/c.py": (
                "def g():\n    from keras_mm.models import a\n"
            ),
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        known = {
            name[: -len(".py")].replace("/", "."): root / name for name in files
        }
        self.assertEqual(
            upward_imports(known),
            ["keras_mm.layers.c:2 imports keras_mm.models.a"],
        )
        self.assertEqual(
            borrowed_names(known),
            ["keras_mm.models.b:2 imports _y from keras_mm.models.a"],
        )
        self.assertEqual(
            circles(known), ["keras_mm.models.a -> keras_mm.models.b"]
        )
