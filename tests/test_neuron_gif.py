"""The stateful GIF module: single steps, multi-step paths, state handling, validation, gradients, leaks.

Thresholds in the equality tests are powers of two, so that the loop and the closed form do exactly the
same float arithmetic (see tests/test_functional.py).
"""
import gc
import weakref

import pytest
import snntorch
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from snntorch._neurons.neurons import SpikingNeuron

from neurons import GIF
from neurons import functional as F
from neurons._registry import forget_instance

from neuron_inputs import currents_steps_thresholds, gated

settings.register_profile("neurons", max_examples=50, deadline=None)
settings.load_profile("neurons")


@st.composite
def setups(draw):
    """``(x [N, C], levels, steps, threshold)``: see ``currents_steps_thresholds``; levels from 2 to 256."""
    x, steps, threshold = draw(currents_steps_thresholds())
    levels = draw(st.sampled_from([2, 3, 4, 8, 16, 256]))
    return x, levels, steps, threshold


# ----------------------------------------------------------------------------- equivalence of paths
@given(setups(), st.sampled_from(["once", "constant"]))
def test_single_steps_equal_multi_step_and_run(setup, style):
    x, levels, steps, threshold = setup
    n = GIF(levels, steps, threshold, input_style=style)
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
    reference = F.gif_encode if style == "once" else F.gif_encode_rate
    assert torch.equal(expected, reference(x, threshold, levels, steps))


def test_spikes_are_integers_not_scaled_by_threshold():
    n = GIF(levels=4, steps=2, threshold=0.5)
    spk, mem = n(torch.tensor([0.2, 0.3, 1.0, 5.0]))
    assert spk.tolist() == [0, 1, 2, 3]
    assert mem.tolist() == pytest.approx([0.2, -0.2, 0.0, 3.5])  # soft reset: V - θ·S


def test_run_gates_channels_after_their_steps():
    n = GIF(levels=2, steps=torch.tensor([1, 3]))
    spikes, mem = n.run(torch.ones(4, 2))
    assert spikes[:, 0].tolist() == [1, 0, 0, 0]
    assert spikes[:, 1].tolist() == [1, 1, 1, 0]
    assert mem.tolist() == [0.0, 0.0]  # a gated channel takes no input


# ----------------------------------------------------------------------------- state handling
def test_init_hidden_keeps_state_and_resets():
    x = torch.tensor([[0.7, 2.2, -1.0]])
    explicit = GIF(4, 3, 0.5)
    spk1, mem1 = explicit(x, torch.zeros_like(x))
    spk2, mem2 = explicit(torch.zeros_like(x), mem1)

    hidden = GIF(4, 3, 0.5, init_hidden=True)
    out = hidden(x)
    assert isinstance(out, torch.Tensor) and torch.equal(out, spk1) and torch.equal(hidden.mem, mem1)
    assert torch.equal(hidden(torch.zeros_like(x)), spk2) and torch.equal(hidden.mem, mem2)
    with pytest.raises(TypeError, match="init_hidden"):
        hidden(x, mem1)
    hidden.reset_mem()
    assert torch.equal(hidden.mem, torch.zeros_like(x))
    assert torch.equal(hidden(x), spk1)
    hidden.init_leaky()
    assert not hidden.mem.any()

    with_output = GIF(4, 3, 0.5, init_hidden=True, output=True)
    spk, mem = with_output(x)
    assert torch.equal(spk, spk1) and torch.equal(mem, mem1)


def test_membrane_restarts_on_shape_change():
    n = GIF(4, 2, init_hidden=True)
    n(torch.full((1, 3), 0.4))
    assert torch.equal(n(torch.full((2, 3), 0.4)), torch.zeros(2, 3))  # 0.4 from rest, not 0.8 from the old state


