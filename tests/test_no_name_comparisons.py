"""No library module in the spiking, calibration and export floors (and the configuration) compares a spike code,
method or mode name against a string literal: they ask the registered objects instead
(:mod:`neuro_llm.spiking.codes`, :mod:`neuro_llm.core.methods`, :mod:`neuro_llm.core.modes`), which are the only
places where the names are spelled out. Read from the source with ``ast`` (nothing is imported)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCOPE = ("neuro_llm/spiking", "neuro_llm/calibrate", "neuro_llm/export", "neuro_llm/config.py", "neurons")
REGISTRIES = {"neuro_llm/spiking/codes/registry.py", "neuro_llm/core/methods.py", "neuro_llm/core/modes.py"}
NAMES = {"gif", "ternary", "adaptive-ternary", "bitwise", "graded",                 # spike codes and trains
         "fp", "rtn", "gptq", "omniquant", "pbllm", "spikellm", "sdllm",            # methods
         "explicit", "collapsed", "token", "running", "mean", "max", "int"}         # modes and choices


def _files():
    for entry in SCOPE:
        path = ROOT / entry
        yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def _literals(node) -> list[str]:
    """The string constants of a comparison operand (a literal, or a tuple/list/set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [v for elt in node.elts for v in _literals(elt)]
    return []


def name_comparisons(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                hits = [v for v in _literals(operand) if v in NAMES]
                if hits:
                    found.append(f"{path}:{node.lineno} compares against {hits}")
    return found


def test_no_code_method_or_mode_name_is_compared_outside_the_registries():
    offenders = [hit for path in _files() if str(path.relative_to(ROOT)) not in REGISTRIES
                 for hit in name_comparisons(path)]
    assert not offenders, "\n".join(offenders)


def test_the_check_sees_a_comparison(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("if code.kind == 'gif' or mode in ('explicit', 'x'):\n    pass\n")
    assert len(name_comparisons(path)) == 2
