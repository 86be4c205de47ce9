"""A real Janus for each bridge test: the `janus` fixture lives in tests/conftest.py."""