@given(setups(), st.sampled_from(["once", "constant"]))
def test_reset_to_zero(setup, style):
    x, levels, steps, threshold = setup
    n = GIF(levels, steps, threshold, reset_mechanism="zero", input_style=style)
    spikes = n.multi_step(x)
    first = torch.clamp(F.round_half_up(x / threshold), 0, levels - 1)
    assert torch.equal(spikes[0], first)
    spk, mem = n(x)
    assert torch.equal(mem, torch.where(first > 0, torch.zeros_like(x), x))
    if style == "once":  # emptied by its first spike, the neuron stays silent
        assert not spikes[1:].any()
    mem, looped = torch.zeros_like(x), []
    for t in range(n.max_steps):
        spk, mem = n(x if style == "constant" or t == 0 else torch.zeros_like(x), mem)
        looped.append(spk)
    assert torch.equal(gated(torch.stack(looped), steps), spikes)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, name", [
    (dict(levels=1), "levels"), (dict(levels=0), "levels"), (dict(levels=2.5), "levels"),
    (dict(levels="4"), "levels"), (dict(levels=True), "levels"), (dict(levels=4.0), "levels"),
    (dict(steps=0), "steps"), (dict(steps=-2), "steps"), (dict(steps=2.5), "steps"), (dict(steps="4"), "steps"),
    (dict(steps=torch.tensor([1.0, 2.0])), "steps"), (dict(steps=torch.tensor([1, 0])), "steps"),
    (dict(steps=torch.ones(2, 2, dtype=torch.long)), "steps"), (dict(steps=torch.tensor([], dtype=torch.long)), "steps"),
    (dict(threshold=0.0), "threshold"), (dict(threshold=-1.0), "threshold"), (dict(threshold=float("nan")), "threshold"),
    (dict(threshold=float("inf")), "threshold"), (dict(threshold=torch.tensor([1.0, 0.0])), "threshold"),
    (dict(threshold="1"), "threshold"), (dict(threshold=torch.tensor([1, 2])), "threshold"),
    (dict(reset_mechanism="none"), "reset_mechanism"), (dict(input_style="rate"), "input_style"),
    (dict(spike_grad="atan"), "spike_grad"),
])
def test_bad_arguments_raise(kwargs, name):
    args = dict(levels=4, steps=2) | kwargs
    before = len(SpikingNeuron.instances)
    with pytest.raises(ValueError, match=name):
        GIF(**args)
    assert len(SpikingNeuron.instances) == before


def test_bad_inputs_raise():
    n = GIF(4, torch.tensor([1, 2, 4]))
    for call in (n, n.multi_step, lambda x: n.run(x.unsqueeze(0))):
        with pytest.raises(ValueError, match="steps has 3 entries.*last dim is 4"):
            call(torch.zeros(2, 4))
    n = GIF(4, 2, threshold=torch.ones(3))
    for call in (n, n.multi_step, lambda x: n.run(x.unsqueeze(0))):
        with pytest.raises(ValueError, match="threshold of shape"):
            call(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="threshold of shape"):  # would broadcast the input up to [2, 2, 4]
        GIF(4, 2, threshold=torch.ones(2, 1, 1))(torch.zeros(2, 4))


# ----------------------------------------------------------------------------- gradients
def test_surrogate_gradient_is_straight_through_in_firing_range():
    theta = 0.5
    x = torch.tensor([-1.0, -0.2, 0.1, 0.9, 1.6, 1.8, 3.0], requires_grad=True)
    n = GIF(4, 2, theta)
    spk, mem = n(x)
    with torch.no_grad():
        assert torch.equal(spk, n(x, torch.zeros_like(x))[0])  # forward value is the exact integer spike
    weights = torch.arange(1.0, 8.0)
    (spk * weights).sum().backward()
    inside = (x / theta >= -0.5) & (x / theta < 3.5)
    assert torch.equal(x.grad, torch.where(inside, weights / theta, torch.zeros(7)))
    assert x.grad.any()


def test_gradient_flows_through_time_and_threshold():
    x = (torch.randn(3, 8, generator=torch.Generator().manual_seed(0)) * 2).requires_grad_()
    n = GIF(8, 4, torch.full((8,), 0.5), learn_threshold=True)
    assert isinstance(n.threshold, torch.nn.Parameter)
    spikes = n.multi_step(x)
    with torch.no_grad():
        assert torch.equal(spikes, n.multi_step(x))
    (spikes * torch.arange(1.0, 5.0).view(-1, 1, 1)).sum().backward()
    for grad in (x.grad, n.threshold.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_custom_spike_grad_changes_only_the_backward():
    x = torch.linspace(-1, 4, 11, requires_grad=True)
    n = GIF(4, 2, spike_grad=lambda u: 2 * torch.sigmoid(u))
    spk, _ = n(x)
    spk.sum().backward()
    assert torch.equal(spk.detach(), GIF(4, 2)(x.detach())[0])
    u = x.detach()
    assert torch.allclose(x.grad, 2 * torch.sigmoid(u) * (1 - torch.sigmoid(u)))


# ----------------------------------------------------------------------------- snntorch registry leak
def test_neurons_do_not_leak_into_snntorch_registry():
    before = len(SpikingNeuron.instances)
    many = [GIF(4, 2) for _ in range(2000)]
    assert len(SpikingNeuron.instances) == before
    del many

    n = GIF(4, 2, init_hidden=True)
    n(torch.randn(4, 3))
    ref = weakref.ref(n)
    del n
    gc.collect()
    assert ref() is None


def test_forget_instance_removes_only_that_neuron():
    leaky = snntorch.Leaky(beta=0.5)
    other = snntorch.Leaky(beta=0.5)
    assert SpikingNeuron.instances[-2:] == [leaky, other]  # plain snntorch neurons still register
    forget_instance(leaky)  # not the last entry: found by identity
    assert SpikingNeuron.instances[-1] is other and all(i is not leaky for i in SpikingNeuron.instances)
    forget_instance(other)
    assert all(i is not other for i in SpikingNeuron.instances)
