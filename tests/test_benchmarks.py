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
    assert "| fp | all | 0.600 ± 0.163 / 0.700 | 0.400 ± 0.112 | 0.500 | 0.550 |" in table
    assert "| rtn-w4a4 | all | 0.500 ± 0.167 / 0.500 | not run | 0.500 (tasks run only) |" in table
    assert "piqa 10, boolq 20" in table


def test_zeroshot_table_has_baselines_and_an_average_over_tasks_fp_beats_chance():
    rows = [{"preset": "fp", "limit": None, "tasks": {"piqa": task(0.7, 1000), "boolq": task(0.4, 1000)},
             "avg_acc": 0.55, "avg_acc_norm": 0.55},
            {"preset": "q", "limit": None, "tasks": {"piqa": task(0.6, 1000), "boolq": task(0.62, 1000)},
             "avg_acc": 0.61, "avg_acc_norm": 0.61}]
    baselines = {"tasks": {"piqa": {"chance": 0.5, "majority": 0.51}, "boolq": {"chance": 0.5, "majority": 0.62}}}
    table = "\n".join(write_results.zeroshot_section(rows, baselines))
    assert "| *chance (uniform guess)* | all | 0.500 | 0.500 | | |" in table
    assert "| *majority class (most frequent answer)* | all | 0.510 | 0.620 | | |" in table
    assert "(piqa;" in table and "| fp | 0.700 |" in table and "| q | 0.600 |" in table   # boolq left out
    assert "boolq: the FP model (0.400) scores below always giving the most frequent answer (0.620)" in table


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
    def settled(text):   # the Stale flags come from git history (they change with every commit to the code)
        return [line for line in text.splitlines() if not line.startswith(write_results.STALE)]

    assert settled(write_results.DOC.read_text()) == settled(write_results.render())


def test_sdllm_curve_points_labels_and_resume(tmp_path):
    import sdllm_curve

    pts = sdllm_curve.points(["rtn"], [1.0, 3.0], [None, 15], ["ternary"], ["t2"])
    labels = [sdllm_curve.label(p) for p in pts]
    assert labels == ["spikellm-rtn-w4a4-t2", "sdllm-rtn-w4-k1-capnone", "sdllm-rtn-w4-k3-capnone",
                      "sdllm-rtn-w4-k1-cap15", "sdllm-rtn-w4-k3-cap15"]
    out = tmp_path / "curve.json"
    row = {"label": labels[1], "seqlen": 1024, "max_windows": 4, "budget": "cpu", "ppl": 50.0}
    sdllm_curve.write_row(out, row)
    sdllm_curve.write_row(out, dict(row, ppl=40.0))
    sdllm_curve.write_row(out, dict(row, max_windows=None))
    rows = sdllm_curve.read_rows(out)
    assert [(r["max_windows"], r["ppl"]) for r in rows] == [(4, 40.0), (None, 50.0)]
    assert list(tmp_path.iterdir()) == [out]


def test_sdllm_curve_section_checks_the_issue_criterion():
    def row(method, ppl, events, **settings):
        st = dict(method=method, weight_method="rtn", **settings)
        acc = {"token_steps_mean": 2.0, "token_steps_max": 9, "clip_rate": 0.0}
        return {"label": f"{method}-{ppl}", "settings": st, "seqlen": 1024, "max_windows": 4, "budget": "cpu",
                "device": "CPU", "windows": 4, "tokens": 4092, "ppl": ppl, "events_per_activation": events,
                "unit_spikes_per_activation": events, "accounting": acc}

    rows = [row("spikellm", 60.0, 1.04, extra_steps=1),
            row("sdllm", 42.0, 2.99, threshold_k=3.0, count_cap=None, spike_train="ternary"),
            row("sdllm", 30.0, 5.9, threshold_k=6.0, count_cap=None, spike_train="ternary")]
    text = "\n".join(write_results.sdllm_curve_section(rows))
    assert "ternary trains: best sdllm point at ≤ 3 spike events per activation is sdllm-42.0" in text
    assert "perplexity criterion met" in text
