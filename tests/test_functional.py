"""Properties of the pure neuron dynamics in :mod:`neurons.functional`.

The closed forms are checked against loops of the single-step functions and against quantizers
written here independently. Where exact equality needs exact float arithmetic, thresholds are powers
of two (dividing by ``2^j`` and subtracting ``θ·S`` are then exact) or inputs lie on a dyadic grid.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neurons import functional as F

LEVELS = [2, 3, 4, 8, 16, 256]
settings.register_profile("neurons", max_examples=60, deadline=None)
settings.load_profile("neurons")

HALF_MINUS = float(np.nextafter(np.float32(0.5), np.float32(0)))  # 0.49999997: float32 0.5 - 2^-25


# ----------------------------------------------------------------------------- strategies
@st.composite
def charges(draw, max_abs=1e3):
    """A float32 ``[N, C]`` tensor with hypothesis' awkward floats (0, ±tiny, half-integers, large)."""
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 6)))
    x = draw(arrays(np.float32, shape, elements=st.floats(-max_abs, max_abs, width=32, allow_subnormal=False)))
    return torch.from_numpy(x)


@st.composite
def step_counts(draw, channels):
    """An int T in {1, 2, 4} or a per-channel LongTensor with values in {1, 2, 4}."""
    if draw(st.booleans()):
        return draw(st.sampled_from([1, 2, 4]))
    return torch.tensor(draw(st.lists(st.sampled_from([1, 2, 4]), min_size=channels, max_size=channels)))


@st.composite
def thresholds(draw, shape, value):
    """A scalar, per-channel ``[C]`` or per-token ``[N, 1]`` threshold drawn from ``value``."""
    kind = draw(st.sampled_from(["scalar", "channel", "token"]))
    if kind == "scalar":
        return draw(value)
    size = shape[1] if kind == "channel" else shape[0]
    theta = torch.tensor(draw(st.lists(value, min_size=size, max_size=size)), dtype=torch.float32)
    return theta if kind == "channel" else theta.view(-1, 1)


POW2 = st.integers(-4, 3).map(lambda j: 2.0 ** j)
ANY_THETA = st.floats(2.0 ** -7, 2.0 ** 7, width=32)


def steps_grid(steps, shape):
    """``steps`` broadcast to ``[N, C]`` as a LongTensor, and its maximum."""
    t = torch.as_tensor(steps).expand(shape)
    return t, int(t.max())


def silent_after_steps(spikes, steps):
    """``spikes`` ``[T, N, C]`` with every position ``t >= steps[c]`` set to zero."""
    t = torch.arange(spikes.shape[0]).view(-1, 1, 1)
    return spikes * (t < torch.as_tensor(steps))


# ----------------------------------------------------------------------------- rounding
def test_round_half_up_is_exact_near_one_half():
    v = torch.tensor([HALF_MINUS, 0.5, 1.5, 2.5, -0.5, -1.5, -HALF_MINUS, 1.4999999, 0.0])
    assert F.round_half_up(v).tolist() == [0, 1, 2, 3, 0, -1, 0, 1, 0]
    assert F.round_half_to_zero(v).tolist() == [0, 0, 1, 2, 0, -1, 0, 1, 0]


@given(charges(max_abs=1e6))
def test_round_half_up_matches_float64(x):
    # float32 v + 0.5 is exact in float64 for |v| < 2^28, so floor there is the exact floor(v + 1/2)
    assert torch.equal(F.round_half_up(x).double(), torch.floor(x.double() + 0.5))
    assert torch.equal(F.round_half_to_zero(x).double(), torch.sign(x.double()) * torch.ceil(x.double().abs() - 0.5))


@pytest.mark.parametrize("levels", [2, 4])
def test_closed_forms_equal_loops_at_and_near_ties(levels):
    # regressions: with floor(v + 0.5) in float32, 0.49999997 fired 1 and its residual -0.5 fired -1;
    # with ternary ties away from zero, 1.5 fired 1, 1, then -1 from the residual -0.5
    x = torch.tensor([[HALF_MINUS, -HALF_MINUS, 0.5, -0.5, 1.5, -2.5, 2 * HALF_MINUS + 1]])
    assert torch.equal(F.gif_encode(x, 1.0, levels, 3), gif_loop(x, 1.0, levels, 3))
    assert torch.equal(F.ternary_encode(x, 1.0, levels - 1, 3), ternary_loop(x, 1.0, levels - 1, 3))


