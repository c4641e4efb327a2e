"""Spike tallies and synaptic-op counts: from counts vs from spikes, vectorized vs brute force, by hand."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import counters
from neurons import functional as nf

FAST = settings(max_examples=40, deadline=None)  # per test: a global profile would leak into other modules


def drain(count, kind, per_step, steps):
    if kind == "gif":
        return nf.gif_drain(count, per_step + 1, steps)
    return nf.ternary_drain(count, per_step, steps)


@st.composite
def events(draw):
    """Random integer counts ``[B, n, C]`` a code can hold in ``steps`` steps, with its code."""
    kind = draw(st.sampled_from(["gif", "ternary"]))
    per_step = draw(st.sampled_from([1, 2, 3, 15]))
    steps = draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 6)))
    cap = steps * per_step
    low = 0 if kind == "gif" else -cap
    seed = draw(st.integers(0, 2**31 - 1))
    count = torch.randint(low, cap + 1, shape, generator=torch.Generator().manual_seed(seed)).float()
    return kind, per_step, steps, count


def assert_same(a: counters.Tally, b: counters.Tally):
    for key in ("step_events", "channel_events", "channel_payload", "position_events", "position_payload"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    assert +a.levels == +b.levels
    assert +a.counts == +b.counts


@FAST
@given(events())
def test_tally_from_counts_equals_tally_from_spikes(event):
    kind, per_step, steps, count = event
    spikes = drain(count, kind, per_step, steps)
    assert_same(counters.tally_count(count, per_step, steps), counters.tally_spikes(spikes))


@FAST
@given(events())
def test_tally_matches_a_brute_force_loop(event):
    kind, per_step, steps, count = event
    spikes = drain(count, kind, per_step, steps).numpy()
    T, B, n, C = spikes.shape
    step_events, channel_events, position_events = np.zeros(T, int), np.zeros(C, int), np.zeros(n, int)
    levels = {}
    for t in range(T):
        for b in range(B):
            for i in range(n):
                for c in range(C):
                    s = int(spikes[t, b, i, c])
                    levels[s] = levels.get(s, 0) + 1
                    if s:
                        step_events[t] += 1
                        channel_events[c] += 1
                        position_events[i] += 1
    tally = counters.tally_count(count, per_step, steps)
    np.testing.assert_array_equal(tally.step_events, step_events)
    np.testing.assert_array_equal(tally.channel_events, channel_events)
    np.testing.assert_array_equal(tally.position_events, position_events)
    assert dict(+tally.levels) == levels
    assert sum(tally.levels.values()) == count.numel() * steps  # every neuron-step once


def brute_force_sops(kind, spikes, q_len, kv_len, out_features=0, groups=1):
    """Loop over every spike and every synapse it reaches, straight from the definitions."""
    T, B, n, C = spikes.shape
    sops = payload = 0
    for t in range(T):
        for b in range(B):
            for pos in range(n):
                for c in range(C):
                    s = abs(int(spikes[t, b, pos, c]))
                    if not s:
                        continue
                    if kind == "linear":
                        reached = out_features
                    elif kind == "q":  # keys j this query may see
                        reached = sum(1 for j in range(kv_len) if j <= pos + kv_len - q_len)
                    elif kind == "k":
                        reached = 1
                    else:  # queries i (of each head sharing the kv head) that may see key pos
                        reached = groups * sum(1 for i in range(q_len) if pos <= i + kv_len - q_len)
                    sops += reached
                    payload += s * reached
    return sops, payload


@FAST
@given(events(), st.sampled_from(["linear", "q", "k", "v"]), st.integers(0, 3), st.integers(1, 4),
       st.integers(1, 3))
def test_synaptic_ops_match_brute_force(event, kind, cached, out_features, groups):
    kind_code, per_step, steps, count = event
    n = count.shape[1]
    q_len, kv_len = (n, n + cached) if kind in ("linear", "q") else (max(1, n - cached), n)
    tally = counters.tally_count(count, per_step, steps)
    fan = counters.fan_out(kind, q_len, kv_len, out_features, groups)
    got = counters.synaptic_ops(tally.position_events, tally.position_payload, fan)
    spikes = drain(count, kind_code, per_step, steps).numpy()
    assert got == brute_force_sops(kind, spikes, q_len, kv_len, out_features, groups)


def test_hand_counted_case():
    # one gif neuron per token, L = 16 levels (per_step 15), 2 steps: counts 0, 3, 15, 20 over 4 tokens
    count = torch.tensor([0.0, 3.0, 15.0, 20.0]).view(1, 4, 1)
    tally = counters.tally_count(count, per_step=15, steps=2)
    # spikes: [0,0], [3,0], [15,0], [15,5] → 4 events, payload 38
    assert tally.step_events.tolist() == [3, 1]
    assert tally.position_events.tolist() == [0, 1, 1, 2]
    assert dict(+tally.levels) == {0: 4, 3: 1, 15: 2, 5: 1}
    # a linear input with 7 outputs: 4 events × 7 synapses; payload 38 × 7
    assert counters.synaptic_ops(tally.position_events, tally.position_payload,
                                 counters.fan_out("linear", 4, 4, out_features=7)) == (28, 266)
    # as queries: token i sees i + 1 keys → 1·2 + 1·3 + 2·4 = 13 (payload 3·2 + 15·3 + 20·4 = 131)
    assert counters.synaptic_ops(tally.position_events, tally.position_payload,
                                 counters.fan_out("q", 4, 4)) == (13, 131)
    # as values shared by 3 query heads: key j reaches 4 - j queries of each → 3·(1·3 + 1·2 + 2·1) = 21
    assert counters.synaptic_ops(tally.position_events, tally.position_payload,
                                 counters.fan_out("v", 4, 4, groups=3)) == (21, 3 * (3 * 3 + 15 * 2 + 20 * 1))
    # as keys: one accumulate per event
    assert counters.synaptic_ops(tally.position_events, tally.position_payload,
                                 counters.fan_out("k", 4, 4)) == (4, 38)


def test_ternary_levels_keep_their_sign():
    count = torch.tensor([-3.0, 2.0, 0.0]).view(1, 1, 3)  # k = 2, 2 steps: [-2,-1], [2,0], [0,0]
    tally = counters.tally_count(count, per_step=2, steps=2)
    assert dict(+tally.levels) == {-2: 1, -1: 1, 2: 1, 0: 3}
    assert tally.channel_payload.tolist() == [3, 2, 0]
    assert dict(+tally.counts) == {-3: 1, 2: 1, 0: 1}


def test_fan_out_with_a_cache():
    # 2 new queries over 5 keys (3 cached): query 0 sees keys 0..3, query 1 sees 0..4
    assert counters.fan_out("q", 2, 5).tolist() == [4, 5]
    # keys 0..3 are seen by both queries, key 4 only by query 1
    assert counters.fan_out("v", 2, 5, groups=1).tolist() == [2, 2, 2, 2, 1]
    with pytest.raises(ValueError, match="unknown site kind"):
        counters.fan_out("o", 2, 2)
