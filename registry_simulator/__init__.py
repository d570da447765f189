"""The development national registry: a separate HTTP process that answers like the real one.

    python -m registry_simulator [--host 127.0.0.1] [--port 8001]

It speaks the registry's signed protocol (identity/signing.py, identity/registry_protocol.py)
so the real client is what gets exercised, and adds /_sim/faults and /_sim/stats for fault
and load tests. A development double, not part of the app: it never boots Django, reads
its few settings from the environment (config.py), and never touches the database.
"""
