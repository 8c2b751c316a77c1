"""Leakage audit: false positives among distinct images at scale, recall of planted copies per training size.

1. **False positives.** Every image of a set of distinct synthetic radiographs (default:
   21,165 phantoms of 299 px, the Kaggle set's size and class counts, generated once and
   timed) is hashed as the audit does (:func:`raycxr.data.file_phashes`: decoded at 256 px,
   48 × 48 pHash), and every pair within each threshold is counted: all are false positives.
   The old audit (16 × 16 pHash of the images decoded at the training size, nearest) is
   shown beside it at 64 px.
2. **Recall.** ``--sources`` images get planted copies (1-px shift right, 1-px shift down,
   JPEG quality 75, +8 grey levels) in a Kaggle-layout folder, and the experiment's own
   partition audit (:func:`raycxr.run.create_partition`, which writes ``leakage.csv``) runs
   with ``image_size`` 64, 128 and 224; recall is the share of (source, copy) pairs in
   ``leakage.csv``, against the old audit at the same sizes.

    python benchmarks/leakage_audit.py                              # 21,165 images in /tmp/leakage-bench
    python benchmarks/leakage_audit.py --n 2000 --data /tmp/lb2k    # a quick look
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from raycxr.data import (
    TestSpec,
    decode_dataset,
    file_phashes,
    find_duplicates,
    hash_index,
    index_folder,
    perceptual_hashes,
)
from raycxr.data.synthetic import generate
from raycxr.run import LEAKAGE_FILE, create_partition
from raycxr.train import TrainConfig

KINDS = ("shift-x", "shift-y", "jpeg", "brighter")
TRAIN_SIZES = (64, 128, 224)
OLD_HASH_SIZE, OLD_THRESHOLD = 16, 16  # the audit before: 256 bits, ≤ 16 bits, at the training size


def _copy(pixels: np.ndarray, kind: str) -> Image.Image:
    if kind == "shift-x":
        return Image.fromarray(np.concatenate([pixels[:, :1], pixels[:, :-1]], axis=1))
    if kind == "shift-y":
        return Image.fromarray(np.concatenate([pixels[:1], pixels[:-1]]))
    if kind == "brighter":
        return Image.fromarray(np.clip(pixels.astype(np.int16) + 8, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=75)
    return Image.open(buffer)


def _bits(words: np.ndarray) -> int:
    return int(np.unpackbits(words.view(np.uint8)).sum())


def _dataset(data: Path, n: int, size: int) -> None:
    if (data / ".complete").is_file():
        print(f"data: {data} (already generated)")
        return
    start = time.perf_counter()
    generate(data, n=n, size=size, seed=0)
    (data / ".complete").write_text("")
    print(f"data: generated {n} phantoms of {size} px into {data} in {time.perf_counter() - start:.0f} s")


def false_positives(data: Path, cache: Path, thresholds: list[int]) -> None:
    index = index_folder(data)
    n = len(index)
    n_pairs = n * (n - 1) // 2
    sha = hash_index(index)
    start = time.perf_counter()
    hashes = file_phashes(index.paths, sha, cache)
    first = time.perf_counter() - start
    start = time.perf_counter()
    file_phashes(index.paths, sha, cache)
    again = time.perf_counter() - start
    start = time.perf_counter()
    pairs = find_duplicates(sha, hashes, max_distance=max(thresholds))
    search = time.perf_counter() - start
    print(
        f"\n1. False positives among {n} distinct images ({n_pairs:,} pairs): audit hashes {first:.0f} s "
        f"(second run, cached: {again:.1f} s), pair search {search:.0f} s; closest distinct pair "
        f"{int(pairs['distance'].min()) if len(pairs) else '>' + str(max(thresholds))} of {hashes.shape[1] * 64} bits"
    )
    labels = index.labels
    rows = []
    for t in thresholds:
        near = pairs[pairs["distance"] <= t]
        cross = int((labels[near["row_a"]] != labels[near["row_b"]]).sum())
        involved = len(set(near["row_a"]) | set(near["row_b"]))
        default = " (default)" if t == hashes.shape[1] * 64 // 8 else ""
        rows.append(
            {
                "audit": f"48² pHash @256 px, ≤ {t} bits{default}",
                "false pairs": len(near),
                "per pair": f"{len(near) / n_pairs:.1e}",
                "across classes": cross,
                "images in a pair": f"{involved} ({involved / n:.2%})",
            }
        )
    start = time.perf_counter()
    old = decode_dataset(index, 64, "nearest", cache)
    old_pairs = find_duplicates(sha, perceptual_hashes(old.images, OLD_HASH_SIZE), OLD_THRESHOLD)
    old_s = time.perf_counter() - start
    involved = len(set(old_pairs["row_a"]) | set(old_pairs["row_b"]))
    rows.append(
        {
            "audit": f"before: 16² pHash @64 px nearest, ≤ {OLD_THRESHOLD} bits ({old_s:.0f} s)",
            "false pairs": len(old_pairs),
            "per pair": f"{len(old_pairs) / n_pairs:.1e}",
            "across classes": int((labels[old_pairs["row_a"]] != labels[old_pairs["row_b"]]).sum()),
            "images in a pair": f"{involved} ({involved / n:.2%})",
        }
    )
    print(pd.DataFrame(rows).to_string(index=False))


def recall(data: Path, cache: Path, sources: int, work: Path) -> None:
    index = index_folder(data)
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(index), size=sources, replace=False).tolist())
    root = work / "planted"
    planted: dict[str, tuple[str, str]] = {}  # copy -> (source, kind)
    for row in chosen:
        src = index.paths[row]
        rel = src.relative_to(data)
        (root / rel.parent).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / rel)
        with Image.open(src) as image:
            pixels = np.asarray(image.convert("L"))
        for kind in KINDS:
            name = rel.with_name(f"{rel.stem}-{kind}.{'jpg' if kind == 'jpeg' else 'png'}").as_posix()
            _copy(pixels, kind).save(root / name)
            planted[name] = (rel.as_posix(), kind)
    planted_index = index_folder(root)
    files = [p.relative_to(root).as_posix() for p in planted_index.paths]
    sha = hash_index(planted_index)
    rows = []
    for size in TRAIN_SIZES:
        out = work / f"exp-{size}"
        out.mkdir()
        cfg = TrainConfig(data=root, image_size=size, folds=3, cache_dir=cache)
        create_partition(cfg, TestSpec(fraction=0.2, seed=0), out)
        found = {frozenset(p) for p in pd.read_csv(out / LEAKAGE_FILE)[["file_a", "file_b"]].itertuples(index=False)}
        old_images = decode_dataset(planted_index, size, "nearest", cache).images
        old = find_duplicates(sha, perceptual_hashes(old_images, OLD_HASH_SIZE), OLD_THRESHOLD)
        old_found = {frozenset((files[a], files[b])) for a, b in zip(old["row_a"], old["row_b"])}
        expected = {frozenset((c, s)) for c, (s, _) in planted.items()}
        for kind in KINDS:
            want = {frozenset((c, s)) for c, (s, k) in planted.items() if k == kind}
            rows.append(
                {
                    "image_size": size,
                    "copy": kind,
                    "audit now": f"{len(want & found)}/{len(want)}",
                    "before (at image_size)": f"{len(want & old_found)}/{len(want)}",
                }
            )
        same_source = {frozenset((a, b)) for a in planted for b in planted if a < b and planted[a][0] == planted[b][0]}
        extra = found - expected - same_source
        rows.append(
            {
                "image_size": size,
                "copy": "other pairs",
                "audit now": f"{len(extra)}",
                "before (at image_size)": f"{len(old_found - expected - same_source)}",
            }
        )
    print(
        f"\n2. Recall on {sources} sources × {len(KINDS)} planted copies ({len(planted_index)} images), "
        "from the partition's own leakage.csv"
    )
    print(pd.DataFrame(rows).to_string(index=False))
    hashes = file_phashes(planted_index.paths, sha, cache)
    row = {f: i for i, f in enumerate(files)}
    spread = []
    for kind in KINDS:
        d = [_bits(hashes[row[c]] ^ hashes[row[s]]) for c, (s, k) in planted.items() if k == kind]
        spread.append({"copy": kind, **{f"p{q}": int(np.percentile(d, q)) for q in (50, 90, 99)}, "max": max(d)})
    print("\nDistance of each copy to its source (bits of 2304, audit hash):")
    print(pd.DataFrame(spread).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/leakage-bench/cxr21k"))
    parser.add_argument("--n", type=int, default=21165, help="images to generate if --data is empty (default 21165)")
    parser.add_argument("--size", type=int, default=299, help="their side in pixels (default 299)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/leakage-bench/cache"), help="hash/decode cache")
    parser.add_argument("--sources", type=int, default=100, help="images that get planted copies (default 100)")
    parser.add_argument("--thresholds", type=int, nargs="+", default=[160, 224, 256, 288, 320, 352])
    args = parser.parse_args()
    _dataset(args.data, args.n, args.size)
    false_positives(args.data, args.cache, sorted(args.thresholds))
    with tempfile.TemporaryDirectory() as work:
        recall(args.data, args.cache, args.sources, Path(work))


if __name__ == "__main__":
    main()
