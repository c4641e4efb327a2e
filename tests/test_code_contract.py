"""Every registered spike code keeps the same contract (one test, parametrized over the registry):

* its spike train integrates to the quantizer's count, and the count decodes within half a step of the input
  wherever the clamp did not cut (``decode(integrate(S)) == decode(count)``);
* a :class:`SpikingLinear` driven by it gives the same bits in ``explicit`` and ``collapsed`` mode, and the same
  spike statistics (derived from counts in one, counted from the trains in the other);
* the events it accounts for are the non-zero spikes its train really holds, the payload is ``Σ_t |S[t]|``;
* its record (what saved models store) builds it back.

A toy code registered here (one class, one registration) works in a SpikingLinear without any other change.
All random inputs come from seeded generators.
"""
from dataclasses import asdict, dataclass
from typing import ClassVar

import pytest
import torch

from neurons import functional as nf
from neuro_llm.spiking import observe, quant
from neuro_llm.spiking.codes import (SpikeCode, code_class, code_names, recorded_code, register_code,
                                     registered_codes, unregister_code)
from neuro_llm.spiking.linear import SpikingLinear
from neuro_llm.spiking.observe import SpikeStats

EXAMPLES = [(cls.name, per_step) for cls in registered_codes() for per_step in (1, 3)]


def _inputs(seed: int, shape=(6, 40), spread: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * spread + torch.randn(1, generator=g)


def check_round_trip(code: SpikeCode, seed: int) -> None:
    x = _inputs(seed)
    for steps in (1, 2):
        scale, zero = code.scale_zero(x, steps, -1)
        count = code.count(x, scale, zero, steps)
        integrated, spikes = code.explicit_count(x, scale, zero, steps)
        assert torch.equal(integrated, count)
        assert torch.equal(code.integrate(spikes), count)
        assert torch.equal(code.spikes(x, scale, zero, steps), spikes)
        assert torch.equal(code.decode(integrated, scale, zero), code.decode(count, scale, zero))
        decoded = code.decode(count, scale, zero)
        mask = code.clip_mask(x, scale, steps)
        inside = torch.ones_like(x, dtype=torch.bool) if mask is None else ~mask
        assert torch.all(((decoded - x).abs() <= scale * (0.5 + 1e-4) + 1e-6)[inside])
        # what the train costs, from the counts alone, is what the train holds
        assert torch.equal(code.events(count), torch.count_nonzero(spikes, dim=0).to(torch.int64))
        assert torch.equal(code.payload(count).to(torch.float64), spikes.abs().sum(0).to(torch.float64))
        assert spikes.abs().max() <= (1 if code.bitwise else code.per_step)
        assert code.signed or spikes.min() >= 0


def check_linear_modes(code: SpikeCode, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(-7, 8, (16, 40), generator=g).float()
    scale = torch.rand(16, generator=g) * 0.05 + 0.01
    bias = torch.randn(16, generator=g)
    steps = torch.ones(40, dtype=torch.long)
    steps[torch.randperm(40, generator=g)[:8]] = 2   # a salient group with twice the steps
    layer = SpikingLinear(codes, scale, bias, code, steps)
    x = _inputs(seed + 1, shape=(2, 5, 40))
    outputs, stats = {}, {}
    for mode in ("collapsed", "explicit"):
        layer.mode = mode
        stats[mode] = SpikeStats()
        with torch.no_grad(), observe.observing(stats[mode]):
            outputs[mode] = layer(x)
    assert torch.equal(outputs["explicit"], outputs["collapsed"])
    assert stats["explicit"].summary() == stats["collapsed"].summary()
    assert stats["explicit"].events > 0


def check_record(code: SpikeCode) -> None:
    assert SpikeCode(**asdict(code)) == code
    assert type(code) is code_class(code.name)
    assert recorded_code(code.kind, code.bitwise, code.adaptive) is type(code)
    assert code.decode_ops in (1, 2) and code.encode_ops > 0 and code.label


@pytest.mark.parametrize("name,per_step", EXAMPLES)
def test_every_registered_code_keeps_the_contract(name, per_step):
    code = code_class(name)(per_step=per_step)
    check_record(code)
    check_round_trip(code, seed=per_step)
    check_linear_modes(code, seed=10 + per_step)


def test_registry_lists_the_four_codes_and_old_records_read_back():
    assert {"gif", "ternary", "adaptive-ternary", "bitwise"} <= set(code_names())
    assert SpikeCode("gif", 15) == code_class("gif")(per_step=15)
    assert SpikeCode("ternary", 1).name == "ternary"
    assert SpikeCode("ternary", 1, k=3.0).name == "adaptive-ternary"
    assert SpikeCode("ternary", 1, k=3.0, bitwise=True).name == "bitwise"
    old_record = {"kind": "ternary", "per_step": 1, "clip": 1.0, "k": 3.0, "cap": None, "bitwise": True}
    assert SpikeCode(**old_record) == SpikeCode("ternary", 1, k=3.0, bitwise=True)
    with pytest.raises(ValueError):
        SpikeCode("gif", 15, k=3.0)   # no adaptive GIF is registered


def test_codes_answer_what_the_analysis_compared_names_for():
    from analysis.ops import ENCODE_OPS, _zero_point_ops

    for kind, ops in ENCODE_OPS.items():
        assert recorded_code(kind).encode_ops == ops
        assert recorded_code(kind).decode_ops == _zero_point_ops(kind)
    assert recorded_code("gif").spike_train == "graded" and not recorded_code("gif").signed
    assert recorded_code("ternary").spike_train == "ternary" and recorded_code("ternary").signed
    assert recorded_code("ternary", bitwise=True).spike_train == "bitwise"


@dataclass(frozen=True)
class ReluCode(SpikeCode):
    """A toy code: unsigned counts of the positive part only, ``Δ = max|x| / (T·k)``, drained as GIF spikes."""
    per_step: int = 1
    kind: str = "toy-relu"
    name: ClassVar[str] = "toy-relu"
    label: ClassVar[str] = "toy ReLU"

    def scale_zero(self, x, steps, dim, running=False, prior=None):
        return quant.symmetric_scale(x, self.capacity(steps), dim, running, prior), None

    def running_statistics(self, x, dim, prior=None):
        return quant.max_abs_statistics(x, dim, prior)

    def count(self, x, scale, zero, steps):
        return nf.round_half_up(x / scale).clamp(0, self.capacity(steps))

    def drain(self, count, steps):
        return nf.gif_drain(count, self.per_step + 1, steps)

    def spikes(self, x, scale, zero, steps, max_steps=None):
        return self.drain(self.count(x, scale, zero, steps), nf.largest_steps(steps, max_steps))

    def clip_mask(self, x, scale, steps):
        return x < 0


def test_a_new_code_is_one_class_and_one_registration():
    register_code(ReluCode)
    try:
        assert "toy-relu" in code_names()
        for per_step in (1, 3):
            code = SpikeCode("toy-relu", per_step)
            assert isinstance(code, ReluCode)
            check_record(code)
            check_round_trip(code, seed=20 + per_step)
            check_linear_modes(code, seed=30 + per_step)
    finally:
        unregister_code("toy-relu")
    assert "toy-relu" not in code_names()
