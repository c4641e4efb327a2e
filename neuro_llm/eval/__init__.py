"""Evaluation: WikiText-2 perplexity and zero-shot tasks."""
