"""PNG figures of a recording (matplotlib's Agg canvas, no pyplot state). Each figure has a fixed size in
inches at ``DPI`` dots per inch, so its pixel size is ``SIZES[name] × DPI``.

* ``raster_layerNNN.png``: the raster subsample of every site of block NNN; the time axis runs over
  tokens, and within a token over its steps; colour = graded spike level, white = no spike.
* ``firing_rate_layers.png``: firing rate per block, overall and per time step.
* ``firing_rate_sites.png``: firing rate per block and site (linear input or attention operand).
* ``channel_rates.png``: firing rate per channel (blocks × channels) for every site; salient channels
  (more steps than the fewest) marked in red.
* ``spike_levels.png``: histograms of spike levels (per neuron-step) and of spike counts (per neuron).
* ``energy.png``: energy per block (log scale): the spiking model stacked by part (synaptic compute, neuron
  updates, hops, floating-point remainder, memory) beside the dense-int and dense-fp16 models, on one preset.
* :func:`plot_pareto` (called by ``benchmarks/energy.py``): energy per token against perplexity across
  models, with the Pareto front.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.energy import Hardware, estimate
from analysis.records import Recording

DPI = 100
SIZES = {"raster": (12, 7), "firing_rate_layers": (10, 4.5), "firing_rate_sites": (10, 5),
         "channel_rates": (14, 10), "spike_levels": (11, 4.5), "energy": (13, 6),
         "pareto": (8, 5.5)}
SPIKING_PARTS = {"synaptic_j": ("spiking: synaptic compute", 0), "neuron_j": ("spiking: neuron updates", 1),
                 "hop_j": ("spiking: spike hops", 2), "fp_j": ("spiking: FP remainder", 3),
                 "memory": ("spiking: memory", 4)}
DENSE_PARTS = {"dense_int": {"int_mac_j": ("dense int: integer MACs", 5), "fp_j": ("dense int: FP remainder", 3),
                             "memory": ("dense int: memory", 4)},
               "dense_fp16": {"mac_j": ("dense fp16: MACs", 7), "memory": ("dense fp16: memory", 4)}}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig).print_png(path)
    return path


def _site_names(recording: Recording) -> list[str]:
    names = []
    for layer in recording.layers:
        names += [name for name in layer.sites if name not in names]
    return names


def plot_raster(recording: Recording, index: int, path: Path) -> Path:
    layer = recording.layers[index]
    fig = Figure(figsize=SIZES["raster"])
    cols = min(5, len(layer.sites))
    rows = math.ceil(len(layer.sites) / cols)
    fig.subplots_adjust(left=0.05, right=0.9, bottom=0.08, top=0.9, wspace=0.35, hspace=0.35)
    image = None
    for k, site in enumerate(layer.sites.values()):
        ax = fig.add_subplot(rows, cols, k + 1)
        tokens, steps, neurons = site.raster.shape
        grid = site.raster.transpose(2, 0, 1).reshape(neurons, tokens * steps)  # neuron × (token, step)
        limit = site.per_step
        cmap = matplotlib.colormaps["coolwarm" if site.code_kind == "ternary" else "viridis"].with_extremes(bad="white")
        image = ax.imshow(np.ma.masked_equal(grid, 0), aspect="auto", interpolation="nearest", cmap=cmap,
                          vmin=-limit if site.code_kind == "ternary" else 1, vmax=limit)
        ax.set_title(f"{site.name}  rate {site.firing_rate:.2f}", fontsize=8)
        ax.set_xlabel(f"{tokens} tokens × {steps} steps", fontsize=7)
        ax.set_ylabel(f"{neurons} neurons", fontsize=7)
        ax.tick_params(labelsize=6)
    if image is not None:
        fig.colorbar(image, cax=fig.add_axes((0.92, 0.25, 0.015, 0.5)), label="spike level")
    fig.suptitle(f"block {layer.layer}: spike raster (subsample)")
    return _save(fig, path)


def plot_firing_rates(recording: Recording, path: Path) -> Path:
    fig = Figure(figsize=SIZES["firing_rate_layers"], layout="constrained")
    layers = [layer.layer for layer in recording.layers]
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(layers, [layer.firing_rate for layer in recording.layers], "o-")
    ax.set(xlabel="block", ylabel="firing rate (spikes / neuron-step)", title="per block")
    ax = fig.add_subplot(1, 2, 2)
    steps = max(site.step_events.size for layer in recording.layers for site in layer.sites.values())
    for t in range(steps):
        rates = []
        for layer in recording.layers:
            sites = [site for site in layer.sites.values() if site.step_events.size > t]
            events = sum(int(site.step_events[t]) for site in sites)
            active = sum(int(site.step_neuron_steps[t]) for site in sites)
            rates.append(events / active if active else np.nan)
        ax.plot(layers, rates, "o-", label=f"step {t}")
    ax.set(xlabel="block", ylabel="firing rate", title="per time step")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_site_rates(recording: Recording, path: Path) -> Path:
    fig = Figure(figsize=SIZES["firing_rate_sites"], layout="constrained")
    names = _site_names(recording)
    rates = np.array([[layer.sites[n].firing_rate if n in layer.sites else np.nan for layer in recording.layers]
                      for n in names])
    ax = fig.add_subplot()
    image = ax.imshow(rates, aspect="auto", interpolation="nearest", cmap="magma")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xticks(range(len(recording.layers)), [layer.layer for layer in recording.layers], fontsize=7)
    ax.set(xlabel="block", title="firing rate per linear input and attention operand")
    fig.colorbar(image, ax=ax, label="spikes / neuron-step")
    return _save(fig, path)


def plot_channel_rates(recording: Recording, path: Path) -> Path:
    fig = Figure(figsize=SIZES["channel_rates"], layout="constrained")
    names = _site_names(recording)
    cols = 2
    rows = math.ceil(len(names) / cols)
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        layers = [layer for layer in recording.layers if name in layer.sites]
        rates = np.stack([layer.sites[name].channel_rates for layer in layers])
        image = ax.imshow(rates, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1)
        marked = [(c, i) for i, layer in enumerate(layers) for c in np.flatnonzero(layer.sites[name].salient)]
        if marked:
            xs, ys = zip(*marked)
            ax.scatter(xs, ys, marker="|", s=(90 / len(layers)) ** 2, c="red", linewidths=1, label="salient")
            ax.legend(fontsize=6, loc="upper right")
        ax.set_title(name, fontsize=8)
        ax.set_yticks(range(len(layers)), [layer.layer for layer in layers], fontsize=5)
        ax.tick_params(labelsize=6)
        fig.colorbar(image, ax=ax, pad=0.01)
    fig.suptitle("firing rate per channel (rows: blocks); red: salient channels")
    return _save(fig, path)


def _pooled(recording: Recording, values: str, freq: str) -> tuple[np.ndarray, np.ndarray]:
    total: dict[int, int] = {}
    for layer in recording.layers:
        for site in layer.sites.values():
            for v, f in zip(getattr(site, values).tolist(), getattr(site, freq).tolist()):
                total[v] = total.get(v, 0) + f
    keys = sorted(total)
    return np.array(keys), np.array([total[k] for k in keys])


def plot_spike_levels(recording: Recording, path: Path) -> Path:
    fig = Figure(figsize=SIZES["spike_levels"], layout="constrained")
    for k, (values, freq, what) in enumerate([("level_values", "level_freq", "spike level (per neuron-step)"),
                                              ("count_values", "count_freq", "spike count Σ_t S (per neuron)")]):
        ax = fig.add_subplot(1, 2, k + 1)
        x, y = _pooled(recording, values, freq)
        ax.bar(x, y, width=0.9)
        ax.set_yscale("log")
        ax.set(xlabel=what, ylabel="occurrences")
    fig.suptitle("all blocks and sites")
    return _save(fig, path)


def plot_energy(recording: Recording, hardware: Hardware, path: Path, payload: bool = False, memory: bool = True,
                binary_spikes: str = "unary") -> Path:
    """Per block and head: the spiking model stacked by part (synaptic compute, neuron updates, spike hops,
    floating-point remainder, memory) beside the dense-int and dense-fp16 models (compute, memory)."""
    result = estimate(recording, hardware, payload=payload, memory=memory, binary_spikes=binary_spikes)
    blocks = [row for row in result["layers"] if row["layer"] != "head"]
    head = [row for row in result["layers"] if row["layer"] == "head"]
    fig = Figure(figsize=SIZES["energy"], layout="constrained")
    panels = [rows for rows in (blocks, head) if rows]   # no empty right-hand axis when the head was not recorded
    grid = fig.add_gridspec(1, len(panels), width_ratios=[len(blocks) + 1, 3][:len(panels)] if len(panels) == 2 else None)
    colors = matplotlib.colormaps["tab10"]
    handles = {}
    for k, rows in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        x = np.arange(len(rows))
        for offset, model, parts in ((-0.27, "spiking", SPIKING_PARTS), (0.0, "dense_int", DENSE_PARTS["dense_int"]),
                                     (0.27, "dense_fp16", DENSE_PARTS["dense_fp16"])):
            bottom = np.zeros(len(rows))
            for key, (label, color) in parts.items():
                heights = np.array([_part(row, model, key) for row in rows])
                if not heights.any():
                    continue
                bars = ax.bar(x + offset, heights, 0.26, bottom=bottom, color=colors(color), edgecolor="white",
                              hatch={"spiking": None, "dense_int": "//", "dense_fp16": ".."}[model], linewidth=0.3)
                handles.setdefault(label, bars)
                bottom += heights
        ax.set_xticks(x, [str(row["layer"]) for row in rows], fontsize=7)
        ax.set(xlabel="block" if k == 0 else "", ylabel="energy (J)" if k == 0 else "")
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{hardware.name}, memory {'on' if memory else 'off'} — bars: spiking | dense int (//) | dense fp16 "
                 f"(..): spiking {result['energy_j']:.3g} J, dense int {result['dense_int_energy_j']:.3g} J "
                 f"({result['ratio_vs_dense_int']:.2f}x), dense fp16 {result['dense_fp16_energy_j']:.3g} J "
                 f"({result['ratio_vs_dense_fp16']:.2f}x)", fontsize=10)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=5, fontsize=7)
    return _save(fig, path)


def _part(row: dict, model: str, key: str) -> float:
    terms = row["terms"][model]
    if key == "memory":
        return sum(v for k, v in terms.items() if k.startswith("mem_"))
    return terms[key]


def plot_pareto(points: list[dict], path: Path, title: str = "") -> Path:
    """Energy per token (x, log) against perplexity (y, log) of labelled models; the Pareto front (no other
    point is both cheaper and better) joined by a line. ``points``: dicts of ``label``, ``energy_per_token_j``,
    ``ppl`` and optionally ``kind`` (``spiking`` | ``dense``)."""
    if not points:
        raise ValueError("plot_pareto needs at least one (energy, perplexity) point")
    fig = Figure(figsize=SIZES["pareto"], layout="constrained")
    ax = fig.add_subplot()
    for p in points:
        marker = "o" if p.get("kind", "spiking") == "spiking" else "s"
        ax.scatter(p["energy_per_token_j"], p["ppl"], marker=marker, s=40)
        below = p.get("kind", "spiking") != "spiking"  # dense labels below, spiking above: near points stay legible
        ax.annotate(p["label"], (p["energy_per_token_j"], p["ppl"]), fontsize=7, xytext=(4, -10 if below else 3),
                    textcoords="offset points")
    front = pareto_front(points)
    ax.plot([p["energy_per_token_j"] for p in front], [p["ppl"] for p in front], "k--", lw=0.8, label="Pareto front")
    ax.set(xscale="log", yscale="log", xlabel="energy per token (J)", ylabel="perplexity (WikiText-2)",
           title=title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def pareto_front(points: list[dict]) -> list[dict]:
    """Points no other point dominates (lower or equal energy and perplexity, one strictly), by energy."""
    front = [p for p in points if not any(
        q["energy_per_token_j"] <= p["energy_per_token_j"] and q["ppl"] <= p["ppl"]
        and (q["energy_per_token_j"] < p["energy_per_token_j"] or q["ppl"] < p["ppl"]) for q in points)]
    return sorted(front, key=lambda p: p["energy_per_token_j"])


def plot_all(recording: Recording, out_dir: str | Path, hardware: Hardware, payload: bool = False,
             memory: bool = True, binary_spikes: str = "unary") -> list[Path]:
    """Every figure into ``out_dir`` (created); returns the paths."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out-dir {out} exists and is not a directory")
    if not recording.layers:
        raise ValueError(f"{recording.path}: the recording holds no blocks")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out-dir {out}: cannot create it ({err.strerror.lower()}); choose a writable folder") from None
    if not os.access(out, os.W_OK):
        raise ValueError(f"--out-dir {out} is not writable; choose a writable folder")
    files = [plot_raster(recording, i, out / f"raster_layer{layer.layer:03d}.png")
             for i, layer in enumerate(recording.layers)]
    files += [plot_firing_rates(recording, out / "firing_rate_layers.png"),
              plot_site_rates(recording, out / "firing_rate_sites.png"),
              plot_channel_rates(recording, out / "channel_rates.png"),
              plot_spike_levels(recording, out / "spike_levels.png"),
              plot_energy(recording, hardware, out / "energy.png", payload, memory, binary_spikes)]
    return files
