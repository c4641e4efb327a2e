"""The import graph of our own packages has no cycles, and only the CLI imports the CLI.

Read from the source with `ast`, nothing is imported: every `import` statement counts, at module level
or inside a function, relative imports are resolved against the importing module, and
`from pkg import name` points at `pkg.name` when that is a submodule (else at `pkg`). A package's
`__init__` is a module of its own, so `import neuro_llm.spiking.codes` draws an edge to
`neuro_llm.spiking.codes` (and not to `neuro_llm.spiking`: Python runs the parent `__init__` first,
but that is a fixed order, not a cycle anybody can trip over).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("neuro_llm", "analysis", "neurons")


def modules() -> dict:
    """Dotted module name -> source path, for every .py file under our packages."""
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(name: str, known: dict) -> str | None:
    """The longest known module that `name` is or lies inside (`a.b.c` -> `a.b` when c is a function)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, known: dict) -> set:
    """The modules of ours that `module` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, known)
                if target:
                    out.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                # `from . import x` in a package __init__ is relative to the package itself
                drop = node.level - 1 if is_package else node.level
                base = base[: len(base) - drop] if drop else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            for alias in node.names:
                target = _resolve(f"{prefix}.{alias.name}", known)
                if target:
                    out.add(target)
    out.discard(module)
    return out


def graph() -> dict:
    known = modules()
    return {m: imports_of(m, p, known) for m, p in known.items()}


def find_cycles(edges: dict) -> list:
    """Strongly connected components with more than one module (Tarjan), each sorted: every module of an
    import cycle is in one of them (:func:`cycle_path` shows one cycle through each)."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return comps


def cycle_path(edges: dict, comp: list) -> list:
    """One shortest cycle inside a strongly connected component, as [a, b, ..., a] (breadth first)."""
    members = set(comp)
    best = None
    for start in comp:
        prev, frontier, closed = {start: None}, [start], None
        while frontier and closed is None:
            nxt = []
            for v in frontier:
                if start in edges[v]:
                    closed = v
                    break
                for w in sorted(edges[v] & members):
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        path = [closed]
        while prev[path[-1]] is not None:
            path.append(prev[path[-1]])
        path = path[::-1] + [start]
        if best is None or len(path) < len(best):
            best = path
    return best


def describe(edges: dict, comps: list) -> str:
    lines = []
    for comp in comps:
        lines.append(f"cycle among {len(comp)} modules: {', '.join(comp)}")
        lines.append("  e.g. " + " -> ".join(cycle_path(edges, comp)))
    return "\n".join(lines)


def test_no_import_cycles():
    edges = graph()
    comps = find_cycles(edges)
    assert not comps, "import cycles:\n" + describe(edges, comps)


def test_only_the_cli_imports_the_cli():
    edges = graph()
    offenders = sorted(
        f"{m} -> {t}"
        for m, targets in edges.items()
        if not m.startswith("neuro_llm.cli")
        for t in targets
        if t == "neuro_llm.cli" or t.startswith("neuro_llm.cli.")
    )
    assert not offenders, "outside neuro_llm/cli, these import the CLI:\n" + "\n".join(offenders)


def test_core_imports_nothing_of_ours():
    """neuro_llm/core/ is the ground floor (docs/architecture.md): stdlib and torch only."""
    edges = graph()
    offenders = sorted(f"{m} -> {t}" for m, targets in edges.items() if m.startswith("neuro_llm.core")
                       for t in targets if not t.startswith("neuro_llm.core"))
    assert not offenders, "neuro_llm/core imports from a floor above it:\n" + "\n".join(offenders)


def test_the_graph_sees_what_it_should():
    """The reader itself: relative, function-local and `from pkg import submodule` imports all count."""
    edges = graph()
    assert "neuro_llm.spiking.linear" in edges
    # `from .spiking.linear import ...` style relative imports and plain ones both resolve
    assert any(t.startswith("neuro_llm.") for t in edges["neuro_llm.convert"])
    assert "neurons.functional" in edges["neurons.gif"] or "neurons._graded" in edges["neurons.gif"]


if __name__ == "__main__":
    edges = graph()
    comps = find_cycles(edges)
    print(describe(edges, comps) or "no cycles")
