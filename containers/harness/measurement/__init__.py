"""Power and energy measurement: sources (NVML, synthetic), the sampler, baseline, warmup, energy."""
