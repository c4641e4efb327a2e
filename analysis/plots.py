"""PNG figures of a recording (matplotlib's Agg canvas, no pyplot state). Each figure has a fixed size in
inches at ``DPI`` dots per inch, so its pixel size is ``SIZES[name] × DPI``.

* ``raster_layerNNN.png``: the raster subsample of every site of block NNN; the time axis runs over
  tokens, and within a token over its steps; colour = graded spike level, white = no spike.
* ``firing_rate_layers.png``: firing rate per block, overall and per time step.
* ``firing_rate_sites.png``: firing rate per block and site (linear input or attention operand).
* ``channel_rates.png``: firing rate per channel (blocks × channels) for every site; salient channels
  (more steps than the fewest) marked in red.
* ``spike_levels.png``: histograms of spike levels (per neuron-step) and of spike counts (per neuron).
* ``energy.png``: energy per block, spiking (stacked: synaptic ops, neuron updates, hops, FP ops) beside
  the dense model, on one hardware preset.
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
         "channel_rates": (14, 10), "spike_levels": (11, 4.5), "energy": (12, 5)}
SPIKING_PARTS = {"synaptic_j": "synaptic ops", "neuron_j": "neuron updates", "hop_j": "spike hops",
                 "fp_j": "floating-point ops"}


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


def plot_energy(recording: Recording, hardware: Hardware, path: Path, payload: bool = False) -> Path:
    result = estimate(recording, hardware, payload=payload)
    rows = result["layers"]
    fig = Figure(figsize=SIZES["energy"], layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for key, label in SPIKING_PARTS.items():
        heights = np.array([row["breakdown"][key] for row in rows])
        ax.bar(x - 0.2, heights, 0.4, bottom=bottom, label=f"spiking: {label}")
        bottom += heights
    ax.bar(x + 0.2, [row["ann_energy_j"] for row in rows], 0.4, color="0.6", label="dense: MACs")
    ax.set_xticks(x, [str(row["layer"]) for row in rows], fontsize=7)
    ax.set(xlabel="block", ylabel="energy (J)",
           title=f"{hardware.name}: spiking {result['energy_j']:.3g} J vs dense {result['ann_energy_j']:.3g} J "
                 f"(ratio {result['ratio']:.3f})")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_all(recording: Recording, out_dir: str | Path, hardware: Hardware, payload: bool = False) -> list[Path]:
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
              plot_energy(recording, hardware, out / "energy.png", payload)]
    return files
