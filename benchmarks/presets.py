"""Named configurations compared in docs/results.md (SmolLM2-135M, calibrated on WikiText-2 valid).

Calibration budgets: ``CPU`` keeps a run in minutes; ``GPU`` is what the published tables were run with
(OmniQuant's paper budget, 128 × 2048 tokens and 20 epochs, is available through the same fields).
"""
CALIBRATION = {
    "cpu": dict(calib_windows=4, calib_seqlen=512, epochs=1),
    "gpu": dict(calib_windows=32, calib_seqlen=1024, epochs=5),
    "paper": dict(calib_windows=128, calib_seqlen=2048, epochs=20),
}

T2 = dict(salient=0.1, extra_steps=1)
T4 = dict(salient=0.1, extra_steps=2)

PRESETS = {
    "fp": dict(method="fp"),
    # weights and activations, W4A4 / W4A8
    "rtn-w4a4": dict(method="rtn", wbits=4, abits=4),
    "rtn-w4a8": dict(method="rtn", wbits=4, abits=8),
    "gptq-w4a4": dict(method="gptq", wbits=4, abits=4),
    "gptq-w4a8": dict(method="gptq", wbits=4, abits=8),
    "omniquant-w4a4": dict(method="omniquant", wbits=4, abits=4),
    "omniquant-w4a8": dict(method="omniquant", wbits=4, abits=8),
    "spikellm-rtn-w4a4-t2": dict(method="spikellm", wbits=4, abits=4, **T2),
    "spikellm-w4a4-t2": dict(method="spikellm", weight_method="omniquant", wbits=4, abits=4, **T2),
    "spikellm-w4a4-t4": dict(method="spikellm", weight_method="omniquant", wbits=4, abits=4, **T4),
    "spikellm-w4a8-t2": dict(method="spikellm", weight_method="omniquant", wbits=4, abits=8, **T2),
    # SDLLM as the authors' code defines it: threshold mean|x|/3 per token, counts uncapped, ternary trains
    # (about 3 spike events per activation); RTN weights, and OmniQuant weights trained with this quantizer
    "sdllm-w4": dict(method="sdllm", wbits=4),
    "sdllm-omniquant-w4": dict(method="sdllm", weight_method="omniquant", wbits=4),
    "sdllm-bitwise-w4": dict(method="sdllm", wbits=4, spike_train="bitwise"),
    # k = 6 sent bit by bit: about 1.6 spike events per activation (CPU curve), finer counts than k = 3
    "sdllm-bitwise-k6-w4": dict(method="sdllm", wbits=4, spike_train="bitwise", threshold_k=6.0),
    "sdllm-bitwise-k6-omniquant-w4": dict(method="sdllm", weight_method="omniquant", wbits=4, spike_train="bitwise",
                                          threshold_k=6.0),
    # the old max-scaled code (threshold max|x|/(2**(abits-1)-1)), kept as a comparison
    "sdllm-max-w4a4": dict(method="sdllm", threshold="max", wbits=4, abits=4),
    "sdllm-max-w4a8": dict(method="sdllm", threshold="max", wbits=4, abits=8),
    # K's threshold per channel over the tokens so far (key_scale="running"), against the default per token;
    # both causal (docs/concepts.md, "Causality")
    "spikellm-rtn-w4a4-t2-krunning": dict(method="spikellm", wbits=4, abits=4, key_scale="running", **T2),
    "spikellm-w4a4-t2-krunning": dict(method="spikellm", weight_method="omniquant", wbits=4, abits=4,
                                      key_scale="running", **T2),
    "sdllm-w4-krunning": dict(method="sdllm", wbits=4, key_scale="running"),
    # 2-bit weights with spiking activations (SpikeLLM's W2A8 setting)
    "omniquant-w2a8": dict(method="omniquant", wbits=2, abits=8),
    "spikellm-w2a8-t2": dict(method="spikellm", weight_method="omniquant", wbits=2, abits=8, **T2),
    # weight-only, W2A16 and binary/ternary weights
    "rtn-w2a16": dict(method="rtn", wbits=2, abits=16),
    "gptq-w2a16": dict(method="gptq", wbits=2, abits=16),
    "omniquant-w2a16": dict(method="omniquant", wbits=2, abits=16),
    "pbllm-w1a16": dict(method="pbllm", wbits=1, abits=16, weight_salient=0.1),
    "spikellm-ternary-w2a16": dict(method="spikellm", weight_spikes="ternary", wbits=2, abits=16,
                                   weight_salient=0.1, weight_extra_steps=1),
}
