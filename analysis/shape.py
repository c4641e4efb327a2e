"""The static description of a (spiking) decoder-only model that operation counts need.

Read once from the model (:meth:`ModelShape.from_model`), stored as JSON beside a recording, so the
energy of a recording never needs the model again.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from typing import TYPE_CHECKING

if TYPE_CHECKING:   # torch and the adapters load only when a model is measured (`--help` stays quick)
    from torch import nn


@dataclass(frozen=True)
class LinearShape:
    """One linear layer of a block: ``y = x Wᵀ (+ b)``, ``W`` of shape ``[out_features, in_features]``."""
    name: str                # "self_attn.q_proj" ... "mlp.down_proj"
    in_features: int
    out_features: int
    bias: bool
    spiking: bool            # inputs are spike-encoded (False: a floating-point matmul)
    groups: int              # channel groups of its encoder (one per distinct step count)
    integer_weights: bool    # W = s ⊙ C with integer codes C (one rescale by s per output)


@dataclass(frozen=True)
class LayerShape:
    linears: tuple[LinearShape, ...]
    attention_spiking: bool  # Q, K, V spike-encoded (QKᵀ and P·V driven by spikes)
    window: int | None = None  # sliding window of this layer's attention (None: full causal)

    def linear(self, name: str) -> LinearShape:
        for linear in self.linears:
            if linear.name == name:
                return linear
        raise KeyError(f"no linear layer {name!r} in this block")


@dataclass(frozen=True)
class ModelShape:
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    code_kind: str | None    # "gif" | "ternary" (None: nothing spikes)
    weight_bits: int | None  # bits of the integer weight codes (None: floating-point weights)
    layers: tuple[LayerShape, ...]
    norms: int = 2           # hidden-size RMSNorms per block (architecture adapter's profile)
    qk_norm: bool = False    # per-head q/k RMSNorms (Qwen3, Gemma 3)
    activation: str = "silu"  # the MLP gate's activation
    family: str = "llama"

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def groups(self) -> int:
        """Query heads per key/value head (grouped-query attention)."""
        return self.heads // self.kv_heads

    @classmethod
    def from_model(cls, model: nn.Module) -> "ModelShape":
        spike_config = getattr(model, "spec", None)    # a SpikingModel (read by name: analysis stays below convert)
        model = getattr(model, "hf_model", model)
        cfg = model.config
        heads = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        code_kind, weight_bits = None, None
        if spike_config is not None:
            code_kind = spike_config.kind if spike_config.quantizes_activations else None
            weight_bits = spike_config.wbits if spike_config.quantizes_weights else None
        from neuro_llm.arch import LINEAR_NAMES, SLIDING, adapter_for

        arch = adapter_for(model)
        types = arch.layer_types(cfg)
        layers = []
        for i, layer in enumerate(arch.decoder_layers(model)):
            linears = tuple(_linear_shape(name, layer.get_submodule(name)) for name in LINEAR_NAMES)
            spiking = getattr(layer.self_attn, "spiking", None)
            window = cfg.sliding_window if types[i] == SLIDING else None
            layers.append(LayerShape(linears, spiking is not None and spiking.code is not None, window))
        profile = arch.profile
        return cls(cfg.hidden_size, cfg.intermediate_size, heads, cfg.num_key_value_heads, head_dim,
                   cfg.vocab_size, code_kind, weight_bits, tuple(layers), profile.norms, profile.qk_norm,
                   profile.activation, arch.family)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelShape":
        layers = tuple(LayerShape(tuple(LinearShape(**linear) for linear in layer["linears"]),
                                  layer["attention_spiking"], layer.get("window")) for layer in data["layers"])
        return cls(**{**data, "layers": layers})


def _linear_shape(name: str, module: nn.Module) -> LinearShape:
    code = getattr(module, "code", None)
    return LinearShape(name, module.in_features, module.out_features, module.bias is not None,
                       spiking=code is not None, groups=len(getattr(module, "groups", ())),
                       integer_weights=bool(getattr(module, "integer_weights", False)))
