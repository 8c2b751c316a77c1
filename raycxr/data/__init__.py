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
from raycxr.data._manifest import (
    Manifest,
    TestSpec,
    content_hash,
    data_root,
    hash_files,
    hash_index,
    make_manifest,
    read_manifest,
    relative_files,
    verify_manifest,
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
    "Manifest",
    "PredefinedFolds",
    "Split",
    "TestSpec",
    "cache_key",
    "content_hash",
    "data_root",
    "decode_dataset",
    "default_cache_dir",
    "fold_files_in",
    "hash_files",
    "hash_index",
    "holdout_split",
    "index_csv",
    "index_dataset",
    "index_folder",
    "make_manifest",
    "predefined_splits",
    "read_fold_files",
    "read_image",
    "read_manifest",
    "relative_files",
    "stratified_folds",
    "verify_manifest",
]
