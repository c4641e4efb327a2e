"""No hand-typed numbers in the README and docs/concepts.md: every decimal figure of their prose is a value (at the printed digits) of
a result JSON under ``benchmarks/results`` that records where it came from, and the quick-start line is the
one ``benchmarks/write_results.py`` renders from ``golden.json``.

When a result is regenerated and a number moves, this fails until the README quotes the new number:
``python benchmarks/write_results.py`` rewrites the generated blocks (quick start, docs/results.md,
docs/energy.md's example); a figure in the README's prose is edited to the value the test names.
"""
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
import write_results  # noqa: E402

GIB = 2.0 ** -30


def ratio(file, a, b):
    """A figure the README derives: ``a / b`` of two values of one row (functions of the loaded JSON)."""
    return file, lambda data: [row[a] / row[b] for row in _rows(data) if row.get(a) is not None and row.get(b)]


def _rows(data):
    return data.get("rows", [data]) if isinstance(data, dict) else data


def _encoder_speedup(data):
    """SpikingJelly's IFNode time over the fused encoder's, per T."""
    rows = data["rows"]
    fused = {r["steps"]: r["seconds"] for r in rows if "fused" in r["encoder"]}
    return [r["seconds"] / fused[r["steps"]] for r in rows if "spikingjelly" in r["encoder"] and r["steps"] in fused]


# Every decimal figure of the README's prose, bound to the result it quotes: (figure, file, where). ``where`` is a
# regular expression on the value's key path in the JSON (the figure must equal one such value at the printed
# digits), optionally with a scale, or a function of the JSON returning candidate values. A regenerated JSON whose
# value moves fails here until the README (and this table's figure) say the new value.
CLAIMS = [
    ("18.46", "perplexity.json", r"collapsed/ppl$"), ("58.1", "perplexity.json", r"collapsed/ppl$"),
    ("65.8", "perplexity.json", r"collapsed/ppl$"), ("47.8", "perplexity.json", r"collapsed/ppl$"),
    ("59.5", "perplexity.json", r"collapsed/ppl$"), ("33.5", "perplexity.json", r"collapsed/ppl$"),
    ("43.2", "perplexity_gemma3-270m.json", r"collapsed/ppl$"),
    ("0.439", "zeroshot.json", r"/avg_acc$"), ("0.369", "zeroshot.json", r"/avg_acc$"),
    ("1.63", "decode_cuda.json", r"graphed/ratio_to_dense_bf16$"),
    ("1.99", "decode_cuda.json", r"graphed/ratio_to_dense_bf16$"),
    ("1.31", "gpu_layer_cuda.json", r"/graph_vs_bf16_graph$"), ("1.28", "gpu_layer_cuda.json", r"/graph_vs_bf16_graph$"),
    ("1.92", "gpu_layer_cuda.json", r"/graph_observed_vs_bf16_graph$"),
    ("1.89", "gpu_layer_cuda.json", r"/graph_observed_vs_bf16_graph$"),
    ("1.77", "gpu_layer_cuda.json", r"/time_vs_bf16$"), ("1.71", "gpu_layer_cuda.json", r"/time_vs_bf16$"),
    ("1.04", "gpu_layer_cuda.json", r"/graph_vs_bf16_graph$"),
    ("1.29", "gpu_layer_cuda.json", r"/graph_observed_vs_bf16_graph$"),
    ("0.50", "gpu_layer_cuda.json", r"/weight_vs_fp16$"),
    ("2.0", "eval_speed_cuda.json", r"/vs_dense_eager$"), ("1.7", "eval_speed_cuda.json", r"/vs_dense_eager$"),
    ("2.9", "eval_speed_cuda.json", r"/vs_dense_eager$"), ("3.8", "eval_speed_cuda.json", r"/vs_dense_eager$"),
    ("5.0", "encoder_cuda_rerun.json", r"/vs_floor$"), ("2.5", "encoder_cuda_rerun.json", r"/vs_floor$"),
    ("7.8", "encoder_cuda_rerun.json", _encoder_speedup), ("18", "encoder_cuda_rerun.json", _encoder_speedup),
    ("1.02", "streaming_llama70b_cuda_b4.json", r"^/streamed_over_resident$"),
    ("1.02", "streaming_llama7b_cuda_b4.json", r"^/streamed_over_resident$"),
    ("15.8", "streaming_llama70b_cuda.json", r"^/streamed_ms_per_layer$"),
    ("15.6", "streaming_llama70b_cuda.json", r"^/copy_floor_ms_per_layer$"),
    ("9.0", "streaming_llama70b_cuda_packed.json", r"^/streamed_ms_per_layer$"),
    ("4.7", "streaming_llama70b_cuda.json", r"^/resident_ms_per_layer$"),
    ("3.2", "streaming_llama70b_cuda.json", (r"^/streamed_peak_bytes$", GIB)),
    ("4.3", "convert_gpu_llama70b_cuda.json", (r"^/convert_peak_bytes$", GIB)),
    ("2.7", *ratio("convert_gpu_llama70b_cuda.json", "convert_peak_bytes", "fp16_block_bytes")),
    ("1.13", "energy_smollm2.json", r"spikellm-w4a4-t2/presets/45nm-fp16/memory/ratio_vs_dense_int$"),
    ("1.25", "energy_smollm2.json", r"spikellm-w4a4-t2/presets/45nm-fp16/memory/ratio_blocks_vs_dense_int$"),
    ("1.02", "energy_smollm2.json", r"spikellm-w4a4-t2/presets/45nm-fp16/memory/ratio_band\[0\]$"),
    ("1.23", "energy_smollm2.json", r"spikellm-w4a4-t2/presets/45nm-fp16/memory/ratio_band\[1\]$"),
    ("0.64", "energy_smollm2.json", r"spikellm-w4a4-t2/presets/45nm-fp16/memory/ratio_vs_dense_fp16$"),
    ("1.20", "golden.json", r"sdllm-w4.*events_per_activation$"),
    ("1.01", "energy_smollm2.json", r"sdllm-w4a4/presets/45nm-fp16/memory/ratio_(blocks_)?vs_dense_int$"),
    ("0.95", "energy_smollm2.json", r"sdllm-w4a4/presets/45nm-fp16/memory/ratio_band\[0\]$"),
    ("1.07", "energy_smollm2.json", r"sdllm-w4a4/presets/45nm-fp16/memory/ratio_band\[1\]$"),
    ("2.32", "energy_smollm2.json", r"sdllm-w4a4-ternary/presets/45nm-fp16/memory/ratio_vs_dense_int$"),
    ("39.0", "energy_smollm2.json", r"spikellm-w4a4-t2/presets/loihi/memory/ratio_vs_dense_int$"),
    ("5.26", "energy_smollm2.json", r"sdllm-w4a4/presets/loihi/memory/ratio_vs_dense_int$"),
]
# docs/concepts.md's measured figures
CONCEPTS_CLAIMS = [
    ("65.8", "perplexity.json", r"collapsed/ppl$"), ("59.5", "perplexity.json", r"collapsed/ppl$"),
    ("58.1", "perplexity.json", r"collapsed/ppl$"), ("47.8", "perplexity.json", r"collapsed/ppl$"),
    ("33.5", "perplexity.json", r"collapsed/ppl$"), ("37.4", "perplexity.json", r"collapsed/ppl$"),
    ("42.1", "sdllm_curve.json", r"^\[\d+\]/ppl$"),
    ("1.9", "sdllm_curve.json", (r"^\[\d+\]/ppl$", 1e-6)),     # 1.9·10⁶
]
# figures that are not results (each with the reason)
NOT_RESULTS = {"2.0": "SpikingJelly 2.0, a version", "0.9": "snntorch's default beta, a parameter", "8.9": "CUDA compute capability",
               "1.13": "SpikingBrain report's figure, quoted as theirs", "3.0": "a default (k = 3.0)",
               "2604.16475": "arXiv id", "2509.05276": "arXiv id"}
