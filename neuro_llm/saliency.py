"""Optimal Brain Spiking, first order: which input channels of a linear layer deserve more GIF steps.

For ``y = x Wᵀ`` the first-order Taylor term of ``½‖y‖²`` in the input is ``x ⊙ ∂/∂x = x ⊙ (x Wᵀ W)``;
a channel's saliency is its mean over calibration tokens, ``s_c = mean_tokens(x ⊙ x Wᵀ W)_c``, ranked by
magnitude. The top ``salient`` fraction of channels gets ``salient_steps`` steps, the rest ``base_steps``.
"""
from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from neuro_llm.blocks import decoder_layers, linear_sites

Tensor = torch.Tensor


@torch.no_grad()
def linear_input_saliency(model: nn.Module, calibration: Tensor, progress: bool = True) -> dict[str, Tensor]:
    """``site → s`` (``[in_features]``) for every linear layer of every decoder block, from the FP model
    run on ``calibration`` (``[n, seqlen]`` token ids)."""
    sums: dict[str, Tensor] = {}
    tokens: dict[str, int] = {}
    handles = []

    def hook(site):
        def accumulate(module, inputs, output):
            x = inputs[0].reshape(-1, module.in_features).float()
            y = output.reshape(-1, module.out_features).float()
            if module.bias is not None:
                y = y - module.bias.float()
            s = (x * (y @ module.weight.float())).sum(0)
            sums[site] = sums.get(site, 0) + s
            tokens[site] = tokens.get(site, 0) + x.shape[0]
        return accumulate

    for site, linear in linear_sites(model):
        handles.append(linear.register_forward_hook(hook(site)))
    device = next(model.parameters()).device
    try:
        for window in tqdm(calibration, desc="saliency (OBS, first order)", disable=not progress):
            model(input_ids=window.view(1, -1).to(device), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return {site: (sums[site] / tokens[site]).cpu() for site in sums}


def allocate_steps(saliency: Tensor, fraction: float, base_steps: int, salient_steps: int) -> Tensor:
    """Per-channel step counts: the ``round(fraction·C)`` channels of largest ``|s|`` get ``salient_steps``."""
    steps = torch.full(saliency.shape, base_steps, dtype=torch.long)
    k = int(round(fraction * saliency.numel()))
    if k > 0:
        steps[torch.topk(saliency.abs(), k).indices] = salient_steps
    return steps
