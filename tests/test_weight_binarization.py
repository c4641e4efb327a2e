"""PB-LLM partial binarization and SpikeLLM's sparse ternary weight spikes (both GPTQ-compensated)."""
import pytest
import torch

from conftest import tiny_model
from neuro_llm import SpikeConfig, convert
from neuro_llm.calibrate.pbllm import PBLLM, average_bits as pb_bits, pbllm_weight
from neuro_llm.calibrate.ternary import (SparseTernary, average_bits as ternary_bits, code_sparsity, sparse_ternary_weight,
                                        ternary_step)
from neuro_llm.spiking.linear import SpikingLinear


def layer_problem(out=48, inp=80, tokens=512, seed=0):
    """A random weight and correlated inputs ``X`` with ``H = (2/n) XᵀX``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, inp, generator=g) @ (torch.randn(inp, inp, generator=g) / inp ** 0.5 + torch.eye(inp))
    x = x * torch.rand(inp, generator=g) * 3  # uneven channel scales
    w = torch.randn(out, inp, generator=g) * 0.1
    return w, x, 2 * x.t() @ x / tokens


def output_error(x, w, w_hat):
    return float((x @ w.t() - x @ w_hat.t()).norm())


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25])
def test_pbllm_binary_except_exact_salient_fraction(fraction):
    w, _, h = layer_problem()
    w_hat, mask = pbllm_weight(w, h, fraction)
    assert int(mask.sum()) == round(fraction * w.numel())
    alpha = (w.abs() * ~mask).sum(1, keepdim=True) / (~mask).sum(1, keepdim=True)
    assert torch.equal(w_hat.abs()[~mask], alpha.expand_as(w)[~mask])  # non-salient: exactly ±α_row
    if fraction:  # salient: integers on the row's 8-bit grid spanning its salient weights (and 0)
        lo = torch.where(mask, w, 0.0).amin(1, keepdim=True)
        hi = torch.where(mask, w, 0.0).amax(1, keepdim=True)
        levels = (w_hat / ((hi - lo) / 255))[mask]
        assert torch.allclose(levels, torch.round(levels), atol=1e-3)
        assert not torch.equal(w_hat[mask].abs(), alpha.expand_as(w)[mask])
    assert pb_bits(0.1) == pytest.approx(1.7)


@pytest.mark.parametrize("fraction,steps", [(0.0, 2), (0.1, 2), (0.1, 4), (0.2, 1)])
def test_ternary_codes_and_exact_salient_fraction(fraction, steps):
    w, _, h = layer_problem()
    codes, alpha, mask = sparse_ternary_weight(w, h, fraction, steps)
    assert alpha.shape == (w.shape[0], 1) and (alpha > 0).all()
    assert torch.equal(codes, torch.round(codes))
    assert int(mask.sum()) == (round(fraction * w.numel()) if steps > 1 else 0)
    assert codes[~mask].abs().max() <= 1
    if mask.any():
        assert codes[mask].abs().max() <= steps
        assert codes[mask].abs().max() > 1  # the extra steps are used
    assert 0 < float((codes == 0).float().mean()) < 1  # sparse, not empty
    assert ternary_bits(0.1, 2) == pytest.approx(1.1 * 1.584962500721156)


def test_ternary_step_keeps_an_outlier_on_a_high_energy_channel():
    w = torch.randn(4, 256, generator=torch.Generator().manual_seed(0)) * 0.01
    w[:, 7] = 0.15                                  # ~15 x mean|w|
    levels = torch.ones_like(w)
    levels[:, 7] = 2
    energy = torch.ones(256)
    energy[7] = 1e4                                 # H_cc of an outlier input channel
    assert (2 * ternary_step(w, levels, energy) > 0.13).all()  # the outlier fits in T·α
    assert (ternary_step(w, levels) < 0.03).all()               # unweighted: clipped, the bulk kept


def test_error_compensation_lowers_layer_output_error():
    w, x, h = layer_problem(out=64, inp=96, tokens=1024, seed=3)
    pb, _ = pbllm_weight(w, h, 0.1)
    pb_plain, _ = pbllm_weight(w, h, 0.1, compensate=False)
    assert output_error(x, w, pb) < 0.95 * output_error(x, w, pb_plain)
    codes, alpha, _ = sparse_ternary_weight(w, h, 0.1, 2)
    codes_plain, alpha_plain, _ = sparse_ternary_weight(w, h, 0.1, 2, compensate=False)
    assert output_error(x, w, alpha * codes) < 0.95 * output_error(x, w, alpha_plain * codes_plain)
    # and salient weights help: more of them, less error
    more, _ = pbllm_weight(w, h, 0.3)
    assert output_error(x, w, more) < output_error(x, w, pb)


def test_pbllm_converts_end_to_end():
    model = tiny_model("llama")
    ids = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))
    config = SpikeConfig(method="pbllm", wbits=1, abits=16, calib_windows=2, calib_seqlen=32)
    snn = convert(model, config, calibration=ids, progress=False)
    layers = [m for m in snn.modules() if isinstance(m, SpikingLinear)]
    assert len(layers) == 14 and all(m.weight_scale is None for m in layers)
    for m in layers:  # every row: ±α on all but (about) the salient weights
        w = m.weight
        alpha = w.abs().mode(dim=1).values[:, None]
        assert int((w.abs() != alpha).sum()) <= round(0.1 * w.numel())
    with torch.no_grad():
        logits = snn(torch.randint(0, 96, (1, 16))).logits
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("abits", [16, 8])
def test_ternary_converts_end_to_end(abits):
    model = tiny_model("llama", seed=5)
    ids = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))
    config = SpikeConfig(method="spikellm", wbits=2, abits=abits, weight_spikes="ternary", salient=0.0,
                         extra_steps=0, calib_windows=2, calib_seqlen=32)
    snn = convert(model, config, calibration=ids, progress=False)
    layers = [m for m in snn.modules() if isinstance(m, SpikingLinear)]
    steps = 2 ** config.weight_extra_steps
    for m in layers:
        assert m.weight_scale.shape == (m.out_features, 1)
        assert torch.equal(m.codes, torch.round(m.codes)) and m.codes.abs().max() <= steps
        assert int((m.codes.abs() > 1).sum()) <= round(config.weight_salient * m.codes.numel())
    assert 0 < code_sparsity(snn) < 1
    test = torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        snn.set_mode("collapsed")
        collapsed = snn(test).logits
        snn.set_mode("explicit")
        explicit = snn(test).logits
    assert torch.isfinite(collapsed).all()
    assert torch.equal(explicit, collapsed)


def test_calibrators_report_bits_and_sparsity():
    from neuro_llm.calibrate.base import BlockContext
    from neuro_llm.calibrate.loop import LinearInputStats
    from neuro_llm.arch import LINEAR_NAMES

    model = tiny_model("llama")
    block = model.model.layers[0]
    g = torch.Generator().manual_seed(0)
    ctx = BlockContext(0, SpikeConfig(method="spikellm", wbits=2, weight_spikes="ternary", weight_salient=0.05), None, None)
    for name in LINEAR_NAMES:
        linear = block.get_submodule(name)
        stats = ctx.stats[name] = LinearInputStats()
        x = torch.randn(64, linear.in_features, generator=g)
        stats.add(linear, x, linear(x), hessian=True)
    calibrator = SparseTernary()
    weights = calibrator.calibrate_block(block, None, None, ctx)
    for name, w in weights.items():
        p = round(0.05 * w.codes.numel()) / w.codes.numel()
        assert w.bits == pytest.approx(ternary_bits(p, 2))
        assert calibrator.sparsity[(0, name)] == pytest.approx(float((w.codes == 0).float().mean()))
    pb = PBLLM().calibrate_block(block, None, None, ctx)
    assert all(w.scale is None and w.bits == pytest.approx(pb_bits(round(0.05 * w.codes.numel()) / w.codes.numel()))
               for w in pb.values())
