"""Zero-shot common-sense evaluation (PIQA, ARC, BoolQ, HellaSwag, Winogrande), offline, scored as lm-eval does."""
from neuro_llm.eval.tasks.evaluate import DEFAULT_TASKS, evaluate_task, evaluate_tasks, load_items
from neuro_llm.eval.tasks.formats import TASKS

__all__ = ["DEFAULT_TASKS", "TASKS", "evaluate_task", "evaluate_tasks", "load_items"]
