"""The load scenario (locust) and its end-of-run check; see README, "Load testing"."""
