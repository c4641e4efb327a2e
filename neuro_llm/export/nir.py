"""A converted model's projections as a NIR graph (``nir`` 1.0.8, HDF5 through ``nir.write``/``nir.read``).

What NIR can hold is a network of binary-spiking neurons (``IF``: ``v += r·I``; a spike when ``v > θ``,
then ``v = v_reset``) and static synapses (``Linear``, ``Affine``, ``Scale``). One projection
(:class:`~neuro_llm.spiking.linear.SpikingLinear`) of a block becomes one sub-graph, per channel group ``g``
(plain channels, salient channels; ``T_g`` steps, ``n_g`` the largest count)::

    Input  input.g      u = x/Δ_g + z_g   (the charge in threshold units; Δ_g, z_g per token: host side)
    IF     if.g.k       k = 1..n_g, θ = k - 1/2 (just below it for GIF's ties-up rounding), r = 1, v_reset = 0
    Linear linear.g     the dequantized weights s ⊙ C_g  (integer codes C and scales s in its metadata)
    Output output.g     a_g = W_g · Σ_k S_k   (NIR sums the edges that meet at a node)

and the host finishes ``y = Σ_g Δ_g (a_g - z_g · rowsum W_g) + b`` (:func:`epilogue`).

Exactness. A GIF neuron charged once with ``u`` and drained for ``T`` steps of ``L`` levels fires in all
``Σ_t S[t] = clamp(round(u), 0, T(L-1)) = Σ_{k=1..T(L-1)} [u ≥ k - 1/2]``: the thermometer code of the same
count. So the synaptic input (the count per channel) of the exported graph equals the simulator's bit for
bit; what differs is the *form* of the train: a level-``j`` spike becomes ``j`` binary spikes of parallel
populations, and the ``T`` steps are unrolled into populations (one NIR time step per token, neurons from
rest). Binary GIF (``L = 2``, one step) is one IF population: exact in form too. Ternary spikes are two
such populations, the negative one charged through ``Scale(-1)`` and delivered through ``Scale(-1)``
(ties toward zero: θ = k - 1/2 exactly). SDLLM's adaptive code without ``count_cap`` has no largest count:
its populations stop at ``max_count`` and the graph is marked inexact (larger counts saturate). The
bitwise train's count is exported the same way (its spikes are not threshold functions of the charge).

NIR cannot hold the per-token thresholds ``Δ, z`` (they depend on the token's range), activation ×
activation products (QKᵀ, A·V), softmax, RMSNorm, the SiLU/GeLU gate and its product, RoPE, the KV cache
and the residual adds: the graph's metadata names each (``host_operations``) with its place and shape.
"""
from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np
import torch
from torch import nn

from neuro_llm.core.atomic import write_atomic
from neuro_llm.spiking.linear import SpikingLinear

Tensor = torch.Tensor
FORMAT = "neuro-llm-nir/1"
DEFAULT_MAX_COUNT = 15   # adaptive (uncapped) ternary code: populations per unit step multiplier


def _below(value: float) -> np.float32:
    """The float32 just below ``value``: for float32 ``v``, ``v > below(θ)`` exactly when ``v ≥ θ``."""
    return np.nextafter(np.float32(value), np.float32(-np.inf))


