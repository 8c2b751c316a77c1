"""Datasets: indexing, decoding (cached), splits, leakage audit and the synthetic phantom generator."""

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
from raycxr.data._leakage import (
    LeakageAudit,
    audit,
    dedupe_rows,
    duplicate_groups,
    file_hashes,
    find_duplicates,
    perceptual_hashes,
)
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
    "LeakageAudit",
    "PredefinedFolds",
    "Split",
    "audit",
    "cache_key",
    "decode_dataset",
    "dedupe_rows",
    "default_cache_dir",
    "duplicate_groups",
    "file_hashes",
    "find_duplicates",
    "fold_files_in",
    "holdout_split",
    "index_csv",
    "index_dataset",
    "index_folder",
    "perceptual_hashes",
    "predefined_splits",
    "read_fold_files",
    "read_image",
    "stratified_folds",
]
