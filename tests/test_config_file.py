"""Run configurations: `--config run.yaml` (flags override it, unknown keys are one-line errors), every
output records the resolved configuration, and the same configuration gives the same numbers."""
import json

import pytest
import yaml

from checkpoints import make_checkpoint
from neuro_llm.cli import main as cli
from neuro_llm.cli.runconfig import apply_config, find_config_argument


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def parse(*argv):
    return cli._parse(cli.build_parser(), [str(a) for a in argv])


def write(path, data):
    path.write_text(yaml.safe_dump(data) if path.suffix != ".json" else json.dumps(data))
    return path


def config_error(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def tiny(smollm2, tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("tiny") / "model", smollm2[1])


# ----------------------------------------------------------------------------- parsing (no model)
def test_file_values_become_options_and_flags_override_them(tmp_path):
    path = write(tmp_path / "run.yaml", {"command": "eval", "method": "sdllm", "abits": 6, "max-windows": 3,
                                         "seqlen": 512, "tasks": ["piqa", "arc_easy"], "act_order": True})
    args = parse("eval", "--config", path)
    assert (args.method, args.abits, args.max_windows, args.seqlen) == ("sdllm", 6, 3, 512)
    assert args.tasks == "piqa,arc_easy" and args.act_order is True
    args = parse("eval", "--seqlen", "128", "--config", path, "--method", "spikellm")
    assert (args.method, args.seqlen, args.abits) == ("spikellm", 128, 6)  # flags win, wherever they stand


def test_required_options_may_come_from_the_file(tmp_path):
    args = parse("simulate", "--config", write(tmp_path / "sim.json", {"record": "out.h5", "layers": [0, 1]}))
    assert args.record == "out.h5" and args.layers == "0,1"
    args = parse("energy", "--config", write(tmp_path / "e.yaml", {"recording": "r.h5", "hardware": "loihi"}))
    assert args.recording == "r.h5" and args.hardware == "loihi"
    assert parse("energy", "other.h5", "--config", tmp_path / "e.yaml").recording == "other.h5"


@pytest.mark.parametrize("data, message", [
    ({"metod": "rtn"}, "unknown key 'metod' for `neuro-llm eval`"),
    ({"tokens": 32}, "unknown key 'tokens'"),            # a simulate option, not an eval one
    ({"config": "other.yaml"}, "unknown key 'config'"),
    ({"wbits": "four"}, "wbits must be an integer, got 'four'"),
    ({"wbits": 4.5}, "wbits must be an integer"),
    ({"salient": [0.1]}, "salient must be a number"),
    ({"predictions": "yes"}, "predictions must be true or false"),
    ({"seqlen": None}, "seqlen needs a value"),
    ({"method": "magic"}, "invalid choice 'magic'"),
    ({"command": "simulate"}, "describes a `simulate` run, not `eval`"),
    ({"model": {"name": "x"}}, "must be a single value or a list"),
])
def test_bad_keys_and_values_are_one_line_errors(capsys, tmp_path, data, message):
    config_error(capsys, ["eval", "--config", write(tmp_path / "run.yaml", data)], message)


def test_bad_files_are_one_line_errors(capsys, tmp_path):
    config_error(capsys, ["eval", "--config", tmp_path / "missing.yaml"], "no such file")
    (tmp_path / "list.yaml").write_text("- method: rtn\n")
    config_error(capsys, ["eval", "--config", tmp_path / "list.yaml"], "expected a mapping")
    (tmp_path / "broken.yaml").write_text("method: [rtn\n")
    config_error(capsys, ["eval", "--config", tmp_path / "broken.yaml"], "cannot parse")
    (tmp_path / "broken.json").write_text("{method: rtn}")
    config_error(capsys, ["eval", "--config", tmp_path / "broken.json"], "cannot parse")
    (tmp_path / "run.txt").write_text("method: rtn\n")
    config_error(capsys, ["eval", "--config", tmp_path / "run.txt"], "expected a .yaml, .yml or .json file")
    (tmp_path / "empty.yaml").write_text("")
    assert parse("eval", "--config", tmp_path / "empty.yaml").seqlen == 2048  # an empty file changes nothing


def test_config_argument_is_found_before_parsing():
    assert find_config_argument(["eval", "--seqlen", "5", "--config", "a.yaml"]) == ("eval", "a.yaml")
    assert find_config_argument(["eval", "--config=b.json"]) == ("eval", "b.json")
    assert find_config_argument(["--version"]) == (None, None)
    assert find_config_argument(["eval", "--", "--config", "x"]) == ("eval", None)


def test_apply_config_names_every_accepted_key(tmp_path):
    parser = cli.build_parser().commands["info"]
    with pytest.raises(ValueError) as error:
        apply_config(parser, "info", {"wbits": 4}, "run.yaml")
    assert "accepted: device, dtype, json, model" in str(error.value)


# ----------------------------------------------------------------------------- runs (tiny model)
def test_same_configuration_gives_the_same_numbers(capsys, tiny, tmp_path):
    """Two runs of one config file: identical perplexity and spike statistics; its JSON re-runs it too."""
    config = write(tmp_path / "run.yaml", {"model": str(tiny), "method": "spikellm", "salient": 0.2,
                                           "calib-windows": 2, "calib-seqlen": 48, "seed": 3, "seqlen": 64,
                                           "max-windows": 2, "mode": "explicit"})
    results = []
    for name in ("a", "b"):
        code, _, err = run(capsys, "eval", "--config", config, "--json", tmp_path / f"{name}.json")
        assert code == 0, err
        results.append(json.loads((tmp_path / f"{name}.json").read_text()))
    a, b = results
    assert a["ppl"] == b["ppl"] and a["nll"] == b["nll"] and a["spike_events"] == b["spike_events"]
    assert a["run_config"] == b["run_config"]
    recorded = a["run_config"]
    assert recorded["command"] == "eval" and recorded["seed"] == 3 and recorded["calib_windows"] == 2
    assert recorded["weight_method"] is None and recorded["epochs"] == 2  # every SpikeConfig field, defaults in
    assert "json" not in recorded and a["neuro_llm_version"] == cli._version()
    # the result is itself a configuration: it parses to the options of the run (which gives these numbers)
    args = parse("eval", "--config", tmp_path / "a.json")
    assert {key: getattr(args, key) for key in recorded if key != "command"} == \
        {key: value for key, value in recorded.items() if key != "command"}
    assert parse("eval", "--config", tmp_path / "a.json", "--seqlen", "32").seqlen == 32


def test_recording_holds_its_configuration_and_reruns(capsys, tiny, tmp_path):
    from analysis.store import read_recording

    code, _, err = run(capsys, "simulate", "--model", tiny, "--method", "sdllm", "--tokens", "20", "--calib-windows",
                       "1", "--calib-seqlen", "32", "--record", tmp_path / "a.h5")
    assert code == 0, err
    meta = read_recording(tmp_path / "a.h5", rasters=False).metadata
    assert meta["run_config"]["command"] == "simulate" and meta["run_config"]["tokens"] == 20
    assert meta["run_config"]["method"] == "sdllm" and meta["neuro_llm_version"] == cli._version()
    assert "record" not in meta["run_config"] and meta["versions"]["neuro_llm"] == cli._version()
    code, _, err = run(capsys, "simulate", "--config", tmp_path / "a.h5", "--record", tmp_path / "b.h5")
    assert code == 0, err
    a, b = (read_recording(tmp_path / f"{n}.h5", rasters=False) for n in "ab")
    assert a.firing_rate == b.firing_rate and a.total("sops") == b.total("sops")
    assert b.metadata["run_config"] == a.metadata["run_config"]
    with pytest.raises(SystemExit):  # a simulate run is not an eval run
        parse("eval", "--config", tmp_path / "a.h5")
    assert "describes a `simulate` run" in capsys.readouterr().err


def test_sdllm_knobs_flow_from_files_and_flags_into_spike_config(tmp_path):
    from neuro_llm.cli.runconfig import spike_config_options
    from neuro_llm.config import SpikeConfig

    path = write(tmp_path / "sd.yaml", {"method": "sdllm", "threshold-k": 2.5, "count-cap": "none",
                                        "spike-train": "bitwise"})
    args = parse("eval", "--config", path)
    config = SpikeConfig(**cli._spike_options(args))
    assert (config.threshold_k, config.count_cap, config.spike_train) == (2.5, None, "bitwise")
    args = parse("eval", "--config", path, "--count-cap", "15", "--threshold-k", "4")
    config = SpikeConfig(**cli._spike_options(args))
    assert (config.threshold_k, config.count_cap) == (4.0, 15)
    # what a run records reads back as the same configuration ("none" stays explicit, not null)
    recorded = spike_config_options(SpikeConfig(method="sdllm", count_cap=None))
    assert recorded["count_cap"] == "none"
    args = parse("eval", "--config", write(tmp_path / "again.json", recorded))
    assert SpikeConfig(**cli._spike_options(args)) == SpikeConfig(method="sdllm", count_cap=None)


def test_bad_sdllm_values_in_a_file_are_one_line(capsys, tmp_path):
    config_error(capsys, ["eval", "--config", write(tmp_path / "bad.yaml", {"count-cap": "many"})],
                 "expected an integer or none")