def _f32(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


def _if(width: int, threshold) -> nir.IF:
    return nir.IF(r=np.ones(width, np.float32), v_threshold=np.full(width, threshold, np.float32),
                  v_reset=np.zeros(width, np.float32))


def spiking_projections(model: nn.Module, layers=None) -> list[SpikingLinear]:
    """The :class:`SpikingLinear` layers of the chosen blocks (all blocks: ``None``), in module order."""
    hf = getattr(model, "hf_model", model)
    found = [m for m in hf.modules() if isinstance(m, SpikingLinear)
             and (layers is None or m.layer in set(layers))]
    if not found:
        raise ValueError("export-nir needs a model converted with a quantization or spiking method (spikellm, "
                         "sdllm, ...); this one has no spiking projections"
                         + ("" if layers is None else f" in blocks {list(layers)}"))
    return found


def group_count(layer: SpikingLinear, steps: int, max_count: int | None = None) -> tuple[int, bool]:
    """``(n, exact)``: the populations a channel group of ``steps`` steps needs (its largest count) and
    whether they cover every count the simulator can produce."""
    limit = layer.code.limit(steps)
    if limit is not None:
        return int(limit), True
    return int((max_count or DEFAULT_MAX_COUNT) * steps), False   # adaptive code without a cap


def projection_graph(layer: SpikingLinear, max_count: int | None = None) -> nir.NIRGraph:
    """One projection as a NIR graph of its own (see the module docstring); ``max_count``: populations
    per step multiplier of an uncapped adaptive code."""
    nodes, edges, metadata = _projection_parts(layer, max_count)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _projection_parts(layer: SpikingLinear, max_count: int | None) -> tuple[dict, list, dict]:
    layer.unpack_codes()
    weight = layer.weight                        # s ⊙ C in the original channel order, float32
    codes = layer.canonical_codes() if layer.integer_weights else None   # in perm's order
    nodes, edges, exact = {}, [], True
    code = layer.code
    plans = layer.plans if code is not None else []
    if code is None:   # activations not quantized: a plain synapse on real-valued inputs
        nodes["input"] = nir.Input(input_type=np.array([layer.in_features]))
        nodes["linear"] = nir.Linear(weight=_f32(weight), metadata=_weight_metadata(layer, codes, None))
        nodes["output"] = nir.Output(output_type=np.array([layer.out_features]))
        edges = [("input", "linear"), ("linear", "output")]
    for g, plan in enumerate(plans):
        width = plan.end - plan.start
        n, group_exact = group_count(layer, plan.steps, max_count)
        exact &= group_exact
        inp, lin, out = f"input.g{g}", f"linear.g{g}", f"output.g{g}"
        nodes[inp] = nir.Input(input_type=np.array([width]))
        nodes[lin] = nir.Linear(weight=_f32(weight[:, layer.perm[plan.start:plan.end]]),
                                metadata=_weight_metadata(layer, codes, plan))
        nodes[out] = nir.Output(output_type=np.array([layer.out_features]))
        edges.append((lin, out))
        if not code.signed:   # unsigned (GIF) counts: one population per level
            for k in range(1, n + 1):
                nodes[f"if.g{g}.k{k}"] = _if(width, _below(k - 0.5))
                edges += [(inp, f"if.g{g}.k{k}"), (f"if.g{g}.k{k}", lin)]
        else:   # signed (ternary) counts: a positive and a negative population per level
            flip_in, flip_out = f"negate_charge.g{g}", f"negate_spikes.g{g}"
            nodes[flip_in] = nir.Scale(scale=np.full(width, -1.0, np.float32))
            nodes[flip_out] = nir.Scale(scale=np.full(width, -1.0, np.float32))
            edges += [(inp, flip_in), (flip_out, lin)]
            for k in range(1, n + 1):
                pos, neg = f"if_pos.g{g}.k{k}", f"if_neg.g{g}.k{k}"
                nodes[pos], nodes[neg] = _if(width, k - 0.5), _if(width, k - 0.5)
                edges += [(inp, pos), (pos, lin), (flip_in, neg), (neg, flip_out)]
    metadata = {"site": layer.site, "layer": int(layer.layer), "in_features": int(layer.in_features),
                "out_features": int(layer.out_features), "groups": len(plans),
                "code": "none" if code is None else code.kind,
                "exact": _exactness(code, exact),
                "spike_form": _spike_form(code),
                "time": "one NIR time step per token, every neuron from rest (v = 0) before it; dt = 1",
                "host_before": "per group g: u = x[:, channels_g] / Δ_g + z_g, with Δ_g, z_g the token's threshold and "
                               "zero point (SpikeCode.scale_zero); input.g takes u",
                "host_after": "y = Σ_g Δ_g · (output.g - z_g · rowsum(linear.g.weight)) + bias"
                              + ("" if layer.bias is None else " (bias in this metadata)")}
    if layer.bias is not None:
        metadata["bias"] = _f32(layer.bias)
    return nodes, edges, metadata


def _weight_metadata(layer: SpikingLinear, codes: Tensor | None, plan) -> dict:
    meta = {"site": layer.site}
    if plan is not None:
        meta.update(channels=layer.perm[plan.start:plan.end].cpu().numpy().astype(np.int64),
                    steps=int(plan.steps), levels_per_step=int(layer.code.per_step + 1))
    if codes is not None:
        block = codes if plan is None else codes[:, plan.start:plan.end]
        if plan is None:   # back to the original channel order
            block = torch.empty_like(codes)
            block[:, layer.perm] = codes
        meta.update(weight_codes=block.cpu().numpy(), weight_scale=_f32(layer.weight_scale.reshape(-1)),
                    weight="weight = weight_scale[:, None] * weight_codes (float32)")
    return meta


def _exactness(code, covers: bool) -> str:
    if code is None:
        return "synapses only: real-valued inputs, weights as dequantized"
    if not covers:
        return ("inexact: the adaptive code has no largest count (no count_cap); counts above the exported "
                "populations saturate — convert with count_cap N for an exact graph")
    return ("exact: per channel, the spikes summed over the IF populations equal the simulator's Σ_t S[t] bit for bit; "
            "the output differs from the layer's only by float rounding (dequantized float32 weights here, an "
            "integer GEMM scaled afterwards there)")


def _spike_form(code) -> str:
    if code is None:
        return "no spikes"
    if not code.signed:
        if code.per_step == 1:
            return "binary GIF: the same spikes, its T steps unrolled into T populations"
        return (f"thermometer: a GIF spike of level j (0..{code.per_step}) becomes j binary spikes of "
                f"{code.per_step} parallel IF populations per step; the T steps are unrolled into populations")
    form = ("ternary: +1/-1 spikes as two binary IF populations (negative charge and spikes through Scale(-1))"
            if code.per_step == 1 else f"ternary of levels ±{code.per_step}: thermometer per sign")
    if code.bitwise:
        form += "; the bitwise train (2^(T-1-t)-weighted steps) is exported as its count"
    return form


# ----------------------------------------------------------------------------- the whole export
def host_operations(model: nn.Module, layer: int) -> dict:
    """What block ``layer`` computes outside the exported projections, in order: ``{key: {op, after,
    before, shape}}`` (shapes per token; ``tokens`` is the sequence length)."""
    hf = getattr(model, "hf_model", model)
    c = hf.config
    hidden, inter = c.hidden_size, c.intermediate_size
    heads, kv = c.num_attention_heads, c.num_key_value_heads
    head_dim = getattr(c, "head_dim", None) or hidden // heads
    act = str(getattr(c, "hidden_activation", None) or getattr(c, "hidden_act", "silu"))
    p = f"layers.{layer}."
    q, k, v, o = (p + f"self_attn.{n}_proj" for n in "qkvo")
    gate, up, down = (p + f"mlp.{n}_proj" for n in ("gate", "up", "down"))
    ops = [("input_layernorm", "RMSNorm", "block input (residual stream)", f"{q}, {k}, {v}", f"[tokens, {hidden}]"),
           ("encoder_thresholds", "per-token threshold Δ and zero point z of every projection's encoder "
            "(from the token's range or mean|x|): the charge u = x/Δ + z", "each projection's input",
            "each projection's input.g", "[tokens, in_features] -> [tokens, 1] per group")]
    block = hf.model.layers[layer] if hasattr(hf, "model") and hasattr(hf.model, "layers") else None
    attn = getattr(block, "self_attn", None)
    if attn is not None and hasattr(attn, "q_norm"):
        ops.append(("qk_norm", "RMSNorm of q and k per head", f"{q}, {k}", "rope", f"[tokens, {heads}|{kv}, {head_dim}]"))
    ops += [("rope", "rotary position embedding of q and k", f"{q}, {k}", "kv_cache",
             f"[tokens, {heads}, {head_dim}] and [tokens, {kv}, {head_dim}]"),
            ("kv_cache", "KV cache (keys and values of earlier tokens)", f"{k}, {v}", "qk_product",
             f"[{kv}, tokens, {head_dim}] each"),
            ("qk_product", "Q·Kᵀ / sqrt(head_dim) with the causal mask (activation × activation; Q and K "
             "spike-encoded when quantize_attention)", "rope, kv_cache", "softmax", f"[{heads}, tokens, tokens]"),
            ("softmax", "softmax over keys", "qk_product", "av_product", f"[{heads}, tokens, tokens]"),
            ("av_product", "A·V (activation × activation; V spike-encoded when quantize_attention)", "softmax", o,
             f"[tokens, {heads * head_dim}]")]
    if block is not None and hasattr(block, "post_attention_layernorm") and hasattr(block, "pre_feedforward_layernorm"):
        ops.append(("post_attention_norm", "RMSNorm of the attention output (Gemma 3 sandwich)", o, "residual_attention",
                    f"[tokens, {hidden}]"))
    ops += [("residual_attention", "residual add: block input + attention output", o, "post_attention_layernorm",
             f"[tokens, {hidden}]"),
            ("post_attention_layernorm", "RMSNorm", "residual_attention", f"{gate}, {up}", f"[tokens, {hidden}]"),
            ("gate", f"{act}(gate) ⊙ up (activation × activation)", f"{gate}, {up}", down, f"[tokens, {inter}]"),
            ("residual_mlp", "residual add: residual stream + MLP output", down, "next block", f"[tokens, {hidden}]")]
    return {f"{layer:03d}.{i:02d}.{name}": {"op": op, "after": after, "before": before, "shape": shape}
            for i, (name, op, after, before, shape) in enumerate(ops)}


def to_nir(model: nn.Module, layers=None, max_count: int | None = None) -> nir.NIRGraph:
    """The projections of blocks ``layers`` (all: ``None``) of a converted model as one NIR graph. Each
    projection's nodes are named ``<site>.<node>`` (``layers.0.self_attn.q_proj.linear.g0``); no edge joins
    two projections (what lies between them runs on the host: ``metadata['host_operations']``), and
    ``metadata['projections'][site]`` describes each (:func:`subgraph` takes one out as a graph of its own)."""
    found = spiking_projections(model, layers)
    blocks = sorted({m.layer for m in found})
    nodes, edges, projections = {}, [], {}
    for m in found:
        local_nodes, local_edges, meta = _projection_parts(m, max_count)
        nodes.update({f"{m.site}.{name}": node for name, node in local_nodes.items()})
        edges += [(f"{m.site}.{a}", f"{m.site}.{b}") for a, b in local_edges]
        projections[m.site] = meta
    exact = all(str(meta["exact"]).startswith("exact") for meta in projections.values())
    config = getattr(getattr(model, "hf_model", model), "neuro_llm_config", None)
    metadata = {"format": FORMAT, "layers": np.array(blocks, dtype=np.int64), "projections": projections,
                "exact": "exact" if exact else "inexact: see each projection's metadata",
                "host_operations": {op: entry for b in blocks for op, entry in host_operations(model, b).items()},
                "reading": "nodes <site>.input.g (the charge u of channel group g), <site>.if*.g.k (IF populations), "
                           "<site>.linear.g (the projection's weights, codes and scales in its metadata), "
                           "<site>.output.g; metadata['projections'][site] says how the host feeds and finishes them"}
    if config is not None:
        metadata["config"] = {k: ("none" if v is None else v) for k, v in config.to_dict().items()
                              if isinstance(v, (str, int, float, bool)) or v is None}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def sites(graph: nir.NIRGraph) -> list[str]:
    """The projections a graph written by :func:`to_nir` holds, in its order."""
    return list(graph.metadata["projections"])


def subgraph(graph: nir.NIRGraph, site: str, group: int | None = None) -> nir.NIRGraph:
    """Projection ``site`` of a :func:`to_nir` graph as a graph of its own (node names without the prefix),
    or only its channel group ``group`` (one Input, one Output: what snntorch and nirtorch import)."""
    prefix = site + "."

    def keep(local: str) -> bool:
        parts = local.split(".")
        return group is None or (len(parts) > 1 and parts[1] == f"g{group}")

    nodes = {name[len(prefix):]: node for name, node in graph.nodes.items()
             if name.startswith(prefix) and keep(name[len(prefix):])}
    if not nodes:
        raise ValueError(f"no projection {site!r}" + ("" if group is None else f" group {group}")
                         + f" in this graph; it holds {', '.join(sites(graph))}")
    edges = [(a[len(prefix):], b[len(prefix):]) for a, b in graph.edges
             if a[len(prefix):] in nodes and a.startswith(prefix) and b[len(prefix):] in nodes]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(graph.metadata["projections"][site]))


