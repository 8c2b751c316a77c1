"""Export a trained model as a bundle (TorchScript, ONNX, bundle.json) that predicts without its experiment."""

from __future__ import annotations

from raycxr.export._export import TOLERANCE, ExportError, ExportResult, export_model, synthetic_samples

__all__ = ["TOLERANCE", "ExportError", "ExportResult", "export_model", "synthetic_samples"]
