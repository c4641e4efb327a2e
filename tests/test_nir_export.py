"""NIR export (`neuro-llm export-nir`, :func:`neuro_llm.export.nir.to_nir`): the file nir.read loads holds every
projection with its neurons; one projection imported back (nirtorch, snntorch neurons) and driven with the
charge our encoder computes fires, summed over its populations, exactly our simulator's spike counts; fed our
simulator's spike trains, its Linear node gives exactly its own output; the whole projection matches our layer
to float rounding (measured and printed)."""
import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")
snntorch = pytest.importorskip("snntorch")

from conftest import tiny_model  # noqa: E402
from neuro_llm import SpikeConfig, convert  # noqa: E402
from neuro_llm.export import nir as nx  # noqa: E402
from neuro_llm.io.saving import save_spiking_model  # noqa: E402

SEVEN = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
         "mlp.up_proj", "mlp.down_proj")
CALIB = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(0))


def converted(arch="llama", **options):
    options = {"method": "spikellm", "wbits": 4, "abits": 4, "mode": "explicit", **options}
    return convert(tiny_model(arch, layers=2), SpikeConfig(**options), calibration=CALIB, progress=False)


def activations(layer, seed=0, tokens=9):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, layer.in_features, generator=g) * 1.5
    x[:, 3] *= 8   # an outlier channel, as LLM activations have
    return x


def our_counts(layer, x):
    """Σ_t S[t] of the simulator's own spike train, per channel group (the layer's encoder)."""
    xs = x.float()[:, layer.perm]
    counts = []
    for plan in layer.plans:
        xg = xs[:, plan.start:plan.end]
        scale, zero = layer.code.scale_zero(xg, plan.steps, dim=-1)
        integrated, spikes = layer.code.explicit_count(xg, scale, zero, plan.steps)
        counts.append(integrated)
    return counts


def run_group(module, u):
    nx.reset(module)
    out, _ = module(u)
    return out


def neuron_counts(module, u):
    """The imported populations' spikes summed per channel (negative populations counted negative)."""
    total = torch.zeros_like(u)
    for name, child in module.named_children():
        if isinstance(child, snntorch.Leaky):
            child.reset_mem()
            charge = -u if name.startswith("if_neg") else u
            spikes = child(charge)
            total += -spikes if name.startswith("if_neg") else spikes
    return total


def test_the_file_holds_seven_projections_per_block_with_neurons(tmp_path):
    snn = converted()
    path = nx.write(nx.to_nir(snn, layers=[0, 1]), tmp_path / "b01.nir")
    graph = nir.read(path)
    assert nx.sites(graph) == [f"layers.{b}.{name}" for b in (0, 1) for name in SEVEN] or \
        sorted(nx.sites(graph)) == sorted(f"layers.{b}.{name}" for b in (0, 1) for name in SEVEN)
    for site in nx.sites(graph):
        layer = snn.hf_model.get_submodule("model." + site)
        for g, plan in enumerate(layer.plans):
            linear = graph.nodes[f"{site}.linear.g{g}"]
            cols = layer.perm[plan.start:plan.end]
            assert np.array_equal(linear.weight, layer.weight[:, cols].numpy())
            codes, scale = linear.metadata["weight_codes"], linear.metadata["weight_scale"]
            assert np.array_equal((torch.from_numpy(codes).float() * torch.from_numpy(scale)[:, None]).numpy(),
                                  linear.weight)
            pops = [n for name, n in graph.nodes.items() if name.startswith(f"{site}.if.g{g}.")]
            assert len(pops) == layer.code.capacity(plan.steps)   # T·(L-1) thermometer populations
            assert all(isinstance(p, nir.IF) and p.v_threshold.shape == (len(cols),) for p in pops)
    assert graph.metadata["exact"] == "exact"
    ops = " ".join(entry["op"] for entry in graph.metadata["host_operations"].values())
    for needed in ("softmax", "Q·Kᵀ", "A·V", "RMSNorm", "rotary", "KV cache", "residual", "silu"):
        assert needed in ops, needed