def write(graph: nir.NIRGraph, path: str | os.PathLike) -> Path:
    """``nir.write`` to a temporary name beside ``path``, then rename (no half-written file is left)."""
    return write_atomic(path, lambda tmp: nir.write(tmp, graph))


# ----------------------------------------------------------------------------- the host side of one projection
@torch.no_grad()
def charge(layer: SpikingLinear, x: Tensor) -> tuple[dict[str, Tensor], list[tuple[Tensor, Tensor | None]]]:
    """``({input.g: u_g [M, width_g]}, [(Δ_g, z_g)])``: what the host feeds a projection's sub-graph for
    activations ``x [..., in]`` (the same float operations as the layer's own encoder)."""
    xs = x.reshape(-1, layer.in_features).float()[:, layer.perm]
    inputs, encoders = {}, []
    for g, plan in enumerate(layer.plans):
        xg = xs[:, plan.start:plan.end]
        scale, zero = layer.code.scale_zero(xg, plan.steps, dim=-1)
        inputs[f"input.g{g}"] = xg / scale + zero if zero is not None else xg / scale
        encoders.append((scale, zero))
    return inputs, encoders


@torch.no_grad()
def epilogue(layer: SpikingLinear, outputs: dict[str, Tensor], encoders, graph: nir.NIRGraph) -> Tensor:
    """``y = Σ_g Δ_g (output.g - z_g · rowsum W_g) + b`` from a run of ``graph`` (the projection's sub-graph)."""
    y = None
    for g, (scale, zero) in enumerate(encoders):
        a = outputs[f"output.g{g}"].float()
        if zero is not None:
            rowsum = torch.from_numpy(graph.nodes[f"linear.g{g}"].weight).sum(1)
            a = a - zero * rowsum
        term = scale * a
        y = term if y is None else y + term
    if layer.bias is not None:
        y = y + layer.bias.float()
    return y


