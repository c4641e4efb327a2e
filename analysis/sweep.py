"""``neuro-llm energy REC --sweep``: the spiking / dense-int ratio under each documented choice, one choice
changed at a time from the run's settings (docs/energy.md, "Choices"), and its tornado plot.

Each row is ``{choice, setting, ratio_vs_dense_int}`` (plus the blocks-only ratio and the band over the
provisional constants). The spike-train row re-derives the other SDLLM train from the recorded counts
(:func:`retrain`): exact for linear and K sites, Q and V synaptic ops scaled by the events ratio.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from analysis.dataflow import DATAFLOWS, PLACEMENTS
from analysis.energy import DENSE_WIDTHS, KV_MODES, NEURON_POLICIES, Options, estimate, spike_train
from analysis.hardware import PJ, PRESETS, Hardware
from analysis.records import LayerRecord, Recording, SiteRecord

NODE_PRESETS = ("45nm-fp16", "45nm-int8", "loihi", "loihi2", "truenorth")
SYNAPSE_LEVELS = {"8 KB SRAM (10 pJ)": 10 * PJ, "32 KB SRAM (20 pJ)": 20 * PJ, "1 MB SRAM (100 pJ)": 100 * PJ}


def _retrain_site(site: SiteRecord, bitwise: bool) -> SiteRecord:
    """The same counts sent as a bitwise (popcount(|c|) ±1 spikes, bit_length(max|c|) steps) or a unit
    ternary train (|c| ±1 spikes, max|c| steps), from the site's count histogram."""
    values = np.abs(site.count_values.astype(np.int64))
    freq = site.count_freq.astype(np.int64)
    top = int(values.max()) if values.size else 0
    if bitwise:
        per = np.array([bin(int(v)).count("1") for v in values], np.int64)
        steps = max(1, top.bit_length())
    else:
        per = values
        steps = max(1, top)
    events = int(per @ freq)
    neurons = site.rows * len(site.channel_steps)
    scale = events / site.events if site.events else 0.0
    signs = {1: 0, -1: 0}
    for v, f, e in zip(site.count_values.tolist(), freq.tolist(), per.tolist()):
        if v:
            signs[1 if v > 0 else -1] += f * e
    level_values = np.array([-1, 0, 1], np.int64)
    level_freq = np.array([signs[-1], neurons * steps - events, signs[1]], np.int64)
    channels = len(site.channel_steps)
    return replace(site, per_step=1, bitwise=bitwise, sops=round(site.sops * scale),
                   sops_payload=round(site.sops * scale), channel_steps=np.full(channels, steps, np.int64),
                   channel_events=np.array([events] + [0] * (channels - 1), np.int64),
                   channel_payload=np.array([events] + [0] * (channels - 1), np.int64),
                   step_events=np.array([events], np.int64), step_neuron_steps=np.array([neurons * steps], np.int64),
                   level_values=level_values, level_freq=level_freq, token_neuron_steps=-1)


def retrain(recording: Recording, train: str) -> Recording:
    """``recording`` with its ternary (SDLLM) sites re-sent as ``train`` (``bitwise`` | ``ternary``)."""
    if train not in ("bitwise", "ternary"):
        raise ValueError(f"unknown spike train {train!r}: give bitwise or ternary")
    layers = []
    for layer in recording.layers:
        sites = {name: (_retrain_site(site, train == "bitwise") if site.code_kind == "ternary" else site)
                 for name, site in layer.sites.items()}
        layers.append(LayerRecord(layer.layer, layer.batch, layer.q_len, layer.kv_len, sites, layer.spiking_ops,
                                  layer.dense_ops))
    return Recording(recording.metadata, recording.shape, layers, recording.head_ops, path=recording.path)


def _row(choice, setting, result, baseline=False) -> dict:
    return {"choice": choice, "setting": setting, "ratio_vs_dense_int": result["ratio_vs_dense_int"],
            "ratio_blocks_vs_dense_int": result["ratio_blocks_vs_dense_int"], "ratio_band": result["ratio_band"],
            "baseline": baseline}


