"""The training loop: ``train_one_epoch``, ``evaluate`` and ``fit`` (early stopping, restore).

``fit`` is a plain function of a config and arrays. Run as it is it trains on one
process; inside a Ray Train worker (or any initialised ``torch.distributed`` group) it
wraps the model in DistributedDataParallel and shards every epoch with a
``DistributedSampler``, so the same code serves the single-process CLI and each trial of
a search.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DistributedSampler, SequentialSampler

from raycxr.augment import BatchAugment
from raycxr.data import Split
from raycxr.evaluation import (
    BINARY_METRICS,
    TASK_METRICS,
    DecisionRule,
    classification_metrics,
    decide_rule,
    fit_feature_ood,
)
from raycxr.losses import (
    ClassStats,
    MultiLabelBCE,
    WeightedCrossEntropy,
    as_class_logits,
    build_loss,
    probabilities,
)
from raycxr.models import AUX_LOSS_WEIGHT
from raycxr.multilabel import label_counts
from raycxr.optim import EMA, build_optimizer, build_schedule, ema_weights, end_epoch, per_step
from raycxr.train._config import TrainConfig
from raycxr.train._feed import autocast, batches, frozen_activations, place, steps_per_epoch, use_bf16
from raycxr.train._model import model_for
from raycxr.train._state import FitResult, FitState

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _Feed:
    """What an epoch trains and validates: a model, its inputs and the train/val positions in them."""

    model: nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor
    train: np.ndarray
    val: np.ndarray


#: Training rows whose features fit the feature OOD score (a seeded sample when there are more).
MAX_FEATURE_ROWS = 2048

EpochCallback = Callable[[dict[str, float], FitState, bool], None]


def _world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(name: str) -> torch.device:
    """``auto`` → the local GPU when there is one (per Ray worker: its assigned GPU)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but no GPU is visible to this process.")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and dist.is_available() and dist.is_initialized():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(name)


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    rows: np.ndarray,
    batch_size: int,
    device: torch.device,
    epoch: int,
    seed: int = 0,
    bf16: bool = False,
    scheduler: LRScheduler | None = None,
    clip_norm: float = 0.0,
    ema: EMA | None = None,
    augment: BatchAugment | None = None,
) -> float:
    """One pass over ``rows`` (this process's shard of them), shuffled by (seed, epoch).

    ``images`` are what ``model`` takes: uint8 images, or cached activations for a
    :class:`~raycxr.models.FreezeNetTail`. ``bf16`` runs the forward pass under bf16 autocast
    (the loss is computed in float32). ``augment`` changes each gathered batch (its stream
    seeded by seed, epoch and rank); with mixup / cutmix the loss is ``λ·L(y) + (1 − λ)·L(y[perm])``.
    After each backward pass (torchvision's recipe): the gradients' global norm is clipped to
    ``clip_norm`` (0: not), the optimizer steps, then ``scheduler`` (a per-step one) and ``ema``.

    Returns:
        The mean training loss over this process's batches.
    """
    model.train()
    rank, world = _world()
    sampler = DistributedSampler(rows, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    total, count = 0.0, 0
    stream = augment.stream(seed, epoch, rank) if augment is not None else None
    for x, y in batches(images, labels, rows, batch_size, sampler, device):
        if len(y) < 2:  # BatchNorm cannot train on a single image
            continue
        x, mixed = stream(x) if stream is not None else (x, None)
        with autocast(device, bf16):
            out = model(x)
        if mixed is None:
            loss = training_loss(criterion, out, y)
        else:
            loss = mixed.loss(functools.partial(training_loss, criterion, out), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update()
        total += loss.item()
        count += 1
    return total / max(count, 1)


def training_loss(
    criterion: nn.Module, out: torch.Tensor | tuple[torch.Tensor, torch.Tensor], y: torch.Tensor
) -> torch.Tensor:
    """The loss of a batch; with auxiliary logits (Inception-V3) ``loss + 0.4 · aux loss`` (torchvision's recipe)."""
    if isinstance(out, tuple):
        logits, aux = out
        return criterion(logits.float(), y) + AUX_LOSS_WEIGHT * criterion(aux.float(), y)
    return criterion(out.float(), y)


@torch.no_grad()
def evaluate_logits(
    model: nn.Module,
    criterion: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    rows: np.ndarray,
    batch_size: int,
    device: torch.device,
) -> tuple[float, np.ndarray]:
    """Loss (mean over images) and class logits ``(len(rows), K)`` on ``rows`` (one logit z as ``[0, z]``).

    Always in float32, whatever the training precision: the scores that decide the rule
    (threshold, temperature, OOD calibration), the test scores, ``predict`` and ``export`` all
    run at one precision.
    """
    model.eval()
    losses, outputs = [], []
    for x, y in batches(images, labels, rows, batch_size, SequentialSampler(rows), device):
        logits = model(x).float()
        losses.append(criterion(logits, y).item() * len(y))
        outputs.append(as_class_logits(logits).cpu())
    return sum(losses) / max(len(rows), 1), torch.cat(outputs).numpy()


@torch.no_grad()
def evaluate_features(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    rows: np.ndarray,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Penultimate features ``(len(rows), D)`` on ``rows`` (``model.embed``: a FreezeNet or its tail), in float32."""
    model.eval()
    outputs = [
        model.embed(x).float().flatten(1).cpu()  # type: ignore[operator]
        for x, _ in batches(images, labels, rows, batch_size, SequentialSampler(rows), device)
    ]
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), dtype=np.float32)


def evaluate(
    model: nn.Module,
    criterion: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    rows: np.ndarray,
    batch_size: int,
    device: torch.device,
) -> tuple[float, np.ndarray]:
    """Loss (mean over images) and class probabilities ``(len(rows), K)`` on ``rows`` (see :func:`evaluate_logits`)."""
    loss, logits = evaluate_logits(model, criterion, images, labels, rows, batch_size, device)
    return loss, class_probabilities(logits)


def class_probabilities(logits: np.ndarray, multilabel: bool = False) -> np.ndarray:
    """Class probabilities of class logits ``(N, K)`` as :func:`evaluate_logits` gives them; multi-label:
    each label's sigmoid."""
    if multilabel:
        return torch.sigmoid(torch.from_numpy(logits)).numpy()
    return probabilities(torch.from_numpy(logits)).numpy()


def scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """The scalar metrics of a metrics dict, keys prefixed (``val_f1_macro``…)."""
    keys = ("loss", *TASK_METRICS, *BINARY_METRICS)
    return {f"{prefix}_{k}": float(metrics[k]) for k in keys if k in metrics}


@contextlib.contextmanager
def best_weights(model: nn.Module, best: dict[str, torch.Tensor], ema: EMA | None, now: bool) -> Iterator[None]:
    """``model`` with the best epoch's evaluated weights ``best`` inside, its own weights again after.

    ``now``: the best epoch is the current one, whose evaluated weights are the model's own, or
    its EMA's.
    """
    if now:
        with ema_weights(ema):
            yield
        return
    current = copy.deepcopy(model.state_dict())
    model.load_state_dict(best)
    try:
        yield
    finally:
        model.load_state_dict(current)


def fit(
    cfg: TrainConfig,
    images: np.ndarray,
    labels: np.ndarray,
    classes: tuple[str, ...],
    split: Split,
    stats: ClassStats | None = None,
    holdout: np.ndarray | None = None,
    on_epoch: EpochCallback | None = None,
    resume: dict[str, Any] | None = None,
    stoppable: bool = False,
) -> FitResult:
    """Train a Mobile Freeze-Net on ``split.train``, early-stopped on ``split.val``.

    The optimizer ``cfg.optimizer`` at ``cfg.lr`` under the schedule ``cfg.schedule`` (both
    built by the :mod:`raycxr.optim` registries; the paper's Adam at a constant rate by
    default); after every epoch the validation loss decides early stopping
    (``cfg.patience`` epochs without improvement) and the best epoch's weights are
    restored at the end, then evaluated on validation, test and holdout rows. With
    ``cfg.ema_decay`` the evaluated weights — validation, early stopping, the best weights, the
    decision rule — are the EMA of the trained weights; with ``cfg.label_smoothing`` the
    training loss is smoothed and the validation and test losses are not.

    Args:
        cfg: The run's settings.
        images: ``(N, S, S)`` uint8 images of the whole dataset.
        labels: ``(N,)`` labels.
        classes: Class names in label order.
        split: Rows of train, validation and test.
        stats: Class statistics of ``split.train``, needed by the attention loss.
        holdout: Rows of a held-out test set, evaluated at the end.
        on_epoch: Called after every epoch with the epoch's scalars, the run's state
            (``state.model`` has this epoch's weights) and whether this epoch is the best
            so far. ``state.state_dict()`` is a checkpoint ``resume`` accepts.
        resume: A ``FitState.state_dict()`` of this configuration to continue from.
        stoppable: The caller may stop the run after any epoch (a Tune scheduler such as ASHA), so
            every best epoch fits the feature OOD score; otherwise it is fitted once, at the last epoch.

    Every epoch's validation scores decide that epoch's decision rule (``cfg.decision``:
    threshold and temperature); the best epoch's rule is kept with its weights
    (``FitState.best_rule``) and applied to every set's metrics. The best epoch's rule also
    carries the feature OOD score (:func:`~raycxr.evaluation.fit_feature_ood`: fitted on the
    training images' penultimate features, calibrated on the validation images'), fitted before
    the last epoch's ``on_epoch``, so that the last checkpoint — what every consumer reads: a search
    trial's ``state.pt``, ``best.pt``, the CV's refits — has it. A ``stoppable`` run (ASHA may stop
    it after any epoch) fits it at every best epoch instead (about 0.3 s each at 64 px on a core).

    Raises:
        FloatingPointError: The training loss became NaN or infinite.
        ValueError: A two-class decision rule for another number of classes.
    """
    if cfg.decision in ("youden", "specificity") and len(classes) != 2:
        raise ValueError(f"decision {cfg.decision!r} needs two classes, the task has {len(classes)}.")
    start = time.perf_counter()
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)  # seeds every GPU's generator too
    if cfg.deterministic:
        # cuDNN's autotuner and its non-deterministic kernels are what vary between GPU runs;
        # CPU runs are deterministic already.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (CUDA ≥ 10.2)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    multilabel = labels.ndim == 2  # (N, L) label values, NaN unknown: one sigmoid output per label
    train_labels = labels[split.train]
    counts = label_counts(labels, split.train) if multilabel else np.bincount(train_labels, minlength=len(classes))
    proba_of = functools.partial(class_probabilities, multilabel=multilabel)
    settings = cfg.model_dump()
    criterion, loss_info = build_loss(cfg.loss, counts.tolist(), classes, stats, settings)
    criterion = criterion.to(device)
    train_criterion = criterion
    if cfg.label_smoothing:  # a regulariser of training: validation scores the loss itself (as timm does)
        criterion = build_loss(cfg.loss, counts.tolist(), classes, stats, settings | {"label_smoothing": 0.0})[0]
        criterion = criterion.to(device)
    model = model_for(cfg, len(classes)).to(device)
    if device.type == "cuda":
        model.to_channels_last()
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("Nothing to train: every parameter is frozen.")
    bf16 = use_bf16(cfg.precision, device)
    eval_batch = max(64, cfg.batch_size)
    source, targets = place(images, device), place(labels, device)
    feed = _Feed(model, source, targets, split.train, split.val)
    spec = cfg.augment_spec()
    augment = BatchAugment(spec) if spec.active else None
    if augment is not None and cfg.frozen_cache_gb > 0 and model.frozen_layers:
        logger.info("frozen-prefix cache off: augmentation changes the inputs every epoch, so every epoch runs "
                    "the full network.")  # fmt: skip
    blocks = model.frozen_blocks() if cfg.frozen_cache_gb > 0 and augment is None else 0
    if cfg.frozen_cache_gb > 0 and augment is None and model.frozen_layers and not blocks:
        logger.warning(
            "frozen-prefix cache not used: no whole leading block of %s is frozen (%s freezing of %d layers), "
            "so every epoch runs the full network.",
            model.backbone, cfg.freeze_mode, len(model.frozen_layers),
        )  # fmt: skip
    if blocks:  # train the tail on the frozen blocks' output, computed once per image
        rows = np.concatenate([split.train, split.val])
        cached = frozen_activations(model, blocks, source, rows, eval_batch, device, cfg.frozen_cache_gb * 2**30)
        if cached is not None:
            positions = np.arange(len(rows))
            index = torch.as_tensor(rows, device=targets.device)
            feed = _Feed(model.tail(blocks), cached, targets[index], positions[: len(split.train)],
                         positions[len(split.train) :])  # fmt: skip
    _, world = _world()
    net: nn.Module = feed.model
    if world > 1:
        net = DistributedDataParallel(
            feed.model,
            device_ids=[device.index] if device.type == "cuda" else None,
            # An auxiliary branch fed by a cached (frozen) block gets no gradient in the tail.
            find_unused_parameters=model.aux is not None and feed.model is not model,
        )
    optimizer = build_optimizer(cfg.optimizer, model, cfg.lr, settings)
    scheduler = build_schedule(cfg.schedule, optimizer, steps_per_epoch(len(feed.train), cfg.batch_size, world),
                               cfg.epochs, settings)  # fmt: skip
    ema = EMA(feed.model, cfg.ema_decay) if cfg.ema_decay else None  # the module trained: the tail on a cache

    scores: dict[str, np.ndarray] = {}

    def record(loss: float, proba: np.ndarray, rows: np.ndarray, name: str, rule: DecisionRule) -> dict[str, Any]:
        scores[name] = proba
        metrics = classification_metrics(labels[rows], proba, classes, rule)
        return {"loss": loss, **metrics, "n": len(rows)}

    def decide(logits: np.ndarray) -> DecisionRule:
        proba = proba_of(logits)
        return decide_rule(labels[split.val], proba, classes, cfg.decision, cfg.target_specificity, logits_val=logits)

    ood_seconds = 0.0
    # The feature score's means and covariance need a sample of the training rows, not all of them: at
    # most MAX_FEATURE_ROWS (seeded), so its cost per best epoch stays bounded on large datasets.
    picked = np.arange(len(feed.train))
    if len(picked) > MAX_FEATURE_ROWS:
        picked = np.sort(np.random.default_rng(cfg.seed).choice(len(picked), MAX_FEATURE_ROWS, replace=False))
    feature_rows = feed.train[picked]

    def with_features(rule: DecisionRule) -> DecisionRule:
        """The rule with the feature OOD score of the current weights (train features, val quantiles)."""
        nonlocal ood_seconds
        began = time.perf_counter()
        train = evaluate_features(feed.model, feed.inputs, feed.labels, feature_rows, eval_batch, device)
        val = evaluate_features(feed.model, feed.inputs, feed.labels, feed.val, eval_batch, device)
        # Multi-label: the training features' one mean (no classes); else each class's mean.
        groups = np.zeros(len(picked), dtype=np.int64) if multilabel else labels[split.train][picked]
        features = fit_feature_ood(train, groups, val) if len(train) and len(val) else None
        ood_seconds += time.perf_counter() - began
        return dataclasses.replace(rule, features=features)

    state = FitState(model, optimizer, scheduler, ema, best_state=copy.deepcopy(model.state_dict()))
    if resume is not None:
        state.load_state_dict(resume)
    # Model, loss, optimizer and frozen-prefix cache: reported with this process's first epoch.
    setup_s: float | None = time.perf_counter() - start
    while state.epoch < cfg.epochs and state.epoch - state.best_epoch < cfg.patience:
        epoch = state.epoch + 1
        epoch_start = time.perf_counter()
        train_loss = train_one_epoch(
            net, train_criterion, optimizer, feed.inputs, feed.labels, feed.train, cfg.batch_size, device, epoch,
            cfg.seed, bf16, per_step(scheduler), cfg.grad_clip_norm, ema, augment,
        )  # fmt: skip
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch} (lr={cfg.lr}).")
        with ema_weights(ema):  # what is evaluated and kept: the EMA weights when it is on
            loss, logits = evaluate_logits(
                feed.model, criterion, feed.inputs, feed.labels, feed.val, eval_batch, device
            )
            rule = decide(logits)  # this epoch's weights' rule (and OOD calibration), decided on their val scores
            val = record(loss, proba_of(logits), split.val, "val", rule)
            is_best = val["loss"] < state.best_loss
            if is_best:
                state.best_loss, state.best_epoch = val["loss"], epoch
                state.best_state = copy.deepcopy(model.state_dict())
                state.best_rule = (with_features(rule) if stoppable else rule).to_dict()
        end_epoch(scheduler, loss)  # plateau: stepped on the validation loss
        last = epoch >= cfg.epochs or epoch - state.best_epoch >= cfg.patience
        if last and not stoppable and state.best_rule is not None:
            # The last epoch: the best weights' feature OOD score, fitted once, goes with its checkpoint.
            with best_weights(model, state.best_state, ema, now=state.best_epoch == epoch):
                state.best_rule = with_features(DecisionRule.from_dict(state.best_rule)).to_dict()
        row = {"epoch": float(epoch), "train_loss": train_loss, **scalars(val, "val")}
        row["lr"] = optimizer.param_groups[0]["lr"]  # what the next step uses
        row["best_epoch"] = float(state.best_epoch)
        row["epoch_s"] = time.perf_counter() - epoch_start  # training + validation of this epoch
        if setup_s is not None:
            row["setup_s"], setup_s = setup_s, None
        state.epoch = epoch
        state.history.append(row)
        if on_epoch is not None:
            on_epoch(row, state, is_best)

    model.load_state_dict(state.best_state)
    evaluate_on = {"val": split.val, "test": split.test, "holdout": holdout if holdout is not None else []}
    scored = {  # each set once, with the restored weights
        name: (rows, *evaluate_logits(model, criterion, source, targets, rows, eval_batch, device))
        for name, rows in evaluate_on.items()
        if len(rows)
    }
    # The rule decided when the restored epoch was scored on validation (decided now only for a
    # checkpoint of an older raycxr, which did not keep it).
    final_rule = DecisionRule.from_dict(state.best_rule) if state.best_rule else decide(scored["val"][2])
    results = {
        name: record(loss, proba_of(logits), rows, name, final_rule)
        for name, (rows, loss, logits) in scored.items()
    }
    return FitResult(
        model=model,
        history=state.history,
        best_epoch=state.best_epoch,
        val=results["val"],
        test=results.get("test"),
        holdout=results.get("holdout"),
        loss_info=loss_info,
        parameters=model.parameter_counts(),
        seconds=time.perf_counter() - start,
        probabilities=scores,
        logits={name: logits for name, (_, _, logits) in scored.items()},
        cached_blocks=blocks if feed.model is not model else 0,
        rule=final_rule,
        ood_seconds=ood_seconds,
    )


def evaluate_state(
    cfg: TrainConfig,
    state: dict[str, torch.Tensor],
    images: np.ndarray,
    labels: np.ndarray,
    classes: tuple[str, ...],
    rows: np.ndarray,
    rule: DecisionRule | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics and class probabilities on ``rows`` of the model ``cfg`` builds with the weights ``state``.

    Args:
        cfg: The run's settings (architecture, normalisation, device, precision).
        state: A model ``state_dict`` (e.g. a checkpoint's ``best_model``).
        images, labels, classes: The dataset, as ``fit`` takes it.
        rows: The rows to score.
        rule: The model's decision rule (default: arg max).
    """
    device = resolve_device(cfg.device)
    model = model_for(cfg, len(classes), weights="none")
    model.load_state_dict(state)
    model.to(device)
    multilabel = labels.ndim == 2  # the loss reported: plain (masked) BCE, or cross-entropy
    criterion = MultiLabelBCE() if multilabel else WeightedCrossEntropy()
    loss, logits = evaluate_logits(
        model, criterion, place(images, device), place(labels, device), rows, max(64, cfg.batch_size), device
    )
    proba = class_probabilities(logits, multilabel)
    metrics = classification_metrics(labels[rows], proba, classes, rule)
    return {"loss": loss, **metrics, "n": len(rows)}, proba
