"""Checkpoints and weights are only ever unpickled with ``weights_only=True`` (no code execution)."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _torch_load_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
    ]  # fmt: skip


def _weights_only(call: ast.Call) -> bool:
    return any(
        k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords
    )


def test_every_torch_load_is_weights_only() -> None:
    files = [*ROOT.glob("raycxr/**/*.py"), *ROOT.glob("benchmarks/*.py")]
    calls = [(path, call) for path in files for call in _torch_load_calls(path)]
    assert len(calls) >= 2  # weights, and the run layer's checkpoint files: the scan sees them
    unsafe = [f"{path.relative_to(ROOT)}:{call.lineno}" for path, call in calls if not _weights_only(call)]
    assert not unsafe, f"torch.load without weights_only=True at {unsafe}"


def test_weights_only_refuses_a_pickled_object(tmp_path: Path) -> None:
    """What the flag buys: a checkpoint carrying arbitrary objects does not load."""
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": Path("/etc/passwd")}, path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(path, weights_only=True)
