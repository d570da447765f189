"""The load scenario (locust) and its end-of-run check; see docs/benchmarks.md, "Load testing"."""
