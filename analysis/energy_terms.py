"""Energy terms of a row, its totals and the ratios between the models.

A row holds per model a dict of energy terms; ``E_model = Σ terms``, ``M_model = Σ mem_* terms``, and
``ratio_vs_X = E_spiking / E_X`` (None when either side is missing or the denominator is 0). The total
sums the rows key by key (None if any row has None); ``blocks_ratio`` leaves the head out.
"""
from __future__ import annotations

from analysis.energy_choices import MODELS


def zero_terms(model: str) -> dict:
    keys = {"spiking": ("synaptic_j", "neuron_j", "hop_j", "fp_j", "mem_weights_j", "mem_accumulator_j",
                        "mem_operands_j", "mem_spikes_j", "mem_membrane_j", "mem_dram_j"),
            "dense_int": ("int_mac_j", "fp_j", "mem_weights_j", "mem_accumulator_j", "mem_operands_j",
                          "mem_activations_j", "mem_dram_j"),
            "dense_fp16": ("mac_j", "mem_weights_j", "mem_accumulator_j", "mem_operands_j", "mem_activations_j",
                           "mem_dram_j")}
    keys["dense_isobit"] = keys["dense_int"]
    return dict.fromkeys(keys[model], 0.0)


def finish_row(row: dict, parts: dict) -> dict:
    """Energies, memory, ratios and breakdowns of a row from its per-model energy terms."""
    energy = {model: (sum(parts[model].values()) if parts.get(model) is not None else None)
              for model in (*MODELS, "dense_isobit")}
    mem = {model: (sum(v for k, v in parts[model].items() if k.startswith("mem_")) if parts.get(model) is not None
                   else None) for model in MODELS}
    spiking = parts["spiking"]
    row.update({
        "energy_j": energy["spiking"], "dense_int_energy_j": energy["dense_int"],
        "dense_fp16_energy_j": energy["dense_fp16"], "dense_isobit_energy_j": energy["dense_isobit"],
        "memory_j": mem,
        "ratio_vs_dense_int": safe_ratio(energy["spiking"], energy["dense_int"]),
        "ratio_vs_dense_fp16": safe_ratio(energy["spiking"], energy["dense_fp16"]),
        "ratio_vs_dense_isobit": safe_ratio(energy["spiking"], energy["dense_isobit"]),
        "ann_energy_j": energy["dense_fp16"], "ratio": safe_ratio(energy["spiking"], energy["dense_fp16"]),
        "breakdown": {"synaptic_j": spiking["synaptic_j"], "neuron_j": spiking.get("neuron_j", 0.0),
                      "hop_j": spiking.get("hop_j", 0.0), "fp_j": spiking["fp_j"], "memory_j": mem["spiking"]},
        "terms": {m: parts.get(m) for m in (*MODELS, "dense_isobit")},
    })
    return row


def safe_ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def sum_rows(rows: list[dict]) -> dict:
    def add(values):
        values = list(values)
        if any(v is None for v in values):
            return None
        if isinstance(values[0], dict):
            return {k: add(v[k] for v in values) for k in values[0]}
        return sum(values)

    skip = ("layer", "ratio", "ratio_vs_dense_int", "ratio_vs_dense_fp16", "ratio_vs_dense_isobit")
    total = {key: add(row[key] for row in rows) for key in rows[0] if key not in skip}
    total["terms"] = {m: add(row["terms"][m] for row in rows) if rows[0]["terms"].get(m) is not None else None
                      for m in rows[0]["terms"]}
    total["ratio_vs_dense_int"] = safe_ratio(total["energy_j"], total["dense_int_energy_j"])
    total["ratio_vs_dense_isobit"] = safe_ratio(total.get("dense_isobit_energy_j") and total["energy_j"],
                                            total.get("dense_isobit_energy_j"))
    total["ratio_vs_dense_fp16"] = total["ratio"] = safe_ratio(total["energy_j"], total["dense_fp16_energy_j"])
    return total


def blocks_ratio(rows: list[dict], key: str = "dense_int_energy_j") -> float | None:
    """Spiking / dense over the blocks only (lm_head and the final norm left out)."""
    blocks = [row for row in rows if row["layer"] != "head"]
    spiking = sum(row["energy_j"] for row in blocks)
    dense = sum(row[key] for row in blocks) if all(row[key] is not None for row in blocks) else None
    return safe_ratio(spiking, dense)