@pytest.mark.parametrize("site", ["self_attn.q_proj", "mlp.down_proj"])
def test_gif_projection_round_trip_through_snntorch(site, tmp_path):
    snn = converted()
    layer = snn.hf_model.get_submodule(f"model.layers.0.{site}")
    assert len(layer.plans) == 2   # plain channels (T=1) and salient ones (T=2)
    graph = nir.read(nx.write(nx.to_nir(snn, layers=[0]), tmp_path / "b0.nir"))
    x = activations(layer)
    inputs, encoders = nx.charge(layer, x)
    outputs = {}
    for g, ours in enumerate(our_counts(layer, x)):
        module = nx.torch_module(nx.subgraph(graph, f"layers.0.{site}", g))
        u = inputs[f"input.g{g}"]
        # exact: the imported IF populations fire, summed, our simulator's spike counts
        assert torch.equal(neuron_counts(module, u), ours)
        # exact: the imported Linear node driven by our simulator's spike trains gives the graph's own output
        outputs[f"output.g{g}"] = run_group(module, u)
        assert torch.equal(getattr(module, f"linear_g{g}")(ours), outputs[f"output.g{g}"])
    y = nx.epilogue(layer, outputs, encoders, nx.subgraph(graph, f"layers.0.{site}"))
    ref = layer(x)
    diff = (y - ref).abs().max().item()
    print(f"{site}: max |NIR - ours| = {diff:.3g} (max |y| = {ref.abs().max().item():.3g})")
    assert diff <= 1e-5 * (1 + ref.abs().max().item())   # float rounding: dequantized weights vs integer GEMM


def test_ternary_projection_round_trip_with_scale_nodes(tmp_path):
    snn = converted("qwen2", method="sdllm", count_cap=7)   # capped: every count has its populations
    site = "self_attn.v_proj"
    layer = snn.hf_model.get_submodule(f"model.layers.0.{site}")
    graph = nir.read(nx.write(nx.to_nir(snn, layers=[0]), tmp_path / "t.nir"))
    assert graph.metadata["exact"] == "exact"
    assert any(isinstance(n, nir.Scale) for n in graph.nodes.values())
    x = activations(layer, seed=1)
    inputs, encoders = nx.charge(layer, x)
    outputs = {}
    for g, ours in enumerate(our_counts(layer, x)):
        module = nx.torch_module(nx.subgraph(graph, f"layers.0.{site}", g))
        u = inputs[f"input.g{g}"]
        assert torch.equal(neuron_counts(module, u), ours)
        assert (ours < 0).any() and (ours > 0).any()
        outputs[f"output.g{g}"] = run_group(module, u)
        assert torch.equal(getattr(module, f"linear_g{g}")(ours), outputs[f"output.g{g}"])
    y = nx.epilogue(layer, outputs, encoders, nx.subgraph(graph, f"layers.0.{site}"))
    ref = layer(x)
    assert (y - ref).abs().max().item() <= 1e-5 * (1 + ref.abs().max().item())


def test_uncapped_adaptive_code_is_marked_inexact():
    snn = converted(method="sdllm")
    graph = nx.to_nir(snn, layers=[0], max_count=3)
    assert graph.metadata["exact"].startswith("inexact")
    meta = graph.metadata["projections"]["layers.0.self_attn.q_proj"]
    assert meta["exact"].startswith("inexact") and "count_cap" in meta["exact"]


def test_a_model_without_spiking_projections_is_refused():
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="no spiking projections"):
        nx.to_nir(model)


def test_export_nir_command(tmp_path, capsys):
    from neuro_llm.cli import main as cli

    saved = save_spiking_model(converted(), tmp_path / "saved")
    out = tmp_path / "b0.nir"
    assert cli.main(["export-nir", "--model", str(saved), "--layers", "0", "--out", str(out),
                     "--json", str(tmp_path / "r.json")]) == 0
    graph = nir.read(out)
    assert len(nx.sites(graph)) == 7
    assert sum(isinstance(n, nir.IF) for n in graph.nodes.values()) > 7
    assert "7 projections" in capsys.readouterr().out
    assert cli.main(["export-nir", "--model", str(saved), "--out", str(tmp_path / "missing" / "x.nir")]) == 2
