"""The stateful TernaryGIF module: single steps, multi-step paths, clipping, state, validation, gradients, leaks.

Thresholds in the equality tests are powers of two, so that the loop and the closed form do exactly the
same float arithmetic (see tests/test_functional.py).
"""
import gc
import weakref

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from snntorch._neurons.neurons import SpikingNeuron

from neurons import TernaryGIF
from neurons import functional as F

from neuron_inputs import currents_steps_thresholds, gated

settings.register_profile("neurons", max_examples=50, deadline=None)
settings.load_profile("neurons")


@st.composite
def setups(draw):
    """``(x [N, C], max_level, steps, threshold)``: see ``currents_steps_thresholds``; max level 1 to 4."""
    x, steps, threshold = draw(currents_steps_thresholds())
    max_level = draw(st.integers(1, 4))
    return x, max_level, steps, threshold


# ----------------------------------------------------------------------------- equivalence of paths
@given(setups(), st.sampled_from(["once", "constant"]))
def test_single_steps_equal_multi_step_and_run(setup, style):
    x, max_level, steps, threshold = setup
    n = TernaryGIF(steps, max_level, threshold, input_style=style)
    currents = torch.stack([x if style == "constant" or t == 0 else torch.zeros_like(x)
                            for t in range(n.max_steps)])
    mem, looped = None, []
    for current in currents:
        spk, mem = n(current, mem)
        looped.append(spk)
    expected = n.multi_step(x)
    assert expected.shape == (n.max_steps, *x.shape)
    assert torch.equal(gated(torch.stack(looped), steps), expected)
    assert torch.equal(n.run(currents)[0], expected)
    reference = F.ternary_encode if style == "once" else F.ternary_encode_rate
    assert torch.equal(expected, reference(x, threshold, max_level, steps))
    assert expected.min() >= -max_level and expected.max() <= max_level


def test_spikes_are_signed_integers_not_scaled_by_threshold():
    n = TernaryGIF(steps=2, max_level=2, threshold=0.5)
    spk, mem = n(torch.tensor([-5.0, -0.6, 0.2, 0.3, 0.8, 5.0]))
    assert spk.tolist() == [-2, -1, 0, 1, 2, 2]
    # charge clipped to ±T·k·θ = ±2 ("once" style), then soft reset V - θ·S
    assert mem.tolist() == pytest.approx([-1.0, -0.1, 0.2, -0.2, -0.2, 1.0])


def test_clipping_only_in_once_style():
    x = torch.tensor([10.0, -10.0])
    once, constant = TernaryGIF(steps=3), TernaryGIF(steps=3, input_style="constant")
    assert once(x)[1].tolist() == [2.0, -2.0]  # clipped to ±3, then one spike out
    assert constant(x)[1].tolist() == [9.0, -9.0]
    assert once.multi_step(x).sum(0).tolist() == constant.multi_step(x).sum(0).tolist() == [3.0, -3.0]
    assert once.run(torch.stack([x, 0 * x, 0 * x]))[1].tolist() == [0.0, 0.0]  # nothing left after T steps


def test_ternary_count_takes_abs_steps():
    n = TernaryGIF(steps=8)
    spikes = n.multi_step(torch.tensor([3.0, -5.0, 0.0, 8.0]))
    assert torch.count_nonzero(spikes, dim=0).tolist() == [3, 5, 0, 8]
    assert spikes.sum(0).tolist() == [3, -5, 0, 8]


# ----------------------------------------------------------------------------- state handling
def test_init_hidden_keeps_state_and_resets():
    x = torch.tensor([[0.7, -2.2, 1.4]])
    explicit = TernaryGIF(3, threshold=0.5)
    spk1, mem1 = explicit(x, torch.zeros_like(x))
    spk2, mem2 = explicit(torch.zeros_like(x), mem1)

    hidden = TernaryGIF(3, threshold=0.5, init_hidden=True)
    out = hidden(x)
    assert isinstance(out, torch.Tensor) and torch.equal(out, spk1) and torch.equal(hidden.mem, mem1)
    assert torch.equal(hidden(torch.zeros_like(x)), spk2) and torch.equal(hidden.mem, mem2)
    with pytest.raises(TypeError, match="init_hidden"):
        hidden(x, mem1)
    hidden.reset_mem()
    assert torch.equal(hidden.mem, torch.zeros_like(x))
    assert torch.equal(hidden(x), spk1)

    with_output = TernaryGIF(3, threshold=0.5, init_hidden=True, output=True)
    spk, mem = with_output(x)
    assert torch.equal(spk, spk1) and torch.equal(mem, mem1)


