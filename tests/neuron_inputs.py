"""Hypothesis inputs shared by the neuron tests: currents, step counts and power-of-two thresholds."""
from __future__ import annotations

import torch
from hypothesis import strategies as st


@st.composite
def currents_steps_thresholds(draw):
    """``(x [N, C], steps, threshold)``: int or per-channel steps in {1, 2, 4}; scalar, per-channel or
    per-token power-of-two threshold; x of both signs at three scales (often beyond the firing range)."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    steps = draw(st.one_of(st.sampled_from([1, 2, 4]), st.lists(st.sampled_from([1, 2, 4]), min_size=c,
                                                                max_size=c).map(torch.tensor)))
    pow2 = st.integers(-3, 2).map(lambda j: 2.0 ** j)
    kind = draw(st.sampled_from(["scalar", "channel", "token"]))
    if kind == "scalar":
        threshold = draw(pow2)
    else:
        size = c if kind == "channel" else n
        threshold = torch.tensor(draw(st.lists(pow2, min_size=size, max_size=size)))
        threshold = threshold if kind == "channel" else threshold.view(-1, 1)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31)))
    x = torch.randn(n, c, generator=gen) * draw(st.sampled_from([0.5, 4.0, 64.0]))
    return x, steps, threshold


def gated(spikes, steps):
    """Zero the spikes ``[T, N, C]`` at ``t >= steps[c]`` (single steps know nothing of per-channel steps)."""
    t = torch.arange(spikes.shape[0]).view(-1, 1, 1)
    return spikes * (t < torch.as_tensor(steps))
