"""`make bench`: the performance harness of the poll service (run as `python -m bench`).

Importing this package does nothing: every phase starts from bench/__main__.py, on a
throwaway PostgreSQL, Redis and app server in a temporary folder (bench/stack.py).
"""
