"""Service metrics shared by the worker processes, in Prometheus' text format."""
