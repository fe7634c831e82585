"""The throughput benchmark (``python -m tests.benchmark``)."""
