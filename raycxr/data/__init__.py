"""Datasets: indexing, decoding (cached), splits and the synthetic phantom generator."""

from __future__ import annotations

from raycxr.data._cache import (
    BadImagesError,
    DecodedImages,
    cache_key,
    decode_dataset,
    default_cache_dir,
)
from raycxr.data._index import DatasetIndex, index_csv, index_dataset, index_folder
from raycxr.data._io import read_image
from raycxr.data._splits import (
    PredefinedFolds,
    Split,
    fold_files_in,
    holdout_split,
    predefined_splits,
    read_fold_files,
    stratified_folds,
)

__all__ = [
    "BadImagesError",
    "DatasetIndex",
    "DecodedImages",
    "PredefinedFolds",
    "Split",
    "cache_key",
    "decode_dataset",
    "default_cache_dir",
    "fold_files_in",
    "holdout_split",
    "index_csv",
    "index_dataset",
    "index_folder",
    "predefined_splits",
    "read_fold_files",
    "read_image",
    "stratified_folds",
]
