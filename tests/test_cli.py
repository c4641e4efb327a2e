"""The command line: one-line errors with exit status 2 for user mistakes, JSON written whole."""
import json

import pytest

from neuro_llm import cli


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_exit(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.mark.parametrize("argv, message", [
    (["eval", "--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["eval", "--model", "x.gguf"], "unknown model"),
    (["eval", "--method", "rtn", "--salient", "0.2"], "spiking methods"),
    (["eval", "--seqlen", "0"], "--seqlen must be at least 1"),
    (["eval", "--max-windows", "0"], "--max-windows must be at least 1"),
    (["eval", "--method", "spikellm", "--abits", "3", "--spike-levels", "4"], "does not tile"),
    (["simulate", "--tokens", "0", "--record", "r.h5"], "--tokens must be at least 1"),
    (["simulate", "--record", "/no/such/folder/r.h5"], "does not exist"),
    (["simulate", "--method", "rtn", "--record", "r.h5"], "needs a spiking method"),
])
def test_user_mistakes_end_in_one_line(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["eval", "--method", "magic"], "invalid choice: 'magic'"),
    (["eval", "--mode", "fast"], "invalid choice: 'fast'"),
    (["frobnicate"], "invalid choice"),
    (["simulate"], "--record"),
])
def test_argument_errors_are_one_line(capsys, argv, message):
    code, out, err = run_exit(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_every_command_has_help(capsys):
    for command in ("info", "eval", "simulate", "energy", "plot"):
        code, out, _ = run_exit(capsys, command, "--help")
        assert code == 0 and "usage: neuro-llm " + command in out


def test_missing_data_dir_is_named(capsys, tmp_path, smollm2, monkeypatch):
    code, _, err = run(capsys, "eval", "--method", "fp", "--data-dir", str(tmp_path), "--max-windows", "1")
    assert code == 2 and "wikitext-2/test.txt not found" in err


def test_eval_fp_writes_the_contract_json(capsys, tmp_path):
    out = tmp_path / "fp.json"
    code, stdout, err = run(capsys, "eval", "--method", "fp", "--seqlen", "256", "--max-windows", "2",
                            "--json", str(out))
    assert code == 0, err
    result = json.loads(out.read_text())
    for key in ("model", "method", "wbits", "abits", "dataset", "seqlen", "windows", "tokens", "ppl", "seconds"):
        assert key in result
    assert result["windows"] == 2 and result["tokens"] == 2 * 255
    assert 5 < result["ppl"] < 60
    assert [p.name for p in tmp_path.iterdir()] == ["fp.json"]  # no temporary file left behind
