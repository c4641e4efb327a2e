"""Running one exported projection: the host side that feeds and finishes its NIR sub-graph, and the sub-graph as
a torch module (``nirtorch`` with snntorch neurons)."""
from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from neuro_llm.spiking.linear import SpikingLinear

Tensor = torch.Tensor


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
