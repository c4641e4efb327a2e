"""Golden real-model numbers (CPU, float32): the README's quick start (SmolLM2, spikellm W4A4 t2, explicit,
4 × 1024 WikiText-2 tokens), one SDLLM run and the FP model re-run and compared with
``benchmarks/results/golden.json`` — perplexity and spike statistics to the digits ``neuro-llm eval`` prints
(tolerance: half a unit of the last printed digit, integer totals exactly; stated in the JSON, which also
records the variation measured when it was made). Explicit == collapsed bit for bit on the quick-start run.

A change that moves these numbers on purpose: ``python benchmarks/golden.py`` then
``python benchmarks/write_results.py`` (README's quick-start line and docs/results.md follow the JSON).
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import golden  # noqa: E402

pytestmark = pytest.mark.slow   # the real model, about a minute a run on a quiet 2-core CPU; CI runs them


@pytest.fixture(scope="module")
def pinned():
    import json

    if not golden.GOLDEN.exists():
        pytest.fail(f"{golden.GOLDEN} is missing: run python benchmarks/golden.py")
    return json.loads(golden.GOLDEN.read_text())


@pytest.fixture(scope="module")
def quick_start(smollm2):
    return golden.measure("spikellm-w4a4-t2", smollm2)


def test_quick_start_matches_golden(quick_start, pinned):
    for mode in ("explicit", "collapsed"):
        bad = golden.compare(quick_start[mode], pinned["runs"]["spikellm-w4a4-t2"][mode], pinned["tolerance"])
        assert not bad, f"spikellm-w4a4-t2 {mode} moved (regenerate with python benchmarks/golden.py if on purpose): {bad}"


def test_quick_start_explicit_equals_collapsed(quick_start):
    explicit, collapsed = ({k: v for k, v in quick_start[m].items() if k != "seconds"} for m in ("explicit", "collapsed"))
    assert explicit == collapsed


@pytest.mark.parametrize("name", ["sdllm-w4", "fp"])
def test_run_matches_golden(smollm2, pinned, name):
    measured = golden.measure(name, smollm2)
    for mode, want in pinned["runs"][name].items():
        bad = golden.compare(measured[mode], want, pinned["tolerance"])
        assert not bad, f"{name} {mode} moved (regenerate with python benchmarks/golden.py if on purpose): {bad}"


def test_tolerance_is_stated_and_covers_the_measured_variation(pinned):
    tolerance, variation = pinned["tolerance"], pinned["measured_variation"]
    assert variation["what"] and all(variation[k] <= tolerance[k] for k in tolerance if k in variation)