def test_zero_reset():
    spikes, mem = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([0.3, -0.2, 0.4])
    assert F.zero_reset(spikes, mem).tolist() == pytest.approx([0.3, 0.0, 0.0])


# ----------------------------------------------------------------------------- GIF, charged once
def gif_loop(x, theta, levels, steps):
    """Reference: charge with ``x`` at t = 0, then ``gif_step`` with zero input; silence after ``steps``."""
    _, max_steps = steps_grid(steps, x.shape)
    mem, out = torch.zeros_like(x), []
    for t in range(max_steps):
        spikes, mem = F.gif_step(x if t == 0 else torch.zeros_like(x), mem, theta, levels)
        out.append(spikes)
    return silent_after_steps(torch.stack(out), steps)


@given(st.data(), st.sampled_from(LEVELS))
def test_gif_encode_equals_step_loop(data, levels):
    x = data.draw(charges())
    theta, steps = data.draw(thresholds(x.shape, POW2)), data.draw(step_counts(x.shape[1]))
    assert torch.equal(F.gif_encode(x, theta, levels, steps), gif_loop(x, theta, levels, steps))


@given(st.data(), st.sampled_from(LEVELS))
def test_gif_encode_is_uniform_quantizer(data, levels):
    x = data.draw(charges())
    theta, steps = data.draw(thresholds(x.shape, ANY_THETA)), data.draw(step_counts(x.shape[1]))
    spikes = F.gif_encode(x, theta, levels, steps)
    # Independent quantizer: the quotient x/θ is the float32 one the neuron sees; rounding it in float64
    # (where u + 1/2 is exact) gives the exact floor(u + 1/2) without using the library's rounding.
    t_grid, _ = steps_grid(steps, x.shape)
    q = torch.minimum(torch.floor((x / torch.as_tensor(theta)).double() + 0.5).clamp(min=0), t_grid * (levels - 1))
    assert torch.equal(spikes.sum(0).double(), q)
    assert torch.equal(torch.as_tensor(theta) * spikes.sum(0), torch.as_tensor(theta) * q.float())


# ----------------------------------------------------------------------------- constant current
@st.composite
def dyadic_currents(draw):
    """``(I, θ, m, k)`` with ``I = m·θ/2^k``, small integers ``m`` and ``θ = odd/2^j``.

    On this grid every membrane value ``t·I - θ·N`` is a short dyadic rational, so sums, products and
    ``V/θ`` are exact in float32 and the loop reproduces the exact-arithmetic count. With arbitrary floats
    the rounding of the running sum can move ``t·I/θ`` across a half-integer and the count would then
    legitimately differ by one from the ideal formula.
    """
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 5)))
    m = torch.tensor(draw(arrays(np.int64, shape, elements=st.integers(-40, 80))))
    k = draw(st.integers(0, 3))
    theta = draw(st.sampled_from([1, 3, 5])) / 2 ** draw(st.integers(0, 3))
    return m.float() * theta / 2 ** k, theta, m, k


