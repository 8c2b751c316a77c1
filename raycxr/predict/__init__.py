"""Prediction with a trained model: load it from a search, a training run, a CV or a bundle, and predict files."""

from __future__ import annotations

from raycxr.predict._bundle import OnnxModule
from raycxr.predict._inputs import MAX_ASPECT_RATIO, RADIOGRAPH_MODALITIES, input_reasons
from raycxr.predict._load import experiment_classes, latest_state, load_model, model_kind
from raycxr.predict._model import RUNTIMES, LoadedModel, ModelError
from raycxr.predict._predict import (
    Predictions,
    class_probabilities,
    decode,
    find_images,
    ood_description,
    ood_flags,
    predict_arrays,
    predict_files,
    probability_column,
    run_model,
    run_model_features,
)
from raycxr.predict._tta import MAX_TTA, TTA_PRESET, augmented_views, check_tta

__all__ = [
    "MAX_ASPECT_RATIO",
    "MAX_TTA",
    "RADIOGRAPH_MODALITIES",
    "RUNTIMES",
    "TTA_PRESET",
    "LoadedModel",
    "ModelError",
    "OnnxModule",
    "Predictions",
    "augmented_views",
    "check_tta",
    "class_probabilities",
    "decode",
    "experiment_classes",
    "find_images",
    "input_reasons",
    "latest_state",
    "load_model",
    "model_kind",
    "ood_description",
    "ood_flags",
    "predict_arrays",
    "predict_files",
    "probability_column",
    "run_model",
    "run_model_features",
]
