"""The export tests use the predict tests' trained models."""

from __future__ import annotations

from tests.predict.conftest import binary_run, pngs, trained_run  # noqa: F401  (fixtures)