DOCS = {"README.md": CLAIMS, "docs/concepts.md": CONCEPTS_CLAIMS}
ALL_CLAIMS = [(doc, *claim) for doc, claims in DOCS.items() for claim in claims]


def leaves(node, path=""):
    """``(key path, number)`` of every number in a JSON document."""
    if isinstance(node, bool):
        return
    if isinstance(node, (int, float)):
        yield path, float(node)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, f"{path}[{i}]")


def candidates(data, where) -> list[float]:
    if callable(where):
        return where(data)
    pattern, scale = where if isinstance(where, tuple) else (where, 1.0)
    return [v * scale for path, v in leaves(data) if re.search(pattern, path)]


def printed(value: float, figure: str) -> str:
    return f"{value:.{len(figure.split('.')[1]) if '.' in figure else 0}f}"


def prose(text: str) -> str:
    """The README without code blocks, generated blocks, HTML comments, links' targets and image lines."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(re.escape(write_results.QUICK_START) + ".*?" + re.escape(write_results.QUICK_END), "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith("!["))


def figures(text: str) -> list[str]:
    """Decimal figures (``72.074``, ``1.31×``, ``0.50×``), not versions (``2.13.0``) nor parts of names."""
    return re.findall(r"(?<![\w.\-])(\d+\.\d+)(?![\w.]*\d)", text)


@pytest.mark.parametrize("doc", list(DOCS))
def test_every_figure_is_claimed(doc):
    """A decimal figure in the prose that no claim binds to a result is hand-typed: bind it or remove it."""
    text = prose((ROOT / doc).read_text(encoding="utf-8"))
    claimed = {figure for figure, *_ in DOCS[doc]}
    loose = sorted({f for f in figures(text) if f not in claimed and f not in NOT_RESULTS}, key=float)
    assert not loose, f"{doc}: figures bound to no result (tests/test_docs_numbers.py): {loose}"


@pytest.mark.parametrize("doc, figure, name, where", ALL_CLAIMS, ids=[f"{c[0]}:{c[1]}-{c[2]}" for c in ALL_CLAIMS])
def test_figure_equals_its_result(doc, figure, name, where):
    text = prose((ROOT / doc).read_text(encoding="utf-8"))
    assert re.search(rf"(?<![\w.]){re.escape(figure)}(?![\w.]*\d)", text), \
        f"{figure} is no longer in {doc}: drop its claim"
    path = RESULTS / name
    assert path.exists(), f"{name} is gone: the README's {figure} has no source"
    values = candidates(json.loads(path.read_text()), where)
    assert values, f"{name} holds no value where the claim looks ({where})"
    assert figure in {printed(v, figure) for v in values}, \
        (f"{doc} says {figure}, {name} now says {sorted({printed(v, figure) for v in values})[:8]}: quote the "
         "regenerated number (the doc and this claim)")


def test_quick_start_line_is_the_golden_run():
    golden = write_results.load("golden.json")
    if golden is None:
        pytest.fail("benchmarks/results/golden.json is missing: run python benchmarks/golden.py")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert write_results.quick_start(golden) in text, \
        "README's quick-start line is stale: run python benchmarks/write_results.py"


def test_figure_finder():
    assert figures("ppl 72.074, 1.31× and 0.50× its bytes; torch 2.13.0; sm_90; W4A4; 4.5") == \
        ["72.074", "1.31", "0.50", "4.5"]
