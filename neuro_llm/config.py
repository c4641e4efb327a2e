"""``SpikeConfig``: everything that defines how a model is quantized and turned into spikes.

Activation spikes come in two codes:

* ``gif`` (SpikeLLM): unsigned, asymmetric per-token quantization with a zero point; a GIF neuron fires
  ``0..L-1`` per step, so a channel with ``T`` steps counts up to ``T·(L-1)``. ``L`` defaults to
  ``2**abits`` (one step carries ``abits`` bits); ``L = 2`` is the binary IF neuron (``2**abits - 1`` steps).
* ``ternary`` (SDLLM): signed, symmetric counts; a spike is ``-k..k`` (``k = 1``: -1/0/+1). By default
  (``threshold="mean"``, the authors' released code) the per-token threshold is ``mean|x| / threshold_k``
  and the count ``round(x / Δ)`` is bounded only by ``count_cap`` (``None``: unbounded), so the train is
  as long as the largest count needs; ``spike_train="bitwise"`` (the default, as SpikingBrain's W8ASpike)
  sends counts bit by bit, ``"ternary"`` fires a count ``c`` as ``|c|`` unit spikes. ``abits`` then
  only says whether activations spike (``< 16``) or stay floating point (16): SDLLM's counts have no bit
  width, and any other ``abits`` is refused (bound the counts with ``count_cap = 2**(b-1) - 1`` instead).
  ``threshold="max"`` is the old max-scaled code (``Δ = max|x| / (2**(abits-1) - 1)``, ``(2**(abits-1) - 1)
  / k`` steps), kept as a comparison.

Salient channels (Optimal Brain Spiking) get ``2**extra_steps`` times the base steps.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from neuro_llm.core.methods import Method, method_names, method_spec, methods
from neuro_llm.core.modes import KeyScale, Mode, SpikeTrain, Threshold, WeightSpikes

METHODS = method_names()               # the registry's (neuro_llm.core.methods), in the CLI's order
IMPLEMENTED_METHODS = METHODS
WEIGHT_SPIKES = WeightSpikes.values()
WEIGHT_METHODS = tuple(m.name for m in methods() if m.weight_method)
SALIENCY = ("first", "second")
SPIKING_METHODS = tuple(m.name for m in methods() if m.spiking)
THRESHOLDS = Threshold.values()         # sdllm: adaptive mean|x|/k (authors' code) | old max-scaled comparison
SPIKE_TRAINS = SpikeTrain.values()      # sdllm (mean threshold): unit ±1 trains | bit-by-bit ±1 trains
# SDLLM's lab (BICLab, SpikingBrain-7B W8ASpike, SpikeCountBitwiseNode) sends counts bit by bit: ~1.2 events
# per activation on SmolLM2 against ~3 for unit ternary trains (benchmarks/results/energy_smollm2.json)
DEFAULT_SPIKE_TRAIN = SpikeTrain.BITWISE.value
DEFAULT_THRESHOLD_K = 3.0               # the authors' default (SpikingBrain-7B quant_linear.py, report A.8)
DEFAULT_COUNT_CAP = None                # by measurement (sdllm_curve.py): cap 15 at k=3 clips 1 %, ppl 42 -> 1.9e6
MODES = Mode.values()
KEY_SCALES = KeyScale.values()          # K's threshold, both causal: per token | per channel over past tokens
FULL_PRECISION_BITS = 16


@dataclass(frozen=True)
class SpikeConfig:
    method: str = "spikellm"           # a registered method (neuro_llm.core.methods)
    wbits: int = 4
    abits: int = 4
    salient: float | None = None        # fraction of input channels ranked salient; None: method default
    extra_steps: int | None = None      # salient channels get 2**extra_steps times the steps
    spike_levels: int | None = None     # gif: levels L per step; ternary: max level k per step
    mode: str = "collapsed"
    quantize_attention: bool = True     # spike-encode Q, K, V of the attention products
    key_scale: str = "token"            # K's threshold: per token | "running" (per channel over tokens 0..i)
    calib_windows: int = 4              # WikiText-2 valid windows for calibration
    calib_seqlen: int = 512
    seed: int = 0
    weight_method: str | None = None    # spiking methods: weights from rtn | gptq | omniquant (default rtn)
    saliency: str = "first"             # Optimal Brain Spiking order for channel ranking
    group_size: int | None = None       # GPTQ weight groups (None: one scale per output row)
    act_order: bool = False             # GPTQ: quantize columns in order of decreasing Hessian diagonal
    epochs: int = 2                     # OmniQuant epochs per block (the paper: 20)
    weight_spikes: str = "int"          # spikellm: "ternary" = sparse ternary GIF weight spikes (additive-only)
    weight_salient: float = 0.1         # pbllm / ternary weights: fraction of salient weights (Hessian-ranked)
    weight_extra_steps: int = 1         # ternary weights: salient weights get 2**k ternary steps
    threshold: str = "mean"             # sdllm: "mean" = mean|x|/threshold_k per token | "max" (old comparison)
    threshold_k: float = DEFAULT_THRESHOLD_K   # sdllm: larger k = lower threshold, more spikes, finer code
    count_cap: int | None = DEFAULT_COUNT_CAP  # sdllm: |count| ≤ cap (membrane clipping); None = no cap
    spike_train: str = DEFAULT_SPIKE_TRAIN  # sdllm: "bitwise" (c sent bit by bit, SpikingBrain's W8ASpike) | "ternary"
    omniquant_batch: int | None = None  # OmniQuant: windows per optimizer step (None: the world size, 1 alone)
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        spec = self.method_spec   # raises on an unknown method
        KeyScale.parse(self.key_scale, "key_scale")
        Mode.parse(self.mode, "mode")
        for name in ("wbits", "abits"):
            bits = getattr(self, name)
            if not isinstance(bits, int) or isinstance(bits, bool) or not (1 <= bits <= FULL_PRECISION_BITS):
                raise ValueError(f"{name} must be an integer in 1..{FULL_PRECISION_BITS} (16 = not quantized), got {bits!r}")
        self._check_sdllm()
        if spec.signed_code and not self.adaptive and self.abits < 2 and self.quantizes_activations:
            raise ValueError("ternary spikes need abits >= 2 (a signed range of at least ±1)")
        if not (0.0 <= self.salient_fraction < 1.0):
            raise ValueError(f"salient must be a fraction in [0, 1), got {self.salient}")
        if not isinstance(self.extra_step_count, int) or not (0 <= self.extra_step_count <= 4):
            raise ValueError(f"extra_steps must be an integer in 0..4, got {self.extra_steps!r}")
        if not spec.spiking and (self.salient or self.extra_steps):
            raise ValueError(
                f"--salient/--extra-steps apply to spiking methods ({', '.join(SPIKING_METHODS)}), not {self.method!r}"
            )
        if self.quantizes_activations:
            self.per_step  # validates spike_levels against abits
        if self.weight_method is not None:
            if self.weight_method not in WEIGHT_METHODS:
                raise ValueError(f"unknown weight method {self.weight_method!r}: accepted {', '.join(WEIGHT_METHODS)}")
            if not spec.spiking and self.weight_method != self.method:
                raise ValueError(f"--weight-method applies to spiking methods; {self.method!r} is its own weight method")
        ternary_weights = WeightSpikes.parse(self.weight_spikes, "weight spikes") is WeightSpikes.TERNARY
        if ternary_weights and not spec.ternary_weight_spikes:
            raise ValueError("ternary weight spikes belong to spikellm (--method spikellm --weight-spikes ternary)")
        if spec.binary_weights and self.wbits != 1:
            raise ValueError(f"{self.method} binarizes weights (salient ones kept at 8 bits): use --wbits 1")
        if ternary_weights and self.wbits != 2:
            raise ValueError("ternary weight spikes are a 2-bit weight code: use --wbits 2")
        if not (0.0 <= self.weight_salient < 1.0):
            raise ValueError(f"weight_salient must be a fraction in [0, 1), got {self.weight_salient}")
        if self.saliency not in SALIENCY:
            raise ValueError(f"unknown saliency {self.saliency!r}: accepted {', '.join(SALIENCY)}")
        if self.group_size is not None and self.group_size < 1:
            raise ValueError(f"group_size must be a positive integer, got {self.group_size}")
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.omniquant_batch is not None and (not isinstance(self.omniquant_batch, int) or self.omniquant_batch < 1):
            raise ValueError(f"omniquant_batch must be a positive integer (windows per OmniQuant step), "
                             f"got {self.omniquant_batch!r}")
        if self.calib_windows < 1 or self.calib_seqlen < 2:
            raise ValueError("calib_windows must be >= 1 and calib_seqlen >= 2")

    def _check_sdllm(self) -> None:
        if isinstance(self.count_cap, str) and self.count_cap.strip().lower() == "none":
            object.__setattr__(self, "count_cap", None)  # "none" from the command line or a config file
        threshold = Threshold.parse(self.threshold, "threshold")
        bitwise = SpikeTrain.parse(self.spike_train, "spike train") is SpikeTrain.BITWISE
        k = self.threshold_k
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0:
            raise ValueError(f"threshold_k must be a positive number (threshold = mean|x| / k), got {k!r}")
        cap = self.count_cap
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(f"count_cap must be an integer >= 1 (or none: no cap), got {cap!r}")
        changed = [name for name, value, default in (
            ("threshold", self.threshold, "mean"), ("threshold-k", k, DEFAULT_THRESHOLD_K),
            ("count-cap", cap, DEFAULT_COUNT_CAP), ("spike-train", self.spike_train, DEFAULT_SPIKE_TRAIN))
            if value != default]
        owner = self.method_spec.adaptive_options
        if not owner and changed:
            raise ValueError(f"--{', --'.join(changed)}: sdllm options, not for method {self.method!r}")
        if owner and threshold is Threshold.MAX:
            bad = [name for name in changed if name != "threshold"]
            if bad:
                raise ValueError(f"--{', --'.join(bad)}: options of sdllm's adaptive threshold (--threshold mean), "
                                 "not of the max-scaled comparison code")
        if self.adaptive and self.abits not in (4, FULL_PRECISION_BITS):
            raise ValueError(f"sdllm's adaptive counts have no bit width, so --abits {self.abits} means nothing "
                             f"for them: bound them with --count-cap {2 ** (self.abits - 1) - 1} "
                             f"(±(2**(abits-1)-1)), or use --threshold max for the old {self.abits}-bit code")
        if self.adaptive and bitwise and (self.spike_levels or 1) != 1:
            raise ValueError("the bitwise spike train (the default) sends ±1 spikes: drop --spike-levels, or give "
                             "--spike-train ternary for level-k spikes")

    # -- derived ------------------------------------------------------------------------------------
    @property
    def method_spec(self) -> Method:
        """The registered :class:`~neuro_llm.core.methods.Method` of ``method``."""
        return method_spec(self.method)

    @property
    def is_full_precision(self) -> bool:
        """Nothing is quantized (method ``fp``)."""
        return self.method_spec.full_precision

    @property
    def is_spiking(self) -> bool:
        """Activations become spike trains (spikellm, sdllm)."""
        return self.method_spec.spiking

    @property
    def execution_mode(self) -> Mode:
        return Mode(self.mode)

    @property
    def key_scaling(self) -> KeyScale:
        return KeyScale(self.key_scale)

    @property
    def signed_code(self) -> bool:
        """Whether the activation code is signed (symmetric counts, no zero point: SDLLM's)."""
        return self.method_spec.signed_code

    @property
    def adaptive(self) -> bool:
        """SDLLM's adaptive-threshold code (data-dependent train length)."""
        return self.method_spec.adaptive_options and Threshold(self.threshold) is Threshold.MEAN

    @property
    def kind(self) -> str:
        """The recorded name of the activation code (``gif`` | ``ternary``), as recordings and saved models store it."""
        return "ternary" if self.signed_code else "gif"

    @property
    def code_name(self) -> str:
        """The registry name of the activation code (:func:`neuro_llm.spiking.codes.code_class`)."""
        return self.method_spec.code_name(self)

    @property
    def weights_from(self) -> str:
        """Which calibration produces the weights: the method itself, ``pbllm``, sparse ``ternary`` weight
        spikes (GPTQ-compensated), or a spiking method's ``weight_method`` (default rtn)."""
        if self.method_spec.own_weights:
            return self.method
        if WeightSpikes(self.weight_spikes) is WeightSpikes.TERNARY:
            return WeightSpikes.TERNARY.value     # the sparse-ternary calibrator's name
        return self.weight_method or self.method_spec.default_weights

    @property
    def quantizes_weights(self) -> bool:
        return not self.is_full_precision and self.wbits < FULL_PRECISION_BITS

    @property
    def quantizes_activations(self) -> bool:
        return not self.is_full_precision and self.abits < FULL_PRECISION_BITS

    @property
    def salient_fraction(self) -> float:
        if self.salient is not None:
            return float(self.salient)
        return self.method_spec.default_salient

    @property
    def extra_step_count(self) -> int:
        if self.extra_steps is not None:
            return self.extra_steps
        return self.method_spec.default_extra_steps

    @property
    def capacity(self) -> int | None:
        """Largest count the base steps must reach: ``2**abits - 1`` (gif) or ``2**(abits-1) - 1`` (ternary,
        max-scaled); the adaptive code's ``count_cap`` (``None``: unbounded)."""
        if self.adaptive:
            return self.count_cap
        return 2 ** (self.abits - 1) - 1 if self.signed_code else 2 ** self.abits - 1

    @property
    def per_step(self) -> int:
        """Largest spike of one step: ``L - 1`` (gif) or ``k`` (ternary)."""
        if not self.signed_code:
            levels = self.spike_levels or 2 ** self.abits
            if levels < 2 or self.capacity % (levels - 1):
                raise ValueError(
                    f"spike_levels={levels} does not tile {self.abits}-bit activations: L-1 must divide "
                    f"{self.capacity} (e.g. L = 2, 4 or 16 for abits=4)"
                )
            return levels - 1
        k = self.spike_levels or 1
        if self.adaptive:  # counts are unbounded (or capped): any k >= 1 drains them
            if k < 1:
                raise ValueError(f"ternary max level k must be at least 1, got {k}")
            return k
        if k < 1 or self.capacity % k:
            raise ValueError(f"ternary max level k={k} must divide {self.capacity} (the signed range of abits={self.abits})")
        return k

    @property
    def base_steps(self) -> int:
        """Steps of a non-salient channel; for the adaptive code a resolution multiplier (1), its trains
        being as long as their counts need."""
        return 1 if self.adaptive else self.capacity // self.per_step

    @property
    def salient_steps(self) -> int:
        return self.base_steps * 2 ** self.extra_step_count

    @property
    def code(self):
        """The :class:`~neuro_llm.spiking.codes.SpikeCode` of every activation encoder (the registered class
        :attr:`code_name` names, built from this config by its ``from_config``)."""
        from neuro_llm.spiking.codes import code_class
        return code_class(self.code_name).from_config(self)

    @property
    def uses_saliency(self) -> bool:
        return self.quantizes_activations and self.salient_fraction > 0 and self.extra_step_count > 0

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(salient=self.salient_fraction, extra_steps=self.extra_step_count, weight_method=self.weights_from)
        return out


def spike_config_options(config: SpikeConfig) -> dict:
    """A :class:`SpikeConfig` as the options that rebuild it (its fields, ``extra`` aside)."""
    out = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "extra"}
    if out.get("count_cap", 0) is None:
        out["count_cap"] = "none"  # null would read back as "not given", i.e. the default cap
    return out
