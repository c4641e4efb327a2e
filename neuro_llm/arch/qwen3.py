"""Qwen3: Qwen2 blocks without biases, plus per-head RMSNorm on q and k (``q_norm``/``k_norm``).

The q/k norms normalize each head's vector after q_proj/k_proj, so a per-channel scale on those outputs
does not pass through them: OmniQuant's q/k scale is not folded for this family."""
from neuro_llm.arch.base import BlockProfile, Architecture


class Qwen3(Architecture):
    family = "qwen3"
    model_types = ("qwen3",)
    modeling_module = "transformers.models.qwen3.modeling_qwen3"
    qk_scale_folds = False
    profile = BlockProfile(norms=2, qk_norm=True, activation="silu")
