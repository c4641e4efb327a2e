"""NeuroBench as an outside check of our counters → ``benchmarks/results/neurobench_check.json``.

The seven linear layers of one block of the spiking SmolLM2-135M (SDLLM, bitwise trains by default, W4) are
rebuilt as ``nn.Linear`` subclasses whose weights are the integer weight codes, each fed by a registered
neuron module (:class:`SpikeSource`) that emits the recorded ±1 spikes one time step at a time; the block's
output is ``Σ_t 2^(T-1-t) · W S_t``. NeuroBench 2.3 (Yik et al., Nat. Commun. 16:1545, 2025) measures
``SynapticOperations`` (``Dense``, ``Effective_MACs``, ``Effective_ACs``), ``ActivationSparsity``,
``Footprint`` and ``ConnectionSparsity`` on it; our counters (:mod:`analysis.counters`) count the same
spikes. Differences, by construction:

* NeuroBench counts an op only where the input AND the weight are non-zero; ours charges every synapse a
  spike reaches (a zero weight code is still read and accumulated): ``Effective_ACs ≤ sops``.
* NeuroBench's ``Dense`` counts every step's call (``T × tokens × in × out``); our dense MACs are
  ``tokens × in × out`` (the dense model runs once).
* ``ActivationSparsity`` = zeros / (neurons × steps) over all steps = 1 − our firing rate.
* ``Footprint`` counts the float32 weight tensors NeuroBench sees; our weight memory holds 4-bit codes.

    pip install --no-deps neurobench==2.3.0
    python benchmarks/neurobench_check.py [--tokens 64] [--layer 0]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "neurobench_check.json"


class SpikeSource(nn.Module):
    """A neuron population that emits the recorded spikes of one step (registered with NeuroBench as an
    activation module)."""

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return spikes


class SpikeDrivenLinear(nn.Linear):
    """``nn.Linear`` over integer weight codes, driven by ±1 spikes (NeuroBench hooks ``nn.Linear`` subclasses)."""


class SpikingBlockLinears(nn.Module):
    def __init__(self, weights: dict[str, torch.Tensor]):
        super().__init__()
        self.names = list(weights)
        self.sources = nn.ModuleList(SpikeSource() for _ in weights)
        self.linears = nn.ModuleList()
        for w in weights.values():
            lin = SpikeDrivenLinear(w.shape[1], w.shape[0], bias=False)
            lin.weight.data.copy_(w)
            self.linears.append(lin)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """``batch`` [1, sites, T, tokens, C_max] (zero-padded): one output sum per site."""
        outs = []
        for i, (source, lin) in enumerate(zip(self.sources, self.linears)):
            train = batch[0, i, :, :, : lin.in_features]
            T = train.shape[0]
            y = 0
            for t in range(T):
                y = y + 2 ** (T - 1 - t) * lin(source(train[t]))
            outs.append(y.sum())
        return torch.stack(outs)


def capture(layer: int, tokens: int):
    """Counts entering every linear of block ``layer`` on ``tokens`` WikiText-2 tokens, and the layers' codes."""
    from neuro_llm import SpikeConfig, convert, load_model
    from neuro_llm.eval.data import load_tokens  # noqa: F401  (imported to fail early if data are missing)
    from neuro_llm.spiking.observe import observing

    model, tok = load_model("smollm2-135m")
    snn = convert(model, SpikeConfig(method="sdllm", wbits=4, abits=4))
    seen = {}

    class Grab:
        counts_suffice = True

        def on_encode(self, event):
            if event.layer == layer and not event.site.endswith((".q", ".k", ".v")):
                seen[event.site.split(f"layers.{layer}.", 1)[-1]] = (event.counts().detach().cpu(), event.steps,
                                                                       event.channels, event.code)

    text = (ROOT.parent / "shared" / "data" / "wikitext-2" / "test.txt").read_text()[:20000]
    ids = tok(text, return_tensors="pt").input_ids[:, :tokens]
    hf = getattr(snn, "hf_model", snn)
    with torch.no_grad(), observing(Grab()):
        hf(ids)
    modules = {name.split(f"layers.{layer}.", 1)[-1]: m for name, m in hf.named_modules()
               if f"layers.{layer}." in name and hasattr(m, "codes") and hasattr(m, "perm")}
    return seen, modules


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--layer", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel
    from neurons import functional as nf

    start = time.perf_counter()
    seen, modules = capture(args.layer, args.tokens)
    names = [n for n in modules if n in seen]
    weights, trains, ours = {}, [], {}
    for name in names:
        count, steps, channels, code = seen[name]
        module = modules[name]
        codes = module.canonical_codes() if hasattr(module, "canonical_codes") else module.codes
        codes = codes.float().cpu()
        w = torch.zeros(module.out_features, module.in_features)
        w[:, module.perm.cpu()] = codes
        weights[name] = w
        count = count.reshape(-1, count.shape[-1])
        cols = torch.arange(count.shape[-1]) if channels is None else channels.cpu()
        full = torch.zeros(count.shape[0], module.in_features, dtype=torch.long)
        full[:, cols] = count.long()
        train = nf.bitwise_drain(full, steps).float() if getattr(code, "bitwise", False) else None
        if train is None:
            raise SystemExit("this check needs bitwise trains (the SDLLM default)")
        trains.append(train)
        events = int((train != 0).sum())
        ours[name] = {"events": events, "sops": events * module.out_features,
                      "neuron_steps": int(train.numel()), "dense_macs": count.shape[0] * module.in_features
                      * module.out_features, "steps": steps,
                      "zero_weights": int((w == 0).sum()), "weights": w.numel(),
                      "weight_bytes_ours": w.numel() * 4 / 8}
    T = max(t.shape[0] for t in trains)
    C = max(t.shape[-1] for t in trains)
    batch = torch.zeros(1, len(trains), T, trains[0].shape[1], C)
    for i, t in enumerate(trains):
        batch[0, i, T - t.shape[0]:, :, : t.shape[-1]] = t   # MSB-first: a shorter train ends with the longer
    net = SpikingBlockLinears(weights)
    model = TorchModel(net)
    model.add_activation_module(SpikeSource)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(batch, torch.zeros(1)), batch_size=1)
    bench = Benchmark(model, loader, [], [], [[Footprint, ConnectionSparsity], [ActivationSparsity,
                                                                               SynapticOperations]])
    nb = bench.run(quiet=True)
    nb = json.loads(json.dumps(nb, default=float))
    total = {k: sum(v[k] for v in ours.values()) for k in ("events", "sops", "neuron_steps", "dense_macs",
                                                             "zero_weights", "weights", "weight_bytes_ours")}
    steps_padded = sum(T * t.shape[1] * w.shape[1] for t, w in zip(trains, weights.values()))
    syn = nb.get("SynapticOperations", nb)
    result = {
        "model": "smollm2-135m", "method": "sdllm (bitwise)", "layer": args.layer, "tokens": args.tokens,
        "sites": names, "neurobench": nb, "ours": {"per_site": ours, **total,
                                                   "firing_rate": total["events"] / total["neuron_steps"]},
        "comparison": {
            "Effective_ACs_over_sops": syn["Effective_ACs"] / total["sops"],
            "nonzero_weight_fraction": 1 - total["zero_weights"] / total["weights"],
            "Dense_over_dense_macs": syn["Dense"] / total["dense_macs"],
            "ActivationSparsity_vs_ours": {"neurobench": nb["ActivationSparsity"],
                                           "ours_over_padded_steps": 1 - total["events"] / steps_padded,
                                           "ours_1_minus_firing_rate": 1 - total["events"] / total["neuron_steps"]},
            "Footprint_bytes": {"neurobench_float32": nb["Footprint"], "ours_4bit_codes": total["weight_bytes_ours"]},
            "ConnectionSparsity": {"neurobench": nb["ConnectionSparsity"],
                                   "ours": total["zero_weights"] / total["weights"]},
        },
        "seconds": time.perf_counter() - start,
    }
    from neuro_llm.core.provenance import write_result
    out = write_result(Path(args.out), json.loads(json.dumps(result, default=float)), device="cpu")
    print(json.dumps(result["comparison"], indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
