"""Spiking self-attention: the activation-by-activation products fed by spike trains.

Q and V are encoded per token (and head); K per token too (``key_scale="token"``, the default, as OmniQuant and
the official SpikeLLM code do), or per channel over the tokens seen so far (``key_scale="running"``: the range of
positions ``0..i`` sets token ``i``'s step). K and V are encoded per key/value head, so the scales belong to the
head group that grouped-query attention shares. Every encoder is causal: no later token changes an earlier
token's threshold, so the logits at position ``i`` depend on tokens ``0..i`` only (tested bit for bit), and a
KV cache that holds the encoded K and V (:class:`neuro_llm.spiking.cache.EncodedCache`) gives what the full
forward gives. Each operand's spike train
is integrated by the neurons that receive it (``Σ_t S[t]``, an exact integer count), and the products
use the integrated membranes::

    Q̂ = Δ_q (Σ_t S_q[t] - z_q),   K̂ = Δ_k (Σ_t S_k[t] - z_k),   V̂ = Δ_v (Σ_t S_v[t] - z_v)
    out = softmax(Q̂ K̂ᵀ · d^-½ + mask) · V̂       (torch's fused scaled_dot_product_attention, in the model's dtype)

Unlike a linear layer, whose synapses are integer codes and can take every step's spikes exactly, both
operands here carry real-valued scales (K's even vary inside the dot product), so a per-step float
accumulation could not be made bit-identical to the collapsed product and tiny rounding differences would
flip later quantization decisions. Integrating first keeps ``explicit`` and ``collapsed`` bit-identical
while every spike of every step is still materialized for observers that need the trains (others get
the counts of the fused GPU kernel, which forms and integrates the spikes in registers). Q̂, K̂ and V̂
(exact integers times float32 steps) are cast to the model's dtype and go through the same fused attention
as the dense model (flash / memory-efficient on CUDA: no [heads, S, S] scores are stored), equal in both
modes.
Softmax and RoPE stay floating point.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from neuro_llm.core.modes import KeyScale, Mode
from neuro_llm.spiking import kernels, observe, taps
from neuro_llm.spiking.codes import SpikeCode

Tensor = torch.Tensor
ATTENTION_NAME = "neuro_llm_spiking"
KEY_SCALES = KeyScale.values()   # K's threshold: per token | per channel over the tokens so far (both causal)


def repeat_heads(x: Tensor, groups: int) -> Tensor:
    """Share each key/value head (dim -3) with the ``groups`` query heads of its group."""
    return x if groups == 1 else torch.repeat_interleave(x, groups, dim=-3)


def step_groups(channel_steps: Tensor) -> list[tuple[int, Tensor]]:
    """``[(steps, channel index)]``: the channels of each distinct step count (on the host)."""
    steps = channel_steps.cpu()
    return [(int(s), torch.nonzero(steps == s).flatten()) for s in torch.unique(steps).tolist()]


class SpikingAttention(nn.Module):
    """Spike encoders of Q, K and V for one attention module (attached as ``attn.spiking``).

    ``k_steps`` / ``v_steps`` (``[head_dim]``, optional): per-channel step counts from the attention
    variants of Optimal Brain Spiking, shared by all key/value heads; channels with more steps get a finer
    threshold (``Δ_c = range / (T_c (L-1))``)."""

    def __init__(self, code: SpikeCode, steps: int, site: str = "", layer: int = -1, mode: str = Mode.COLLAPSED,
                 k_steps: Tensor | None = None, v_steps: Tensor | None = None, key_scale: str = KeyScale.TOKEN):
        super().__init__()
        self.code, self.steps, self.site, self.layer, self.mode = code, steps, site, layer, mode
        self.key_scale = KeyScale.parse(key_scale, "key_scale")
        self._encoded = None   # (K̂, V̂) an EncodedCache handed over for the next forward
        self.register_buffer("k_steps", None if k_steps is None else k_steps.to(torch.long))
        self.register_buffer("v_steps", None if v_steps is None else v_steps.to(torch.long))
        # the trains' lengths, known on the host (no read-back of a device tensor in the forward)
        self._max_steps = {name: None if t is None else int(t.max()) for name, t in (("k", k_steps), ("v", v_steps))}
        # the channel groups of equal step counts, per operand: (steps, channel index); device copies made on
        # first use (so an observed forward has no host read to capture into a CUDA graph)
        self._step_groups = {name: step_groups(t) for name, t in (("k", k_steps), ("v", v_steps)) if t is not None}
        self._step_groups_on: dict = {}

    @property
    def mode(self) -> Mode:
        """``explicit`` or ``collapsed`` (set from either string or :class:`Mode`)."""
        return self._mode

    @mode.setter
    def mode(self, value) -> None:
        self._mode = Mode.parse(value, "mode")

    def encode(self, x: Tensor, dim: int, name: str, channel_steps: Tensor | None = None,
               running: bool = False, prior=None) -> Tensor:
        """``x̂ = Δ(q - z)`` with ``q`` the integrated spike train (explicit) or the quantizer count; ``running``:
        thresholds over positions ``0..i`` of ``dim`` (the token axis) at every ``i``, continuing ``prior``."""
        steps = self.steps if channel_steps is None else channel_steps.to(x.dtype)
        scale, zero = self.code.scale_zero(x, steps, dim, running, prior)
        longest = self.steps if channel_steps is None else self._max_steps.get(name)
        if self.mode is Mode.EXPLICIT:
            count, spikes = self.code.explicit_count(x, scale, zero, steps, longest)
        else:
            count, spikes = self.code.count(x, scale, zero, steps), None
        if observe.active():
            self._notify(f"{self.site}.{name}", count, spikes, channel_steps, self.code.clip_mask(x, scale, steps))
        return self.code.decode(count, scale, zero)

    def fused(self, x: Tensor) -> bool:
        """Encode with the one-pass GPU kernel (:func:`kernels.attention_encode`): GIF codes on CUDA, unless an
        observer needs the spike trains themselves (then the torch path materializes them)."""
        return self.code.fused_encoder and x.dim() == 4 and observe.counts_suffice() and kernels.enabled(x)

    def encode_fused(self, x: Tensor, dim: int, name: str, channel_steps: Tensor | None = None) -> Tensor:
        """:meth:`encode` in one kernel, ``x̂`` in ``x``'s dtype (bit for bit the torch path's, cast); observers
        that work from counts get the kernel's counts."""
        longest = self.steps if channel_steps is None else self._max_steps[name]
        explicit = self.mode is Mode.EXPLICIT
        if not observe.active():
            return kernels.attention_encode(x, dim, self.code.per_step, longest, channel_steps, explicit, x.dtype)
        x_hat, count = kernels.attention_encode(x, dim, self.code.per_step, longest, channel_steps, explicit, x.dtype,
                                                counts=True)
        self._notify(f"{self.site}.{name}", count, None, channel_steps, None)
        return x_hat

    def _notify(self, site: str, count: Tensor, spikes: Tensor | None, channel_steps: Tensor | None,
                clip_mask: Tensor | None) -> None:
        if channel_steps is None:
            length = spikes.shape[0] if spikes is not None else self.code.train_steps(count, self.steps)
            observe.notify(observe.Encoded(site, self.layer, self.code, count, length, spikes=spikes,
                                           clipped=None if clip_mask is None else int(clip_mask.sum())))
            return
        # adaptive codes: every group shares the tensor's train (bitwise steps are bit positions)
        whole = self.code.train_steps(count, channel_steps) if self.code.adaptive else None
        for steps, idx in self._groups(site.rsplit(".", 1)[-1], channel_steps):  # one event per group of equal steps
            length = whole or steps
            observe.notify(observe.Encoded(site, self.layer, self.code, count[..., idx], length,
                                           spikes=None if spikes is None else spikes[:length][..., idx],
                                           channels=idx,
                                           clipped=None if clip_mask is None else int(clip_mask[..., idx].sum())))

    def _groups(self, name: str, channel_steps: Tensor) -> list[tuple[int, Tensor]]:
        """``[(steps, channel index on channel_steps' device)]`` of operand ``name`` (``k`` / ``v``)."""
        key = (name, channel_steps.device)
        if key not in self._step_groups_on:
            groups = self._step_groups.get(name) or step_groups(channel_steps)   # steps set after construction
            self._step_groups_on[key] = [(s, idx.to(channel_steps.device)) for s, idx in groups]
        return self._step_groups_on[key]

    def encode_kv(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """``(K̂, V̂)`` in the model's dtype, per key/value head (before the head groups are shared); causal, so
        the rows of a KV cache's past tokens never change (:class:`~neuro_llm.spiking.cache.EncodedCache`)."""
        return self.encode_keys(key), self.encode_values(value)

    def encode_keys(self, key: Tensor, prior=None) -> Tensor:
        """``K̂``; with ``key_scale="running"``, ``prior`` carries the running threshold's statistics of the keys
        before ``key`` (``code.running_statistics``; a KV cache keeps them)."""
        if self.key_scale is KeyScale.RUNNING:   # prefix extrema along the tokens: the torch path
            return self.encode(key.float(), -2, "k", self.k_steps, running=True, prior=prior).to(key.dtype)
        if self.fused(key):
            return self.encode_fused(key, -1, "k", self.k_steps)
        return self.encode(key.float(), -1, "k", self.k_steps).to(key.dtype)

    def encode_values(self, value: Tensor) -> Tensor:
        if self.fused(value):
            return self.encode_fused(value, -1, "v", self.v_steps)
        return self.encode(value.float(), -1, "v", self.v_steps).to(value.dtype)

    def expect_encoded(self, keys: Tensor, values: Tensor) -> None:
        """An :class:`~neuro_llm.spiking.cache.EncodedCache` hands this layer's next forward ``keys``/``values``
        already encoded: recognised by identity, used once."""
        self._encoded = (keys, values)

    def _kv_hat(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        encoded, self._encoded = self._encoded, None
        if encoded is not None and key is encoded[0] and value is encoded[1]:
            return key, value
        return self.encode_kv(key, value)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, attention_mask: Tensor | None,
                scaling: float, groups: int) -> tuple[Tensor, None]:
        dtype = query.dtype
        if self.fused(query):
            q_hat = self.encode_fused(query, -1, "q")
        else:
            q_hat = self.encode(query.float(), -1, "q").to(dtype)
        k_hat, v_hat = self._kv_hat(key, value)
        k_hat, v_hat = repeat_heads(k_hat, groups), repeat_heads(v_hat, groups)
        q_len, kv_len = query.shape[-2], key.shape[-2]
        mask, causal = None, False
        if attention_mask is not None:
            mask = attention_mask[..., :kv_len]
            mask = mask if mask.dtype in (torch.bool, dtype) else mask.to(dtype)
        elif q_len > 1 and q_len == kv_len:
            causal = True
        elif q_len > 1:
            mask = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
        out = F.scaled_dot_product_attention(q_hat, k_hat, v_hat, attn_mask=mask, is_causal=causal, scale=scaling)
        return out.transpose(1, 2).contiguous(), None


def spiking_attention_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """``transformers`` attention interface: spiking where the module was converted, the family's eager
    attention otherwise (optionally on fake-quantized Q/K/V while OmniQuant trains the block)."""
    spiking = getattr(module, "spiking", None)
    if spiking is None:
        from neuro_llm.arch import adapter_for

        fake_quant = taps.fake_quant_of(module)
        if fake_quant is not None:
            query, key, value = fake_quant(query, key, value)
        eager = adapter_for(module.config).eager_attention()
        out = eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
        capture = taps.capture_of(module)
        if capture is not None:  # calibration: attention saliency of the FP block
            capture.add(query, key, value, out[1], module.num_key_value_groups)
        return out
    if scaling is None:
        scaling = module.head_dim ** -0.5
    return spiking(query, key, value, attention_mask, scaling, module.num_key_value_groups)


def use_spiking_attention(model) -> None:
    """Route ``model``'s attention through :func:`spiking_attention_forward` (FP where not converted)."""
    register_attention()
    model.config._attn_implementation = ATTENTION_NAME


def register_attention() -> None:
    """Make ``config._attn_implementation = "neuro_llm_spiking"`` valid (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    AttentionInterface.register(ATTENTION_NAME, spiking_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, additive_mask)


def additive_mask(*args, dtype: torch.dtype = torch.float32, **kwargs) -> Tensor | None:
    """The family's eager (additive) mask — 0 where attended, the dtype's minimum elsewhere — built from
    transformers' boolean SDPA mask without a host-made scalar (some transformers versions copy one to the
    device, which a CUDA graph cannot capture). The eager fallback needs the additive form; SDPA takes it too."""
    from transformers.masking_utils import sdpa_mask

    kwargs.pop("allow_is_causal_skip", None)
    mask = sdpa_mask(*args, allow_is_causal_skip=False, **kwargs)
    if mask is None:
        return None
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, torch.finfo(dtype).min)