@given(setups(), st.sampled_from(["once", "constant"]))
def test_reset_to_zero(setup, style):
    x, max_level, steps, threshold = setup
    n = TernaryGIF(steps, max_level, threshold, reset_mechanism="zero", input_style=style)
    spikes = n.multi_step(x)
    first = torch.clamp(F.round_half_to_zero(x / threshold), -max_level, max_level)
    assert torch.equal(spikes[0], first)
    spk, mem = n(x)
    charged = F.clip_membrane(x, threshold, max_level, steps) if style == "once" else x
    assert torch.equal(mem, torch.where(first != 0, torch.zeros_like(x), charged))
    if style == "once":  # emptied by its first spike, the neuron stays silent
        assert not spikes[1:].any()
    mem, looped = torch.zeros_like(x), []
    for t in range(n.max_steps):
        spk, mem = n(x if style == "constant" or t == 0 else torch.zeros_like(x), mem)
        looped.append(spk)
    assert torch.equal(gated(torch.stack(looped), steps), spikes)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, name", [
    (dict(max_level=0), "max_level"), (dict(max_level=1.5), "max_level"), (dict(max_level="1"), "max_level"),
    (dict(steps=0), "steps"), (dict(steps=2.5), "steps"), (dict(steps="4"), "steps"),
    (dict(steps=torch.tensor([1.0, 2.0])), "steps"), (dict(steps=torch.tensor([2, 0])), "steps"),
    (dict(threshold=0.0), "threshold"), (dict(threshold=-0.5), "threshold"), (dict(threshold=float("nan")), "threshold"),
    (dict(threshold=torch.tensor([1.0, float("inf")])), "threshold"), (dict(threshold=None), "threshold"),
    (dict(reset_mechanism="none"), "reset_mechanism"), (dict(input_style="twice"), "input_style"),
])
def test_bad_arguments_raise(kwargs, name):
    args = dict(steps=2) | kwargs
    with pytest.raises(ValueError, match=name):
        TernaryGIF(**args)


def test_bad_inputs_raise():
    n = TernaryGIF(torch.tensor([1, 2]))
    for call in (n, n.multi_step, lambda x: n.run(x.unsqueeze(0))):
        with pytest.raises(ValueError, match="steps has 2 entries.*last dim is 3"):
            call(torch.zeros(4, 3))
    n = TernaryGIF(2, threshold=torch.ones(5, 1))
    with pytest.raises(ValueError, match="threshold of shape"):
        n(torch.zeros(4, 3))


# ----------------------------------------------------------------------------- gradients
def test_surrogate_gradient_is_straight_through_in_firing_range():
    theta, k = 0.25, 2
    x = torch.tensor([-1.0, -0.5, -0.1, 0.05, 0.4, 0.7], requires_grad=True)
    n = TernaryGIF(steps=4, max_level=k, threshold=theta)
    spk, _ = n(x)
    with torch.no_grad():
        assert torch.equal(spk, n(x, torch.zeros_like(x))[0])  # forward value is the exact integer spike
    weights = torch.arange(1.0, 7.0)
    (spk * weights).sum().backward()
    inside = (x / theta).abs() < k + 0.5
    assert torch.equal(x.grad, torch.where(inside, weights / theta, torch.zeros(6)))
    assert x.grad.any()


def test_gradient_flows_through_time_and_threshold():
    x = (torch.randn(3, 8, generator=torch.Generator().manual_seed(1)) * 2).requires_grad_()
    n = TernaryGIF(4, 1, torch.full((8,), 0.5), learn_threshold=True)
    spikes = n.multi_step(x)
    with torch.no_grad():
        assert torch.equal(spikes, n.multi_step(x))
    (spikes * torch.arange(1.0, 5.0).view(-1, 1, 1)).sum().backward()
    for grad in (x.grad, n.threshold.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


# ----------------------------------------------------------------------------- snntorch registry leak
def test_neurons_do_not_leak_into_snntorch_registry():
    before = len(SpikingNeuron.instances)
    many = [TernaryGIF(2) for _ in range(2000)]
    assert len(SpikingNeuron.instances) == before
    del many

    n = TernaryGIF(2, init_hidden=True)
    n(torch.randn(4, 3))
    ref = weakref.ref(n)
    del n
    gc.collect()
    assert ref() is None
