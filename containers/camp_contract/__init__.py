"""The contract between camp's host (``orchestrator``) and its in-container harness (``harness``):
the only package both sides import, and one that imports neither.

Its modules, one job each: ``models`` (the spec and result), ``params`` (each backend's
parameters), ``power_sources`` (the power-source registry), ``fingerprint`` (the hash an image's
contract is checked by), ``failure`` (a failed run's ``error.json``), ``layout`` (every path
under the results root), ``timeseries`` (the power trace's parquet schema), ``model_ref`` (how a
model is named), ``image_variables`` (what the host tells a container about its image),
``atomic`` (atomic writes) and ``validation`` (a validation error as one line). Nothing is
imported here, so ``python3 -m harness.provenance`` at image build time needs only the standard
library.
"""