def sweep(recording: Recording, hw: Hardware, opt: Options, memory: bool = True, payload: bool = False,
          binary_spikes: str = "unary") -> list[dict]:
    """One row per setting of each choice, the others at ``opt`` / ``hw`` / ``memory``."""
    def run(rec=recording, h=hw, o=opt, mem=memory):
        return estimate(rec, h, payload=payload, memory=mem, binary_spikes=binary_spikes if h.spikes == "binary"
                        else "unary", options=o)

    base = run()
    rows = []
    for value in DATAFLOWS:
        rows.append(_row("dataflow", value, run(o=replace(opt, dataflow=value)), value == opt.dataflow))
    for value in NEURON_POLICIES:
        try:
            rows.append(_row("neuron policy", value, run(o=replace(opt, neuron_policy=value)),
                             value == opt.neuron_policy))
        except ValueError:   # no per-token steps in an older recording
            continue
    train = spike_train(recording)
    if train in ("bitwise", "ternary"):
        rows.append(_row("spike train", f"{train} (recorded)", base, True))
        other = "ternary" if train == "bitwise" else "bitwise"
        lock = replace(opt, neuron_policy="lockstep" if opt.neuron_policy == "per-token" else opt.neuron_policy)
        rows.append(_row("spike train", f"{other} (from the counts)", run(rec=retrain(recording, other), o=lock)))
    rows.append(_row("lm_head", "in (whole model)", base, True))
    rows.append({**_row("lm_head", "out (blocks only)", base), "ratio_vs_dense_int": base["ratio_blocks_vs_dense_int"],
                 "ratio_band": base["ratio_blocks_band"]})
    for value in KV_MODES:
        rows.append(_row("K/V", "spiked" if value == "spiking" else "int8 (W8ASpike)",
                         run(o=replace(opt, kv=value)), value == opt.kv))
    wbits = recording.shape.weight_bits or 16
    for value in sorted({wbits, 8}):
        label = f"W{value}" + (" (recorded)" if value == wbits else " (INT8 group-128, W8ASpike)")
        rows.append(_row("weight width", label, run(o=replace(opt, weight_bits=None if value == wbits else value)),
                         value == (opt.weight_bits or wbits)))
    for value in DENSE_WIDTHS:
        rows.append(_row("dense-int width", value, run(o=replace(opt, dense_abits=value)), value == opt.dense_abits))
    for value in (True, False):
        rows.append(_row("memory", "on" if value else "off", run(mem=value), value == memory))
    if not hw.chip_memory:
        for label, value in SYNAPSE_LEVELS.items():
            rows.append(_row("synapse memory", label, run(h=replace(hw, weight_read_j=value)),
                             math.isclose(value, hw.weight_read_j)))
    for value in PLACEMENTS:
        rows.append(_row("synapse placement", value, run(o=replace(opt, placement=value)), value == opt.placement))
    for name in NODE_PRESETS:
        preset = PRESETS[name]
        try:
            result = run(h=preset)
        except ValueError:
            continue
        rows.append(_row("node / preset", f"{name} ({preset.node} vs {preset.dense_node})", result, name == hw.name))
    return rows


def format_sweep(rows: list[dict]) -> str:
    lines = [f"{'choice':<18} {'setting':<44} {'vs int':>8} {'blocks':>8}  band"]
    for row in rows:
        band = row["ratio_band"]
        mark = " *" if row["baseline"] else ""
        lines.append(f"{row['choice']:<18} {(row['setting'] + mark):<44} {row['ratio_vs_dense_int']:>8.3f} "
                     f"{row['ratio_blocks_vs_dense_int'] or float('nan'):>8.3f}  {band[0]:.3f}..{band[1]:.3f}")
    lines.append("(* = this run's setting; vs int = spiking / dense-int, whole model; blocks = lm_head left out)")
    return "\n".join(lines)


def plot_tornado(rows: list[dict], path, title: str = "spiking / dense-int energy ratio by choice"):
    """A tornado chart: per choice, a bar from its lowest to its highest ratio, each setting marked, the run's
    own ratio as a vertical line; choices sorted by their spread."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    baseline = next((r["ratio_vs_dense_int"] for r in rows if r["baseline"] and r["choice"] == "dataflow"), None)
    choices = {}
    for row in rows:
        choices.setdefault(row["choice"], []).append(row)
    order = sorted(choices, key=lambda c: max(r["ratio_vs_dense_int"] for r in choices[c])
                   - min(r["ratio_vs_dense_int"] for r in choices[c]))
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(order) + 1.5))
    for y, choice in enumerate(order):
        values = [r["ratio_vs_dense_int"] for r in choices[choice]]
        ax.barh(y, max(values) - min(values), left=min(values), color="#9ecae1", height=0.6)
        for r in choices[choice]:
            ax.plot(r["ratio_vs_dense_int"], y, "o", color="#08519c" if r["baseline"] else "#6baed6")
            ax.annotate(r["setting"].split(" (")[0], (r["ratio_vs_dense_int"], y), textcoords="offset points",
                        xytext=(0, 7), ha="center", fontsize=6)
    if baseline is not None:
        ax.axvline(baseline, color="k", lw=0.8)
    ax.axvline(1.0, color="r", lw=0.6, ls="--")
    ax.set_yticks(range(len(order)), order)
    ax.set_xscale("log")
    ax.set_xlabel("spiking / dense-int energy (log; < 1: spiking spends less)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
