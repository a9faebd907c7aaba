"""Serving mode (``workload.mode: server``): the engine's own OpenAI-compatible server, driven by
camp's open-loop load generator over loopback (docs/measurement.md, "The serving window")."""
