"""The README's Python example runs as written on the real SmolLM2-135M (with smaller sizes swapped in)."""
import re
from pathlib import Path

import pytest

import neuro_llm

pytestmark = pytest.mark.slow   # real model / notebooks / lm-eval: minutes on a CPU; CI runs them

README = Path(__file__).resolve().parent.parent / "README.md"
SMALLER = [  # (what the README says, what the test runs): each must be found, so README edits show up here
    ("extra_steps=1)", "extra_steps=1, calib_windows=1, calib_seqlen=64)"),
    ("seqlen=1024, max_windows=4", "seqlen=128, max_windows=1"),
]


def python_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "the README should hold one Python example"
    return blocks[0]


def test_readme_example_is_short():
    assert len([line for line in python_block().splitlines() if line.strip()]) <= 10


def test_readme_example_runs(smollm2, monkeypatch, capsys):
    code = python_block()
    for old, new in SMALLER:
        assert old in code, f"the README example changed: {old!r} not found"
        code = code.replace(old, new)
    monkeypatch.setattr(neuro_llm, "load_model", lambda name: smollm2)  # loaded once for the whole session
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    ppl, bits, rate = map(float, printed[0].split())   # the three numbers its comment names
    assert 5 < ppl < 200 and 0 < rate < 1 and bits > 4
    assert namespace["steps"] and {t for _, t in namespace["steps"]} == {0, 1}  # salient channels: 2 steps
    assert namespace["hidden"].shape[-1] == namespace["model"].config.hidden_size  # blocks 0-1 only
    assert "The capital of France is" in printed[1] and "tensor(" not in printed[1]  # decoded text, not ids
