"""Datasets: indexing, decoding (cached), splits, leakage audit and the synthetic phantom generator."""

from __future__ import annotations

from raycxr.data._cache import (
    BadImagesError,
    DecodedImages,
    cache_key,
    decode_dataset,
    default_cache_dir,
)
from raycxr.data._datasets import (
    AUTO,
    DATASETS,
    DatasetAdapter,
    check_dataset_name,
    check_dataset_use,
    dataset_names,
    detect_dataset,
    get_dataset,
    read_dataset,
    register_dataset,
    resolve_dataset,
)
from raycxr.data._duplicates import dedupe_rows, duplicate_groups, find_duplicates
from raycxr.data._hashing import content_hash, hash_files, hash_index
from raycxr.data._index import (
    IMAGE_SUFFIXES,
    DatasetIndex,
    data_root,
    index_csv,
    index_dataset,
    index_folder,
    relative_files,
)
from raycxr.data._io import is_dicom, read_gray, read_image
from raycxr.data._labels import UNCERTAIN_POLICIES, apply_uncertain
from raycxr.data._labelspace import COMMON_LABELS, LABEL_MAPS, shared_labels, to_common
from raycxr.data._leakage import (
    LeakageAudit,
    audit,
    fold_parts,
    leaked_test_rows,
    straddle_summary,
    straddling,
)
from raycxr.data._manifest import Manifest, make_manifest, read_manifest, verify_manifest
from raycxr.data._memmap import Chunk, ChunkRunner, decode_chunk, decode_to_store, open_store, run_in_threads
from raycxr.data._mlsplits import multilabel_folds, multilabel_split
from raycxr.data._phash import AUDIT_SIZE, file_phashes, perceptual_hashes
from raycxr.data._pixels import ModalityWarning
from raycxr.data._resize import DEFAULT_RESIZE, LEGACY_RESIZE, RESIZE_POLICIES, Interpolation, Resize
from raycxr.data._splits import (
    PredefinedFolds,
    Split,
    fold_files_in,
    predefined_splits,
    read_fold_files,
    stratified_folds,
    train_val_split,
)
from raycxr.data._task import select_task
from raycxr.data._testset import TestSpec, draw_test

# The dataset adapters register themselves on import (one module each).
from raycxr.data import _chexpert, _covidx, _folders, _mimic, _nih, _padchest, _rsna  # noqa: F401  isort: skip

__all__ = [
    "AUDIT_SIZE",
    "AUTO",
    "COMMON_LABELS",
    "DATASETS",
    "DEFAULT_RESIZE",
    "IMAGE_SUFFIXES",
    "LABEL_MAPS",
    "LEGACY_RESIZE",
    "RESIZE_POLICIES",
    "UNCERTAIN_POLICIES",
    "BadImagesError",
    "Chunk",
    "ChunkRunner",
    "DatasetAdapter",
    "DatasetIndex",
    "DecodedImages",
    "Interpolation",
    "LeakageAudit",
    "Manifest",
    "ModalityWarning",
    "PredefinedFolds",
    "Resize",
    "Split",
    "TestSpec",
    "apply_uncertain",
    "audit",
    "cache_key",
    "check_dataset_name",
    "check_dataset_use",
    "content_hash",
    "data_root",
    "dataset_names",
    "decode_chunk",
    "decode_dataset",
    "decode_to_store",
    "dedupe_rows",
    "default_cache_dir",
    "detect_dataset",
    "draw_test",
    "duplicate_groups",
    "file_phashes",
    "find_duplicates",
    "fold_files_in",
    "fold_parts",
    "get_dataset",
    "hash_files",
    "hash_index",
    "index_csv",
    "index_dataset",
    "index_folder",
    "is_dicom",
    "leaked_test_rows",
    "make_manifest",
    "multilabel_folds",
    "multilabel_split",
    "open_store",
    "perceptual_hashes",
    "predefined_splits",
    "read_dataset",
    "read_fold_files",
    "read_gray",
    "read_image",
    "read_manifest",
    "register_dataset",
    "relative_files",
    "resolve_dataset",
    "run_in_threads",
    "select_task",
    "shared_labels",
    "straddle_summary",
    "straddling",
    "stratified_folds",
    "to_common",
    "train_val_split",
    "verify_manifest",
]
