"""Tiny tokenizer and model for the zero-shot tests (shared by test_tasks and test_lm_eval_adapter)."""
import pytest
import torch

from neuro_llm.eval.tasks import TASKS, load_items


def tiny_tokenizer(add_bos: bool = False):
    """A byte-level BPE (vocab 400, ``<s>``/``</s>``) trained on the first task items; optionally adds BOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [text for name in TASKS for item in load_items(name, 8) for pair in item.requests for text in pair]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if add_bos:
        bpe.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>")


def tiny_llama(vocab_size: int, max_positions: int = 1024, seed: int = 0):
    """A random 2-layer LlamaForCausalLM (hidden 32) in eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                         bos_token_id=0, eos_token_id=1)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return tiny_llama(len(tok))
