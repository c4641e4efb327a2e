"""OmniQuant: LET is an exact reparametrization (GQA v→o, q/k through RoPE), training beats RTN, the spiking
block computes the trained fake-quantized block, and the spiking model runs explicit == collapsed."""
import copy

import pytest
import torch

from conftest import tiny_model
from neuro_llm import SpikeConfig, convert
from neuro_llm.calibrate import omniquant
from neuro_llm.calibrate.base import BlockContext
from neuro_llm.arch import adapter_for
from neuro_llm.spiking.attention import use_spiking_attention
from neuro_llm.calibrate.omniquant import BlockTransform, OmniQuant, activation_maxima


def block_inputs(model, ids, config):
    """Block 0's inputs (the embeddings) and a context for running it."""
    arch = adapter_for(model)
    use_spiking_attention(model)   # as convert() does: FP blocks run through neuro-llm's attention
    with torch.no_grad():
        x = arch.embeddings(model)(ids).float()
        ctx = BlockContext(0, config, arch.block_inputs(model, x[:1]).kwargs(0), arch)
    return x, ctx


def run(ctx, block, x):
    with torch.no_grad():
        return torch.cat([ctx.run(block, x[j: j + 1]) for j in range(x.shape[0])])


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_let_is_an_equivalent_transformation(arch):
    model = tiny_model(arch)
    block = model.model.layers[0]
    with torch.no_grad():  # larger weights: attention far from uniform, so a wrong q/k or v/o scale shows
        for p in block.parameters():
            if p.dim() == 2:
                p.mul_(10)
    config = SpikeConfig(method="omniquant", wbits=16, abits=16)  # no quantization: only the transformation
    x, ctx = block_inputs(model, torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(0)), config)
    reference = run(ctx, block, x)
    update = (reference - x).abs().max()
    transform = BlockTransform(block, config, activation_maxima(block, x, ctx))
    with torch.no_grad():
        for p in transform.let.values():
            p.uniform_(0.3, 3.0, generator=torch.Generator().manual_seed(1))
        assert float((transform(x, ctx) - reference).abs().max() / update) < 1e-5   # the functional block
    folded = copy.deepcopy(block)
    transform.fold_into(folded)
    assert not torch.equal(folded.input_layernorm.weight, block.input_layernorm.weight)
    assert float((run(ctx, folded, x) - reference).abs().max() / update) < 1e-5     # the folded HF block


def outlier_model(arch):
    """A one-block tiny model with LLM-like statistics: larger weights and four outlier channels."""
    model = tiny_model(arch, layers=1)
    with torch.no_grad():
        for p in model.model.layers[0].parameters():
            if p.dim() == 2:
                p.mul_(10)
        model.model.embed_tokens.weight[:, :4] *= 20
    return model


def block_output(model, ids):
    """Block 0's output on each row of ``ids`` (its input is the embedding: the same for every model)."""
    model = getattr(model, "hf_model", model)   # a SpikingModel or the FP model
    seen = []
    handle = model.model.layers[0].register_forward_hook(lambda m, args, out: seen.append(out))
    with torch.no_grad():
        for row in ids:
            model(row.view(1, -1))
    handle.remove()
    return torch.cat(seen)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_trained_block_beats_rtn_and_is_what_the_spiking_block_computes(arch, monkeypatch):
    model = outlier_model(arch)
    ids = torch.randint(0, 96, (4, 32), generator=torch.Generator().manual_seed(0))
    trained, train = {}, omniquant.train

    def spy(transform, inputs, targets, ctx):
        trained["initial"] = loss(transform, inputs, targets, ctx)
        train(transform, inputs, targets, ctx)
        trained.update(transform=transform, inputs=inputs, ctx=ctx, final=loss(transform, inputs, targets, ctx))

    def loss(transform, inputs, targets, ctx):
        with torch.no_grad():
            return float((transform(inputs, ctx) - targets).pow(2).mean())

    monkeypatch.setattr(omniquant, "train", spy)
    common = dict(wbits=4, abits=4, calib_windows=4, calib_seqlen=32)
    omni = convert(model, SpikeConfig(method="omniquant", epochs=5, **common), calibration=ids, progress=False)
    rtn = convert(model, SpikeConfig(method="rtn", **common), progress=False)
    reference = block_output(model, ids)
    spiking = block_output(omni, ids)
    mse = lambda out: float((out - reference).pow(2).mean())
    assert trained["final"] < trained["initial"]                   # training lowers the block loss
    assert mse(spiking) < 0.6 * mse(block_output(rtn, ids))        # and beats RTN clearly
    with torch.no_grad():                                           # the spiking block is the trained block
        fake = trained["transform"](trained["inputs"], trained["ctx"])
    assert float((spiking - fake).abs().max() / reference.abs().max()) < 1e-5


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_convert_end_to_end_explicit_equals_collapsed(arch):
    model = tiny_model(arch)
    calib = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))
    snn = convert(model, SpikeConfig(method="omniquant", wbits=4, abits=4, epochs=1, calib_windows=2, calib_seqlen=32),
                  calibration=calib, progress=False)
    ids = torch.randint(0, 96, (2, 40), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        collapsed = snn.set_mode("collapsed")(ids).logits
        explicit = snn.set_mode("explicit")(ids).logits
    assert torch.isfinite(collapsed).all()
    assert torch.equal(explicit, collapsed)
    # LET was folded into the RMSNorm weights the spiking model keeps
    assert not torch.equal(snn.hf_model.model.layers[0].input_layernorm.weight, model.model.layers[0].input_layernorm.weight)


@pytest.mark.parametrize("wbits, abits", [(4, 4), (3, 16), (2, 8)])
def test_codes_are_integers_in_range(wbits, abits):
    model = tiny_model("qwen2")
    block = model.model.layers[0]
    norm = block.input_layernorm.weight.detach().clone()
    config = SpikeConfig(method="omniquant", wbits=wbits, abits=abits, epochs=1)
    x, ctx = block_inputs(model, torch.randint(0, 96, (2, 16)), config)
    weights = OmniQuant().calibrate_block(block, x, run(ctx, block, x), ctx)
    assert len(weights) == 7
    for name, w in weights.items():
        linear = block.get_submodule(name)
        assert w.codes.shape == linear.weight.shape and w.scale.shape == (linear.out_features, 1)
        assert torch.equal(w.codes, w.codes.round()) and (w.scale > 0).all()
        assert int((w.codes.amax(1) - w.codes.amin(1)).max()) <= 2 ** wbits - 1
        assert w.bits == wbits
    assert (abits == 16) == torch.equal(block.input_layernorm.weight, norm)  # weight-only: LWC, no LET


def test_float_weights_at_16_bits():
    model = tiny_model("llama")
    block = model.model.layers[0]
    config = SpikeConfig(method="omniquant", wbits=16, abits=4, epochs=1)
    x, ctx = block_inputs(model, torch.randint(0, 96, (2, 16)), config)
    weights = OmniQuant().calibrate_block(block, x, run(ctx, block, x), ctx)
    for name, w in weights.items():
        assert w.scale is None and torch.equal(w.codes, block.get_submodule(name).weight)


def test_nan_loss_is_reported():
    model = tiny_model("llama")
    block = model.model.layers[0]
    config = SpikeConfig(method="omniquant", wbits=4, abits=4, epochs=1)
    x, ctx = block_inputs(model, torch.randint(0, 96, (1, 16)), config)
    with pytest.raises(FloatingPointError, match="block 0"):
        OmniQuant().calibrate_block(block, x, torch.full_like(x, float("nan")), ctx)