def rounded_rate(m, k, steps):
    """Exact ``floor(T·m/2^k + 1/2)`` and ``sign(m)·ceil(T·|m|/2^k - 1/2)`` in integer arithmetic."""
    half_up = (2 * steps * m + 2 ** k) // 2 ** (k + 1)
    half_to_zero = torch.sign(m) * ((2 * steps * m.abs() + 2 ** k - 1) // 2 ** (k + 1))
    return half_up, half_to_zero


@given(dyadic_currents(), st.sampled_from(LEVELS), st.data())
def test_gif_rate_count(current, levels, data):
    i, theta, m, k = current
    steps = data.draw(st.one_of(st.sampled_from([1, 2, 4, 8]), step_counts(m.shape[1])))
    t_grid, _ = steps_grid(steps, m.shape)
    expected = torch.clamp(torch.minimum(rounded_rate(m, k, t_grid)[0], t_grid * (levels - 1)), min=0)
    assert torch.equal(F.gif_encode_rate(i, theta, levels, steps).sum(0).long(), expected)


@given(dyadic_currents(), st.integers(1, 3), st.data())
def test_ternary_rate_count(current, max_level, data):
    i, theta, m, k = current
    steps = data.draw(st.one_of(st.sampled_from([1, 2, 4, 8]), step_counts(m.shape[1])))
    t_grid, _ = steps_grid(steps, m.shape)
    limit = t_grid * max_level
    expected = torch.maximum(torch.minimum(rounded_rate(m, k, t_grid)[1], limit), -limit)
    assert torch.equal(F.ternary_encode_rate(i, theta, max_level, steps).sum(0).long(), expected)


# ----------------------------------------------------------------------------- ternary, charged once
def ternary_loop(x, theta, max_level, steps):
    """Reference: clip the charge, then ``ternary_step`` with zero input; silence after ``steps``."""
    _, max_steps = steps_grid(steps, x.shape)
    mem, out = F.clip_membrane(x, theta, max_level, steps), []
    for _ in range(max_steps):
        spikes, mem = F.ternary_step(torch.zeros_like(x), mem, theta, max_level)
        out.append(spikes)
    return silent_after_steps(torch.stack(out), steps)


@given(st.data(), st.integers(1, 4))
def test_ternary_encode_equals_step_loop(data, max_level):
    x = data.draw(charges())
    theta, steps = data.draw(thresholds(x.shape, POW2)), data.draw(step_counts(x.shape[1]))
    assert torch.equal(F.ternary_encode(x, theta, max_level, steps), ternary_loop(x, theta, max_level, steps))


@given(st.data(), st.integers(1, 4))
def test_ternary_encode_is_symmetric_quantizer(data, max_level):
    x = data.draw(charges())
    theta, steps = data.draw(thresholds(x.shape, ANY_THETA)), data.draw(step_counts(x.shape[1]))
    spikes = F.ternary_encode(x, theta, max_level, steps)
    u = (x / torch.as_tensor(theta)).double()  # same float32 quotient as the neuron; rounded exactly in float64
    limit = steps_grid(steps, x.shape)[0] * max_level
    # symmetric, ties toward zero (see neurons.functional: ties away from zero make the neuron oscillate)
    q = torch.maximum(torch.minimum(torch.sign(u) * torch.ceil(u.abs() - 0.5), limit), -limit)
    assert torch.equal(spikes.sum(0).double(), q)
    assert torch.equal(torch.as_tensor(theta) * spikes.sum(0), torch.as_tensor(theta) * q.float())


@given(st.lists(st.integers(-40, 40), min_size=1, max_size=12), st.integers(1, 3), POW2)
def test_ternary_integer_charge_takes_ceil_steps(counts, max_level, theta):
    n = torch.tensor([counts])
    x = n.float() * theta
    for spikes in (F.ternary_encode(x, theta, max_level, 40), ternary_loop(x, theta, max_level, 40)):
        busy = torch.count_nonzero(spikes, dim=0).flatten()
        assert busy.tolist() == [-(-abs(c) // max_level) for c in counts]
        if max_level == 1:
            assert busy.tolist() == [abs(c) for c in counts]  # |x| steps, not the 2|x| of an offset code
        assert torch.equal(spikes.sum(0), n.float())


# ----------------------------------------------------------------------------- allowed values, gating
@given(st.data(), st.sampled_from(LEVELS), st.integers(1, 4))
def test_spikes_in_allowed_set_and_silent_after_steps(data, levels, max_level):
    x = data.draw(charges())
    theta, steps = data.draw(thresholds(x.shape, ANY_THETA)), data.draw(step_counts(x.shape[1]))
    t = torch.arange(steps_grid(steps, x.shape)[1]).view(-1, 1, 1)
    inactive = (t >= torch.as_tensor(steps)).expand(-1, *x.shape)
    trains = {
        (0, levels - 1): [F.gif_encode(x, theta, levels, steps), F.gif_encode_rate(x / 4, theta, levels, steps)],
        (-max_level, max_level): [F.ternary_encode(x, theta, max_level, steps),
                                  F.ternary_encode_rate(x / 4, theta, max_level, steps)],
    }
    for (lo, hi), spike_trains in trains.items():
        for spikes in spike_trains:
            assert spikes.shape == inactive.shape
            assert torch.equal(spikes, torch.round(spikes))
            assert spikes.min() >= lo and spikes.max() <= hi
            assert not spikes[inactive].any()


def test_gif_fills_levels_before_remainder():
    spikes = F.gif_encode(torch.tensor([10.0]), 1.0, 4, 5)
    assert spikes.flatten().tolist() == [3, 3, 3, 1, 0]
    assert math.isclose(float(F.gif_encode(torch.tensor([100.0]), 1.0, 4, 5).sum()), 15)
