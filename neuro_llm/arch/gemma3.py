"""Gemma 3 (text): scaled embeddings (×√d inside ``embed_tokens``), ``(1 + w)`` RMSNorms, pre- and
post-feed-forward norms (four norms a block), GeGLU (tanh-approximated GELU gate), q/k norms, and a
per-layer sliding/full attention pattern with its own rotary table for each kind (local base for
sliding layers). The norm after attention and the one after the MLP feed residuals, not linears, so the
folds are input norm → q/k/v and pre-feed-forward norm → gate/up. Gemma expects ``<bos>`` first: every
evaluation and calibration window starts with it."""
from neuro_llm.arch.base import Architecture, BlockProfile, NormFold


class Gemma3(Architecture):
    family = "gemma3"
    model_types = ("gemma3_text",)
    modeling_module = "transformers.models.gemma3.modeling_gemma3"
    folds = (NormFold("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
             NormFold("pre_feedforward_layernorm", ("mlp.gate_proj", "mlp.up_proj")))
    norm_offset = 1.0
    qk_scale_folds = False
    profile = BlockProfile(norms=4, qk_norm=True, activation="gelu_tanh")
    bos_first = True    # without <bos> Gemma's activations are off-distribution (attention sink)

    def rotary(self, model, hidden, position_ids, kinds) -> dict:
        rotary = model.model.rotary_emb.to(hidden.device)
        return {kind: rotary(hidden, position_ids, kind) for kind in kinds}
