"""Whole-or-nothing file writes: moved to :mod:`neuro_llm.core.atomic` (the ground floor); these names stay."""
from neuro_llm.core.atomic import RUN_STARTED, check_writable, remove_stale_temporaries, write_json_atomic  # noqa: F401
