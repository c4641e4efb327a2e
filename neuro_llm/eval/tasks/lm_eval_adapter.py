"""lm-evaluation-harness model ``neuro-llm``: a (model, tokenizer) pair, spiking models included, as an lm-eval ``LM``.

Importing this module registers the name, after which ``lm_eval.simple_evaluate(model="neuro-llm",
model_args="pretrained=smollm2-135m")`` works; or pass ``NeuroLLM(model, tokenizer)`` as the model.
Log-likelihoods are computed by ``neuro_llm.eval.tasks.scoring`` (tokenized as lm-eval's ``HFLM`` does),
rolling log-likelihoods over lm-eval's disjoint windows, generation greedily.
"""
from __future__ import annotations

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from neuro_llm.eval.tasks.generation import greedy_generate
from neuro_llm.eval.tasks.scoring import encode, loglikelihoods, max_length, prefix_token_id, score_tokens
from neuro_llm.spiking_model import hf_model_of


@register_model("neuro-llm")
class NeuroLLM(LM):
    """``model`` is a ``SpikingModel`` (``convert``'s result) or any causal LM called as
    ``model(input_ids=, attention_mask=).logits``; without one, ``neuro_llm.load_model(pretrained,
    device=device)`` supplies model and tokenizer."""

    def __init__(self, model=None, tokenizer=None, pretrained: str = "smollm2-135m", batch_size: int | str = 16,
                 max_gen_toks: int | str = 256, device: str = "cpu", progress: bool = True):
        super().__init__()
        if model is None:
            from neuro_llm.io.models import load_model
            model, tokenizer = load_model(pretrained, device=device)
        elif tokenizer is None:
            raise ValueError("NeuroLLM(model=...) needs its tokenizer too")
        if not str(batch_size).isdigit() or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer ('auto' is not supported), got {batch_size!r}")
        self.model, self.tokenizer = hf_model_of(model), tokenizer
        self.batch_size, self.max_gen_toks, self.progress = int(batch_size), int(max_gen_toks), progress

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        """(log P(continuation | context), is greedy) per ``(context, continuation)`` request."""
        return loglikelihoods(self.model, self.tokenizer, [req.args for req in requests], self.batch_size,
                              self.progress)

    def loglikelihood_rolling(self, requests) -> list[float]:
        """Log-likelihood of each whole string, conditioned on the prefix token, over disjoint windows."""
        windows, owners = [], []
        for index, (string,) in enumerate(req.args for req in requests):
            for window in get_rolling_token_windows(encode(self.tokenizer, string), prefix_token_id(self.tokenizer),
                                                    max_length(self.model), context_len=1):
                windows.append(make_disjoint_window(window))
                owners.append(index)
        totals = [0.0] * len(requests)
        for index, (ll, _) in zip(owners, score_tokens(self.model, windows, self.batch_size, self.progress)):
            totals[index] += ll
        return totals

    def generate_until(self, requests) -> list[str]:
        """Greedy continuation of each context up to its ``until`` strings or EOS (sampling is not supported)."""
        outputs = []
        for context, kwargs in (req.args for req in requests):
            if kwargs.get("do_sample") or kwargs.get("temperature", 0.0) > 0.0:
                raise NotImplementedError("neuro-llm only decodes greedily: drop do_sample/temperature")
            until = kwargs.get("until") or []
            stop = [until] if isinstance(until, str) else list(until)
            outputs.append(greedy_generate(self.model, self.tokenizer, context, stop,
                                           int(kwargs.get("max_gen_toks", self.max_gen_toks))))
        return outputs
