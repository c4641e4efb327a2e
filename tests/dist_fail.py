"""``torchrun ... tests/dist_fail.py ARGS``: ``neuro-llm ARGS`` whose rank ``$NEURO_LLM_TEST_FAIL_RANK`` fails
while scoring its first perplexity window (a stand-in for a rank's disk, memory or data going wrong)."""
import os
import sys

if os.environ.get("RANK") == os.environ.get("NEURO_LLM_TEST_FAIL_RANK"):
    import neuro_llm.eval.perplexity as perplexity

    def fail(*args, **kwargs):
        raise ValueError("injected failure of this rank")

    perplexity.window_nll = fail

from neuro_llm.cli.main import main  # noqa: E402

sys.exit(main())
