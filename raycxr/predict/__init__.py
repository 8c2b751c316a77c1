"""Prediction with a trained model: load it from a search, a training run, a CV or a bundle, and predict files."""

from __future__ import annotations

from raycxr.predict._bundle import OnnxModule
from raycxr.predict._load import experiment_classes, latest_state, load_model, model_kind
from raycxr.predict._model import RUNTIMES, LoadedModel, ModelError
from raycxr.predict._predict import (
    Predictions,
    class_probabilities,
    decode,
    find_images,
    predict_arrays,
    predict_files,
    probability_column,
    run_model,
)

__all__ = [
    "RUNTIMES",
    "LoadedModel",
    "ModelError",
    "OnnxModule",
    "Predictions",
    "class_probabilities",
    "decode",
    "experiment_classes",
    "find_images",
    "latest_state",
    "load_model",
    "model_kind",
    "predict_arrays",
    "predict_files",
    "probability_column",
    "run_model",
]
