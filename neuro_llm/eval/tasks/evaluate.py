"""Zero-shot multiple-choice accuracy, as lm-evaluation-harness scores it.

Per item: ``pred = argmax(loglikelihoods)`` (``acc``) and ``pred_norm = argmax(loglikelihood / len(choice))``
with the character length of lm-eval's choice string (``acc_norm``).
"""
from __future__ import annotations

import time

import numpy as np

from neuro_llm.eval.tasks.data import load_split
from neuro_llm.eval.tasks.formats import TASKS, get_task
from neuro_llm.eval.tasks.scoring import loglikelihoods

DEFAULT_TASKS = tuple(TASKS)


def load_items(name: str, limit: int | None = None):
    """The first ``limit`` validation items of task ``name`` (all of them if ``limit`` is None)."""
    task = get_task(name)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return [task.to_item(doc) for doc in load_split(task.data_dir, limit=limit)]


def score_items(items, lls: list[float]) -> list[dict]:
    """Per-item ``{"gold", "pred", "pred_norm", "loglikelihoods"}`` from the flat log-likelihoods of all requests."""
    predictions, start = [], 0
    for item in items:
        ll = np.array(lls[start:start + len(item.requests)])
        start += len(item.requests)
        lengths = np.array([len(choice) for choice in item.choices], dtype=float)
        predictions.append({"gold": item.gold, "pred": int(ll.argmax()),
                            "pred_norm": int((ll / lengths).argmax()), "loglikelihoods": ll.tolist()})
    return predictions


def evaluate_task(model, tokenizer, name: str, limit: int | None = None, batch_size: int = 16,
                  progress: bool = True) -> tuple[dict, list[dict]]:
    """(``{"acc", "acc_stderr", ["acc_norm", "acc_norm_stderr",] "n", "seconds"}``, per-item predictions) of one task."""
    started = time.perf_counter()
    items = load_items(name, limit)
    pairs = [request for item in items for request in item.requests]
    lls = [ll for ll, _ in loglikelihoods(model, tokenizer, pairs, batch_size, progress, desc=name)]
    predictions = score_items(items, lls)
    metrics = {"acc": float(np.mean([p["pred"] == p["gold"] for p in predictions]))}
    metrics["acc_stderr"] = stderr(metrics["acc"], len(items))
    if "acc_norm" in get_task(name).metrics:
        metrics["acc_norm"] = float(np.mean([p["pred_norm"] == p["gold"] for p in predictions]))
        metrics["acc_norm_stderr"] = stderr(metrics["acc_norm"], len(items))
    metrics.update(n=len(items), seconds=time.perf_counter() - started)
    return metrics, predictions


def stderr(acc: float, n: int) -> float:
    """Standard error of an accuracy over ``n`` items, as lm-evaluation-harness reports it (the sample standard
    deviation of the 0/1 scores over √n): ``sqrt(acc (1 - acc) / (n - 1))``."""
    return float(np.sqrt(acc * (1 - acc) / (n - 1))) if n > 1 else float("nan")


def baselines(name: str, limit: int | None = None) -> dict:
    """What a model that ignores the text scores on ``name``'s items: ``chance`` (a uniform guess, the mean of
    1 / choices), ``majority`` (always the most frequent gold index, e.g. BoolQ's "yes") and that index."""
    items = load_items(name, limit)
    golds = np.bincount([item.gold for item in items])
    return {"n": len(items), "chance": float(np.mean([1 / len(item.choices) for item in items])),
            "majority": float(golds.max() / len(items)), "majority_index": int(golds.argmax())}


def evaluate_tasks(model, tokenizer, tasks=DEFAULT_TASKS, limit: int | None = None, batch_size: int = 16,
                   progress: bool = True) -> dict:
    """Zero-shot accuracy of ``model`` on ``tasks`` (names from ``TASKS``, or one comma-separated string),
    the first ``limit`` items of each.

    Returns ``{"tasks": {name: {"acc", "acc_norm" (where lm-eval reports it), "n", "seconds"}},
    "avg_acc": mean acc, "avg_acc_norm": mean of acc_norm (acc where a task has none),
    "predictions": {name: [per-item dicts]}}``."""
    tasks = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    if not tasks:
        raise ValueError(f"no task given: accepted {', '.join(TASKS)}")
    for name in tasks:
        get_task(name)
    results, predictions = {}, {}
    for name in tasks:
        results[name], predictions[name] = evaluate_task(model, tokenizer, name, limit, batch_size, progress)
    return {
        "tasks": results,
        "avg_acc": float(np.mean([r["acc"] for r in results.values()])),
        "avg_acc_norm": float(np.mean([r.get("acc_norm", r["acc"]) for r in results.values()])),
        "predictions": predictions,
    }
