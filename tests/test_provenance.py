"""Every result JSON records where it came from (commit, versions, device, dtype, seed, command)."""
import json
import re
import subprocess
from pathlib import Path

from neuro_llm.core import provenance as prov

ROOT = Path(__file__).resolve().parents[1]


def test_provenance_names_commit_versions_device_dtype_seed_and_command():
    record = prov.provenance(device="cpu", dtype="torch.bfloat16", seed=3, command="neuro-llm eval --x")
    assert {"commit", "dirty", "versions", "device", "dtype", "seed", "command", "created"} <= set(record)
    assert set(record["versions"]) >= {"torch", "transformers", "triton", "snntorch", "neuro_llm", "python"}
    assert (record["dtype"], record["seed"], record["command"]) == ("bfloat16", 3, "neuro-llm eval --x")
    assert record["device"].startswith("CPU (")
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert record["commit"] == head.strip() and isinstance(record["dirty"], bool)


def test_write_result_adds_provenance_to_a_dict_and_keeps_rows_as_they_are(tmp_path):
    out = prov.write_result(tmp_path / "sub" / "r.json", {"ppl": 1.5}, device="cpu", seed=0)
    data = json.loads(out.read_text())
    assert data["ppl"] == 1.5 and data["provenance"]["seed"] == 0
    rows = [prov.stamp({"preset": "a"}, device="cpu"), {"preset": "old"}]
    data = json.loads(prov.write_result(tmp_path / "rows.json", rows).read_text())
    assert [r.get("provenance") is not None for r in data] == [True, False]   # old rows are not re-stamped


def test_command_line_reads_like_what_was_typed():
    assert prov.command_line([str(ROOT / "benchmarks" / "golden.py"), "--out", "x y"]) == \
        "python benchmarks/golden.py --out 'x y'"
    assert prov.command_line(["/usr/bin/neuro-llm", "eval"]) == "neuro-llm eval"


def test_every_result_writer_goes_through_write_result():
    """No benchmark or command writes JSON by hand (json.dumps + write_text, write_json_atomic): each writes
    through :func:`neuro_llm.core.provenance.write_result` (or ``report.write_json``, which calls it)."""
    raw = re.compile(r"write_text\(json\.dumps|json\.dump\(|write_json_atomic\(")
    offenders = []
    for path in [*sorted((ROOT / "benchmarks").glob("*.py")), ROOT / "neuro_llm" / "cli" / "main.py"]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if raw.search(line) and "provenance: ok" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "write results with neuro_llm.core.provenance.write_result:\n" + "\n".join(offenders)

