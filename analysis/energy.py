"""Energy of a recording on a hardware preset, spiking vs. the same network dense.

Per block (and for the head: final norm + ``lm_head``)::

    spiking = SOPs·E_sop + neuron-steps·E_neuron + spike events·E_hop + FP ops·E_mac
    dense   = dense MACs·E_ann_mac
    ratio   = spiking / dense                  (below 1: the spiking model spends less)

SOPs are ``sops`` (events × fan-out) unless ``payload=True`` (``sops_payload``: a level-k spike is k
accumulates). The optional memory term (reported apart, never added to ``energy_j``) charges
``E_mem`` per 64 bits read or written: one weight per synaptic op (``wbits`` for linear layers, the word
for attention operands) and a read and a write of the membrane per neuron-step, and one operand per
floating-point linear/attention/``lm_head`` MAC in both models. Constants and sources: docs/energy.md.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from analysis.records import Recording, SiteRecord

PJ = 1e-12
HOROWITZ = "Horowitz, ISSCC 2014, 'Computing's energy problem', 45 nm, 0.9 V"
FP16_NOTE = "; remaining floating-point ops and the dense model at the 45 nm fp16 MAC (Horowitz 2014)"


@dataclass(frozen=True)
class Hardware:
    """Energy per operation, in joules."""
    name: str
    sop_j: float              # one synaptic operation (an accumulate)
    mac_j: float              # one floating-point op left in the spiking model
    ann_mac_j: float          # one MAC of the dense model
    neuron_j: float = 0.0     # one neuron update (per neuron-step)
    hop_j: float = 0.0        # one spike event crossing one router hop
    word_bits: int = 16       # width of floating-point operands (memory term)
    memory_j: float = 10 * PJ  # one 64-bit access of an 8 KB SRAM (Horowitz 2014; 1 MB: 100 pJ, DRAM 1.3-2.6 nJ)
    source: str = ""


PRESETS = {
    "45nm-fp32": Hardware("45nm-fp32", sop_j=0.9 * PJ, mac_j=4.6 * PJ, ann_mac_j=4.6 * PJ, word_bits=32,
                          source=HOROWITZ + ": fp32 add 0.9 pJ, mult 3.7 pJ (MAC 4.6 pJ)"),
    "45nm-fp16": Hardware("45nm-fp16", sop_j=0.4 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, word_bits=16,
                          source=HOROWITZ + ": fp16 add 0.4 pJ, mult 1.1 pJ (MAC 1.5 pJ)"),
    "45nm-int8": Hardware("45nm-int8", sop_j=0.03 * PJ, mac_j=0.23 * PJ, ann_mac_j=0.23 * PJ, word_bits=8,
                          source=HOROWITZ + ": int8 add 0.03 pJ, mult 0.2 pJ (MAC 0.23 pJ)"),
    "loihi": Hardware("loihi", sop_j=23.6 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, neuron_j=81 * PJ,
                      hop_j=3.5 * PJ, source="Davies et al., IEEE Micro 38(1), 2018, Table 2: synaptic spike op "
                      "23.6 pJ, neuron update 81 pJ (active), 3.5 pJ per tile hop" + FP16_NOTE),
    "truenorth": Hardware("truenorth", sop_j=26 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ,
                          source="Merolla et al., Science 345(6197), 2014: 26 pJ per synaptic event" + FP16_NOTE),
    "spinnaker2": Hardware("spinnaker2", sop_j=450 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ,
                           source="450 pJ per synaptic operation as specified for this project (primary "
                           "source not verified, see docs/energy.md)" + FP16_NOTE),
}
REQUIRED = ("sop_j", "mac_j", "ann_mac_j")


def load_hardware(name: str) -> Hardware:
    """A preset name, or a JSON/YAML file of :class:`Hardware` fields (``sop_j``, ``mac_j``, ``ann_mac_j``
    required; ``name`` defaults to the file's stem)."""
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise ValueError(f"unknown hardware {name!r}: give one of {', '.join(PRESETS)} or a .json/.yaml preset file")
    if not path.is_file():
        raise FileNotFoundError(f"hardware preset file {path} not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot parse the hardware preset: {str(error).splitlines()[0]}") from None
    return _from_mapping(path, data)


def _from_mapping(path: Path, data) -> Hardware:
    if not isinstance(data, dict):
        names = ", ".join(f.name for f in fields(Hardware))
        raise ValueError(f"{path}: a hardware preset must be a mapping of {names}")
    known = {f.name: f for f in fields(Hardware)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown hardware fields {unknown}; accepted: {', '.join(known)}")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ValueError(f"{path}: missing hardware fields {missing}")
    values = {"name": path.stem, **data}
    for key, value in values.items():
        if key in ("name", "source"):
            values[key] = str(value)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{path}: {key} must be a finite number >= 0, got {value!r}")
    if values["ann_mac_j"] <= 0:
        raise ValueError(f"{path}: ann_mac_j must be > 0 (the dense model is the reference of the ratio)")
    if "word_bits" in values:
        if values["word_bits"] != int(values["word_bits"]) or values["word_bits"] < 1:
            raise ValueError(f"{path}: word_bits must be a positive integer, got {values['word_bits']!r}")
        values["word_bits"] = int(values["word_bits"])
    return Hardware(**values)


def _operand_ops(ops: dict[str, int]) -> int:
    """Floating-point MACs that read a weight-like operand (memory term)."""
    return ops["linear"] + ops["attention_scores"] + ops["attention_values"] + ops["lm_head"]


def _row(label, sites: list[SiteRecord], spiking_ops: dict, dense_ops: dict, hw: Hardware, payload: bool,
         memory: bool, weight_bits: int) -> dict:
    count = {key: sum(getattr(site, key) for site in sites)
             for key in ("sops", "sops_payload", "events", "neuron_steps")}
    macs, ann_macs = sum(spiking_ops.values()), sum(dense_ops.values())
    parts = {"synaptic_j": count["sops_payload" if payload else "sops"] * hw.sop_j,
             "neuron_j": count["neuron_steps"] * hw.neuron_j, "hop_j": count["events"] * hw.hop_j,
             "fp_j": macs * hw.mac_j}
    energy, ann_energy = sum(parts.values()), ann_macs * hw.ann_mac_j
    row = {"layer": label, "sops": count["sops"], "sops_payload": count["sops_payload"],
           "spike_events": count["events"], "neuron_steps": count["neuron_steps"], "macs": macs,
           "ann_macs": ann_macs, "energy_j": energy, "ann_energy_j": ann_energy,
           "ratio": energy / ann_energy, "breakdown": parts}
    if memory:
        bits = sum(site.sops * (weight_bits if site.kind == "linear" else hw.word_bits) for site in sites)
        bits += 2 * count["neuron_steps"] * hw.word_bits + _operand_ops(spiking_ops) * hw.word_bits
        row["memory_energy_j"] = bits / 64 * hw.memory_j
        row["ann_memory_energy_j"] = _operand_ops(dense_ops) * hw.word_bits / 64 * hw.memory_j
    return row


def estimate(recording: Recording, hw: Hardware, payload: bool = False, memory: bool = False) -> dict:
    """Per-layer and total energy (JSON-ready): see the module docstring."""
    weight_bits = recording.shape.weight_bits or hw.word_bits
    rows = [_row(layer.layer, list(layer.sites.values()), layer.spiking_ops, layer.dense_ops, hw, payload, memory,
                 weight_bits) for layer in recording.layers]
    if recording.head_ops is not None:
        rows.append(_row("head", [], recording.head_ops, recording.head_ops, hw, payload, memory, weight_bits))
    total = {key: sum(row[key] for row in rows) for key in rows[0] if key not in ("layer", "ratio", "breakdown")}
    total["breakdown"] = {key: sum(row["breakdown"][key] for row in rows) for key in rows[0]["breakdown"]}
    total["ratio"] = total["energy_j"] / total["ann_energy_j"]
    tokens = recording.layers[0].batch * recording.layers[0].q_len
    return {"recording": recording.path, "hardware": hw.name, "constants": asdict(hw),
            "sop_count": "payload" if payload else "events", "tokens": tokens,
            "energy_per_token_j": total["energy_j"] / tokens, "ann_energy_per_token_j": total["ann_energy_j"] / tokens,
            **total, "layers": rows}


def format_table(result: dict) -> str:
    """The per-layer table and the total, as printed by ``neuro-llm energy``."""
    memory = "memory_energy_j" in result
    head = f"{'layer':>6} {'SOPs':>10} {'FP ops':>10} {'dense MACs':>11} {'spiking J':>10} {'dense J':>10} {'ratio':>7}"
    head += f" {'mem spk J':>10} {'mem dense J':>11}" if memory else ""

    def line(row, label):
        text = (f"{label:>6} {row['sops' if result['sop_count'] == 'events' else 'sops_payload']:>10.3e} "
                f"{row['macs']:>10.3e} {row['ann_macs']:>11.3e} {row['energy_j']:>10.3e} "
                f"{row['ann_energy_j']:>10.3e} {row['ratio']:>7.3f}")
        if memory:
            text += f" {row['memory_energy_j']:>10.3e} {row['ann_memory_energy_j']:>11.3e}"
        return text

    lines = [f"hardware {result['hardware']} ({result['constants']['source']}); SOPs counted as "
             f"{result['sop_count']}; {result['tokens']} tokens", head]
    lines += [line(row, row["layer"]) for row in result["layers"]]
    lines += ["-" * len(head), line(result, "total")]
    return "\n".join(lines)
