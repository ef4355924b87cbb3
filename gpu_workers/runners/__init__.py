"""Lab runners: each module ``<name>.py`` exposes ``run(spec: dict, emitter: Emitter)``.

Started inside the sandbox as ``python -m gpu_workers.runners <name> /work/spec.json``;
see :mod:`gpu_workers.runners.protocol` for the event format. No Django here.
"""
