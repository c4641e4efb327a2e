"""SpikeStats keeps its data-dependent tallies on the events' device and reads them back in batches: the
totals are the ones counted event by event, whenever they are read."""
import pickle

import torch

from neuro_llm.spiking import observe
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.observe import Encoded, SpikeStats, notify, observing


def events(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    gif, ternary = SpikeCode("gif", 15), SpikeCode("ternary", 1, k=3.0)
    out = []
    for i in range(n):
        code = gif if i % 2 else ternary
        count = torch.randint(0, 31, (3, 8), generator=g).float() if i % 2 else \
            torch.randint(-90, 90, (3, 8), generator=g).float()
        out.append(Encoded(f"layers.{i % 3}.mlp.up_proj", i % 3, code, count, 2 if i % 2 else 90, clipped=i))
    return out


def expected_totals(evs):
    return (sum(int(e.code.events(e.count).sum()) for e in evs),
            sum(float(e.code.payload(e.count).sum()) for e in evs),
            sum(int(e.code.token_steps(e.count).sum()) for e in evs),
            max(int(e.code.token_steps(e.count).max()) for e in evs))


def test_reads_back_once_a_batch_and_when_a_total_is_read(monkeypatch):
    monkeypatch.setattr(observe, "FLUSH_EVERY", 4)
    evs = events(7)
    stats = SpikeStats()
    with observing(stats):
        for e in evs:
            notify(e)
    assert len(stats._pending) == 3            # 4 applied at the fourth event, 3 waiting
    n_events, payload, step_sum, step_max = expected_totals(evs)
    assert stats.events == n_events and not stats._pending
    assert stats.payload == payload
    tally = stats.per_encoder["mlp.up_proj"]
    assert (tally["token_steps"], tally["token_steps_max"], tally["clipped"]) == (step_sum, step_max, sum(range(7)))
    assert sum(stats.histogram.values()) == 7 * 24
    assert sum(site["events"] for site in stats.per_site.values()) == n_events


def test_batching_changes_nothing(monkeypatch):
    evs = events(9, seed=1)
    results = []
    for every in (1, 5, 1000):
        monkeypatch.setattr(observe, "FLUSH_EVERY", every)
        stats = SpikeStats()
        with observing(stats):
            for e in evs:
                notify(e)
        results.append(stats)
    assert results[0] == results[1] == results[2]
    assert results[0].summary() == results[2].summary()


def test_merge_and_pickle_flush_first():
    a, b, both = SpikeStats(), SpikeStats(), SpikeStats()
    evs = events(6, seed=2)
    with observing(a):
        for e in evs[:3]:
            notify(e)
    with observing(b):
        for e in evs[3:]:
            notify(e)
    with observing(both):
        for e in evs:
            notify(e)
    copy = pickle.loads(pickle.dumps(b))       # what ranks send each other
    assert not copy._pending and copy == b
    a.merge(copy)
    assert a == both and a.summary() == both.summary()


def test_histogram_counts_past_float32_exactly():
    """A bin holding more than 2^24 values (one 70B MLP activation at 2048 tokens: 58.7M values) still counts
    every one (float32 bins, as torch.histc keeps, would stop at 2^24)."""
    n = 2 ** 24 + 10     # 2^24 + 5 zeros in one bin
    count = torch.zeros(1, n)
    count[0, :5] = 2.0
    stats = SpikeStats()
    with observing(stats):
        notify(Encoded("layers.0.mlp.down_proj", 0, SpikeCode("gif", 15), count, 1))
    assert stats.histogram == {0: n - 5, 2: 5}
    assert stats.events == 5 and stats.values == n
