"""The table ``neuro-llm energy`` prints: one line per block and the head, the total, energy per token
(``E / tokens``) and the ratios ``E_spiking / E_dense`` with their bands over the ranged constants."""
from __future__ import annotations

from analysis.hardware import PJ


def _fmt(value, width, spec=".3e"):
    return f"{'–':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_table(result: dict) -> str:
    """The per-layer table and the total, as printed by ``neuro-llm energy``."""
    head = (f"{'layer':>6} {'syn ops':>10} {'spiking J':>10} {'dense-int J':>11} {'dense-fp J':>10} "
            f"{'vs int':>7} {'vs fp':>7} {'mem spk J':>10}")

    def line(row, label):
        return (f"{label:>6} {_fmt(row['synaptic_ops'], 10)} {_fmt(row['energy_j'], 10)} "
                f"{_fmt(row['dense_int_energy_j'], 11)} {_fmt(row['dense_fp16_energy_j'], 10)} "
                f"{_fmt(row['ratio_vs_dense_int'], 7, '.3f')} {_fmt(row['ratio_vs_dense_fp16'], 7, '.3f')} "
                f"{_fmt(row['memory_j']['spiking'] if result['memory'] else None, 10)}")

    source = result.get("hardware_source") or result["constants"].get("source", "")
    spikes = f"; binary spikes as {result['binary_spikes']}" if result.get("binary_spikes") else ""
    lines = [f"convention {result['convention']}; hardware {result['hardware']} ({source}); synaptic ops counted "
             f"as {result['sop_count']}{spikes}; memory {'on' if result['memory'] else 'off'}; "
             f"{result['tokens']} tokens"]
    if result["convention"] == "ours":
        node = result["technology_node"]
        place = result["synapse_placement"]
        lines.append(f"node: {node['spiking']} spiking / {node['dense']} dense"
                     f"{'' if node['same_node'] else ' (MIXED: ratios compare across nodes)'}; dataflow "
                     f"{result['dataflow']}; neuron policy {result['neuron_policy']}; spike train "
                     f"{result['spike_train']}; K/V {result['kv']}; weights W{result['wbits']}; dense-int at "
                     f"A{result['dense_int_abits']} (carried {result['carried_abits']}, nominal {result['abits']}, "
                     f"iso-bit {result['dense_isobit_abits']}); synapses need {place['chips_needed']} chip(s) of "
                     f"{place['chip_bytes'] / 2**20:.0f} MiB, {'streamed per pass' if place['streamed'] else 'resident'}")
    lines.append(head)
    lines += [line(row, row["layer"]) for row in result["layers"]]
    lines += ["-" * len(head), line(result, "total")]
    per_token = ", ".join(f"{name} {_fmt(result[key], 0)} J" for name, key in (
        ("spiking", "energy_per_token_j"), ("dense-int", "dense_int_energy_per_token_j"),
        ("dense-fp", "dense_fp16_energy_per_token_j")))
    lines.append(f"per token: {per_token}")
    if result["convention"] == "ours":
        band, blocks = result["ratio_band"], result["ratio_blocks_band"]
        lines.append(f"spiking / dense-int: whole model {result['ratio_vs_dense_int']:.3f} (band {band[0]:.3f}.."
                     f"{band[1]:.3f}), blocks only {result['ratio_blocks_vs_dense_int']:.3f} (band {blocks[0]:.3f}.."
                     f"{blocks[1]:.3f}); vs iso-bit dense {result['ratio_vs_dense_isobit']:.3f}")
    if "range" in result:
        r = result["range"]
        ranged = [k for k, v in result["constants"].items() if isinstance(v, dict) and "range" in v]
        lines.append(f"ranged constants {', '.join(ranged)}: "
                     f"spiking {r['energy_j'][0]:.3e}..{r['energy_j'][1]:.3e} J, vs int "
                     f"{r['ratio_vs_dense_int'][0]:.3f}..{r['ratio_vs_dense_int'][1]:.3f}, vs fp "
                     f"{r['ratio_vs_dense_fp16'][0]:.3f}..{r['ratio_vs_dense_fp16'][1]:.3f}")
    if "spikingbrain" in result:
        sb = result["spikingbrain"]
        ref = sb["reported"]
        lines.append(f"SpikingBrain's convention (linear inputs only): {sb['spikes_per_channel_linear']:.3f} spikes per "
                     f"channel -> {sb['ratio_fp16']:.2f}x / {sb['ratio_int8']:.2f}x below the FP16 / INT8 MAC "
                     f"(theirs, 7B: {ref['spikes_per_channel']} -> {ref['ratio_fp16']}x / {ref['ratio_int8']}x)")
    if "mac_equivalent_j" in result:
        lines.append(f"{result['spikes_per_activation']:.3f} unit spikes per activation: "
                     f"{result['mac_equivalent_j'] / PJ:.4f} pJ per MAC-equivalent, "
                     f"{result['mac_equivalent_ratio']:.1f}x below the FP16 MAC")
    return "\n".join(lines)
