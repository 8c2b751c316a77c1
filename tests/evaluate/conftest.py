"""The external-validation tests score the predict tests' multi-label model."""

from __future__ import annotations

from tests.predict.conftest import multilabel_experiment  # noqa: F401  (fixture)
