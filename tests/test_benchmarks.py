"""The benchmark scripts' bookkeeping: merging and resuming result files, and rendering docs/results.md."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import cli_modes  # noqa: E402
import perplexity  # noqa: E402
import write_results  # noqa: E402
import zeroshot  # noqa: E402


def task(acc, n, acc_norm=None):
    return {"acc": acc, "n": n, "seconds": 1.0, **({"acc_norm": acc_norm} if acc_norm is not None else {})}


def test_zeroshot_rows_are_replaced_per_preset_and_limit(tmp_path):
    out = tmp_path / "zs.json"
    zeroshot.write_row(out, {"preset": "fp", "limit": None, "tasks": {"piqa": task(0.6, 10)}})
    zeroshot.write_row(out, {"preset": "fp", "limit": 5, "tasks": {}})
    zeroshot.write_row(out, {"preset": "fp", "limit": None, "tasks": {"piqa": task(0.7, 10)}})
    rows = json.loads(out.read_text())
    assert [(r["preset"], r["limit"]) for r in rows] == [("fp", 5), ("fp", None)]
    assert rows[1]["tasks"]["piqa"]["acc"] == 0.7
    assert list(tmp_path.iterdir()) == [out]  # no temp file left behind


def test_zeroshot_averages_use_acc_where_a_task_has_no_acc_norm():
    averages = zeroshot.averages({"piqa": task(0.6, 10, acc_norm=0.8), "boolq": task(0.4, 10)})
    assert averages == pytest.approx({"avg_acc": 0.5, "avg_acc_norm": 0.6})


def test_zeroshot_table_marks_tasks_not_run():
    rows = [{"preset": "fp", "limit": None, "tasks": {"piqa": task(0.6, 10, 0.7), "boolq": task(0.4, 20)},
             "avg_acc": 0.5, "avg_acc_norm": 0.55},
            {"preset": "rtn-w4a4", "limit": None, "tasks": {"piqa": task(0.5, 10, 0.5)},
             "avg_acc": 0.5, "avg_acc_norm": 0.5}]
    table = "\n".join(write_results.zeroshot_section(rows))
    assert "| fp | all | 0.600 / 0.700 | 0.400 | 0.500 | 0.550 |" in table
    assert "| rtn-w4a4 | all | 0.500 / 0.500 | not run | 0.500 (tasks run only) |" in table
    assert "piqa 10, boolq 20" in table


def test_perplexity_rows_merge_by_preset_seqlen_and_windows(tmp_path):
    out = tmp_path / "ppl.json"
    row = lambda preset, seqlen, ppl: {"preset": preset, "seqlen": seqlen, "max_windows": None, "ppl": ppl}  # noqa: E731
    perplexity.merge([row("fp", 2048, 18.0), row("fp", 1024, 19.0)], out)
    perplexity.merge([row("fp", 2048, 18.5)], out)
    assert sorted((r["seqlen"], r["ppl"]) for r in json.loads(out.read_text())) == [(1024, 19.0), (2048, 18.5)]


@pytest.mark.parametrize("a, b, digits", [(32.87, 32.87, 15), (1.2345, 1.2346, 4), (100.0, 101.0, 2), (1.0, 2.0, 0)])
def test_significant_digits_agreeing(a, b, digits):
    assert cli_modes.significant_digits_agreeing(a, b) == digits


def test_results_rows_follow_the_preset_order():
    names = ["sdllm-w4a4", "fp", "unknown-preset", "rtn-w4a4"]
    ordered = sorted(({"preset": n} for n in names), key=write_results.preset_order)
    assert [r["preset"] for r in ordered] == ["fp", "rtn-w4a4", "sdllm-w4a4", "unknown-preset"]


def test_docs_results_is_generated_from_the_committed_json():
    """docs/results.md must be regenerated (python benchmarks/write_results.py) whenever a result changes."""
    assert write_results.DOC.read_text() == write_results.render()