def torch_module(group_graph: nir.NIRGraph) -> nn.Module:
    """One channel group of a projection (:func:`subgraph` with ``group``) as a runnable torch module,
    through ``nirtorch.nir_to_torch``: ``Linear`` as snntorch maps it, ``IF`` as an snntorch ``Leaky`` with
    ``beta = 1`` (no leak: an IF), its threshold and reset to zero, ``Scale`` as an elementwise product.
    Call ``module(u)`` → ``(output, state)`` once per token batch, after :func:`reset` (its neurons
    start from rest). snntorch's own ``import_from_nir`` maps IF to a leaky neuron
    (``beta = 0.9``) returning ``(spikes, membrane)`` tuples, which the sums where edges meet cannot take."""
    import nirtorch
    import snntorch
    from snntorch.import_nir import _nir_to_snntorch_module

    def if_neuron(node: nir.IF) -> nn.Module:
        threshold = np.unique(node.v_threshold)
        if threshold.size != 1 or not np.all(node.r == 1) or not np.all(node.v_reset == 0):
            raise ValueError("an IF population of one threshold, r = 1 and v_reset = 0 is expected")
        return snntorch.Leaky(beta=1.0, threshold=torch.tensor(threshold[0], dtype=torch.float32),
                              reset_mechanism="zero", init_hidden=True)

    class _Scale(nn.Module):
        def __init__(self, scale: np.ndarray):
            super().__init__()
            self.register_buffer("scale", torch.from_numpy(np.asarray(scale, np.float32)))

        def forward(self, x: Tensor) -> Tensor:
            return x * self.scale

    return nirtorch.nir_to_torch(group_graph, {nir.IF: if_neuron, nir.Linear: _nir_to_snntorch_module,
                                               nir.Affine: _nir_to_snntorch_module,
                                               nir.Scale: lambda node: _Scale(node.scale)})


def reset(module: nn.Module) -> nn.Module:
    """Every snntorch neuron of ``module`` back to rest (``v = 0``): before each token batch."""
    import snntorch

    for m in module.modules():
        if isinstance(m, snntorch.Leaky):
            m.reset_mem()
    return module


def summary(graph: nir.NIRGraph) -> dict:
    """Counts of a :func:`to_nir` graph: projections, IF populations and neurons, Linear nodes, whether it
    is exact, host-side operations."""
    populations = [n for n in graph.nodes.values() if isinstance(n, nir.IF)]
    return {"projections": len(graph.metadata["projections"]), "populations": len(populations),
            "neurons": int(sum(n.v_threshold.size for n in populations)),
            "linear_nodes": sum(isinstance(n, (nir.Linear, nir.Affine)) for n in graph.nodes.values()),
            "exact": str(graph.metadata["exact"]).split(":")[0],
            "host_operations": len(graph.metadata["host_operations"])}
