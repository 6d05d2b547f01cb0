"""Vendored, flatc-generated TFLite metadata schema (see README.md in this folder)."""
