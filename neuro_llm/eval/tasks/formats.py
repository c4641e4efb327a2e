"""How each zero-shot task turns a document into log-likelihood requests, as lm-evaluation-harness defines it.

Every choice is one ``(context, continuation)`` request. The continuation starts with the target
delimiter ``" "``. Winogrande is scored partially: the context differs per option (the sentence up to
the blank, filled in) and the continuation is the rest of the sentence after the blank.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

TARGET_DELIMITER = " "


@dataclass(frozen=True)
class Item:
    """One multiple-choice question: a request per choice, the choice strings and the gold index.

    ``choices`` are lm-eval's ``doc_to_choice`` strings; ``acc_norm`` divides by their length."""
    requests: tuple[tuple[str, str], ...]
    choices: tuple[str, ...]
    gold: int


def same_context(context: str, choices: list[str], gold: int) -> Item:
    """One context, each choice as the continuation."""
    return Item(tuple((context, TARGET_DELIMITER + choice) for choice in choices), tuple(choices), gold)


def piqa(doc: dict) -> Item:
    return same_context(f"Question: {doc['goal']}\nAnswer:", [doc["sol1"], doc["sol2"]], doc["label"])


def arc(doc: dict) -> Item:
    choices = doc["choices"]
    return same_context(f"Question: {doc['question']}\nAnswer:", choices["text"],
                        choices["label"].index(doc["answerKey"]))


def boolq(doc: dict) -> Item:
    return same_context(f"{doc['passage']}\nQuestion: {doc['question']}?\nAnswer:", ["no", "yes"],
                        int(doc["answer"]))


def hellaswag_clean(text: str) -> str:
    """lm-eval's HellaSwag cleanup: strip, WikiHow ``" [title]"`` → ``". "``, drop ``[...]``, ``"  "`` → ``" "``."""
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def hellaswag(doc: dict) -> Item:
    context = hellaswag_clean(f"{doc['activity_label']}: {doc['ctx_a']} {doc['ctx_b'].capitalize()}")
    return same_context(context, [hellaswag_clean(ending) for ending in doc["endings"]], int(doc["label"]))


def winogrande(doc: dict) -> Item:
    sentence = doc["sentence"]
    blank = sentence.index("_")
    contexts = [sentence[:blank] + option for option in (doc["option1"], doc["option2"])]
    continuation = TARGET_DELIMITER + sentence[blank + 1:].strip()
    return Item(tuple((context, continuation) for context in contexts), tuple(contexts), int(doc["answer"]) - 1)


@dataclass(frozen=True)
class Task:
    """A task: where its validation split lies under ``hf_datasets``, its formatter, the metrics lm-eval reports."""
    data_dir: str
    to_item: Callable[[dict], Item]
    metrics: tuple[str, ...]


BOTH = ("acc", "acc_norm")
TASKS = {
    "piqa": Task("piqa/plain_text", piqa, BOTH),
    "arc_easy": Task("ai2_arc/ARC-Easy", arc, BOTH),
    "arc_challenge": Task("ai2_arc/ARC-Challenge", arc, BOTH),
    "boolq": Task("boolq/none", boolq, ("acc",)),
    "hellaswag": Task("hellaswag/none", hellaswag, BOTH),
    "winogrande": Task("winogrande/winogrande_xl", winogrande, ("acc",)),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}: accepted {', '.join(TASKS)}")
    return TASKS[name]
