"""The face of slawatch: the CLI, the dev stack, the local stand-ins, and process and test helpers.

Nothing in the foundation (`slawatch/*.py`, `policies/`) imports this package (docs/design.md,
"The parts").
"""
