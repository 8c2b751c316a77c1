"""Images/s of ``raycxr.predict`` from PNG files against a plain PyTorch loop, and ONNX Runtime vs TorchScript latency.

    python benchmarks/predict_throughput.py [--n 128] [--native 299] [--size 224] [--batch-size 32]
        [--repeats 3] [--runs 50] [--backbone mobilenet_v2]

1. ``--n`` synthetic phantoms are written as ``--native``-px 8-bit PNGs (the Kaggle images are
   299 px). A Mobile Freeze-Net (random weights: the speed does not depend on them) is saved as
   ``python -m raycxr.train`` saves one and loaded with :func:`raycxr.predict.load_model`.
2. Whole pipeline on the same files, same model, same batch size, CPU: raycxr's
   :func:`~raycxr.predict.predict_files` (read + decode through ``read_image`` + batch + model
   + softmax) against the textbook loop (PIL open → ``convert("L")`` → resize → tensor → model →
   softmax). Interleaved, ``--repeats`` times each, best time kept; the table gives the ratio
   raycxr / plain (goal ≥ 0.9) and checks both gave the same probabilities.
3. The model exported (``raycxr.export``) and run at batch 1 on CPU: median latency of
   ``--runs`` single-image calls of ONNX Runtime, TorchScript and eager PyTorch, each runtime
   in a block of its own, two blocks each (the second cycle in reverse order), better kept.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from raycxr.data import read_image
from raycxr.data.synthetic import generate
from raycxr.export import export_model
from raycxr.predict import OnnxModule, find_images, load_model, predict_files
from raycxr.train import TrainConfig, model_for

_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}


@torch.inference_mode()
def plain_predict(model: torch.nn.Module, files: list[Path], size: int, interpolation: str, batch: int) -> np.ndarray:
    """The textbook loop: PIL read, grayscale, resize, stack, model, softmax."""
    out = []
    for start in range(0, len(files), batch):
        images = [
            np.asarray(Image.open(f).convert("L").resize((size, size), _RESAMPLE[interpolation]))
            for f in files[start : start + batch]
        ]
        out.append(torch.softmax(model(torch.from_numpy(np.stack(images))), dim=1).numpy())
    return np.concatenate(out)


def median_ms(fn, runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=128, help="PNG files")
    parser.add_argument("--native", type=int, default=299, help="side of the PNG files")
    parser.add_argument("--size", type=int, default=224, help="model input size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=50, help="batch-1 calls timed per runtime")
    parser.add_argument("--backbone", default="mobilenet_v2")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = find_images([generate(root / "cxr", n=args.n, size=args.native, seed=0, workers=2)])
        cfg = TrainConfig(backbone=args.backbone, weights="none", image_size=args.size, head="gmp")
        classes = ["COVID", "Lung_Opacity", "Normal", "Viral Pneumonia"]
        (root / "run").mkdir()
        state = model_for(cfg, len(classes)).state_dict()
        checkpoint = {"model": state, "classes": classes, "epoch": 0, "config": cfg.model_dump(mode="json")}
        torch.save(checkpoint, root / "run" / "best.pt")
        loaded = load_model(root / "run")
        print(
            f"{len(files)} PNG files of {args.native} px → {args.size} px ({cfg.interpolation}), {args.backbone}, "
            f"batch {args.batch_size}, CPU, torch threads {torch.get_num_threads()}, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            flush=True,
        )

        timings: dict[str, list[float]] = {"plain": [], "raycxr": []}
        results = {}
        for _ in range(args.repeats):  # interleaved, so that a change in machine load hits both
            for name in ("plain", "raycxr"):
                start = time.perf_counter()
                if name == "plain":
                    results[name] = plain_predict(loaded.model, files, args.size, cfg.interpolation, args.batch_size)
                else:
                    results[name] = predict_files(loaded, files, args.batch_size, progress=False).probabilities
                timings[name].append(time.perf_counter() - start)
        agree = float(np.abs(results["plain"] - results["raycxr"]).max())
        plain_rate, raycxr_rate = len(files) / min(timings["plain"]), len(files) / min(timings["raycxr"])
        print("\n| pipeline (read + decode + batch + model) | images/s | best of |")
        print("|---|---:|---:|")
        print(f"| plain PyTorch loop (PIL) | {plain_rate:.1f} | {args.repeats} |")
        print(f"| raycxr.predict (predict_files) | {raycxr_rate:.1f} | {args.repeats} |")
        print(f"| **ratio raycxr / plain** (goal ≥ 0.9) | **{raycxr_rate / plain_rate:.2f}** | |")
        print(f"\nmax |Δ probability| raycxr vs plain: {agree:.2g}")

        result = export_model(loaded, root / "bundle")
        image = torch.from_numpy(read_image(files[0], args.size, cfg.interpolation)[None].copy())
        onnx = OnnxModule(root / "bundle" / "model.onnx", torch.device("cpu"))
        rows = {"ONNX Runtime (CPUExecutionProvider)": lambda: onnx(image)}
        if result.torchscript:
            scripted = torch.jit.load(str(root / "bundle" / "model.ts")).eval()
            rows["TorchScript (torch.jit.load)"] = lambda: scripted(image)
        rows["eager PyTorch (reference)"] = lambda: loaded.model(image)
        medians: dict[str, list[float]] = {name: [] for name in rows}
        with torch.inference_mode():
            for cycle in range(2):  # each runtime in its own block, the order reversed in the second cycle
                for name in list(rows)[:: 1 if cycle == 0 else -1]:
                    medians[name].append(median_ms(rows[name], args.runs))
        print(f"\n| runtime, batch 1, CPU | median ms ({args.runs} runs, better of 2 blocks) |")
        print("|---|---:|")
        for name, values in medians.items():
            print(f"| {name} | {min(values):.2f} |")
        if "TorchScript (torch.jit.load)" in medians:
            ratio = min(medians["TorchScript (torch.jit.load)"]) / min(medians["ONNX Runtime (CPUExecutionProvider)"])
            print(f"\nTorchScript / ONNX Runtime latency: {ratio:.2f}")


if __name__ == "__main__":
    main()
