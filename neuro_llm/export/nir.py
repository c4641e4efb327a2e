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
from neuro_llm.export.nir_host import host_operations  # noqa: F401 (part of this module's API)
from neuro_llm.export.nir_run import charge, epilogue, reset, torch_module  # noqa: F401 (the same)

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


def summary(graph: nir.NIRGraph) -> dict:
    """Counts of a :func:`to_nir` graph: projections, IF populations and neurons, Linear nodes, whether it
    is exact, host-side operations."""
    populations = [n for n in graph.nodes.values() if isinstance(n, nir.IF)]
    return {"projections": len(graph.metadata["projections"]), "populations": len(populations),
            "neurons": int(sum(n.v_threshold.size for n in populations)),
            "linear_nodes": sum(isinstance(n, (nir.Linear, nir.Affine)) for n in graph.nodes.values()),
            "exact": str(graph.metadata["exact"]).split(":")[0],
            "host_operations": len(graph.metadata["host_operations"])}
