"""Fixtures that start a real vLLM (CPU) server on loopback."""
