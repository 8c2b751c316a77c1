"""The settings of one training run, validated at the edge (CLI, YAML file, or a search)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from raycxr.augment import AUGMENT_FIELDS, AugmentSpec, Preset, check_augment_field, check_magnitude
from raycxr.data import AUTO, DEFAULT_RESIZE, Resize, TestSpec, check_dataset_name, dataset_names
from raycxr.losses import (
    LOSSES,
    check_label_smoothing,
    check_loss_field,
    check_loss_params,
    loss_fields,
    loss_params,
    loss_spec,
)
from raycxr.models import MIN_IMAGE_SIZE, backbone_names, check_image_size, get_backbone, get_head, head_names
from raycxr.optim import (
    OPTIMIZERS,
    SCHEDULES,
    check_optimizer,
    check_optimizer_field,
    check_schedule,
    check_schedule_field,
    optimizer_fields,
    optimizer_params,
    schedule_fields,
    schedule_params,
)


def _aug(name: str) -> Any:
    """An augmentation field: ``None`` takes the preset's value; its range is in ``raycxr.augment.AUGMENT_FIELDS``."""
    low, high, meaning = AUGMENT_FIELDS[name]
    return Field(None, description=f"{meaning}; in [{low:g}, {high:g}], 0 off, unset (None): the preset's")


class TrainConfig(BaseModel):
    """Every setting of one training run. Defaults follow the paper where it has one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Data
    data: Path | None = Field(
        None, description="dataset folder (Kaggle or <Class>/ layout) or CSV (path,label[,group])"
    )
    dataset: str = Field(
        AUTO,
        description=f"how --data is read: {', '.join(dataset_names())} (NAME:VARIANT, e.g. rsna-pneumonia:detailed); "
        "'auto' detects it (folder or csv when no dataset recognises the layout)",
    )
    out: Path | None = Field(None, description="output directory for metrics.json and best.pt")
    image_size: int = Field(
        224, ge=MIN_IMAGE_SIZE, description="images are resized to this square size (at least the backbone's minimum)"
    )
    interpolation: Literal["nearest", "bilinear"] = Field("nearest", description="resize filter (the paper: nearest)")
    resize: Resize = Field(
        DEFAULT_RESIZE,
        description="how a non-square image becomes the square input: 'pad' (centred on black, nothing cut or "
        "distorted), 'crop' (centre square, as TorchXRayVision), 'stretch' (aspect ratio lost); square images "
        "are the same under all three",
    )
    normalize: Literal["unit", "imagenet"] = Field(
        "unit", description="'unit' scales to [0,1] (paper); 'imagenet' also standardises"
    )
    cache_dir: Path | None = Field(None, description="decoded-image cache (default $RAYCXR_CACHE or ~/.cache/raycxr)")
    memory_budget_gb: float | None = Field(
        None,
        gt=0,
        description="decoded images larger than this many GiB are decoded into a memory-mapped store in the cache "
        "directory instead of memory (default: half of Ray's object store, before Ray starts 15% of RAM)",
    )
    skip_bad: bool = Field(False, description="skip unreadable images (recorded in metrics.json) instead of stopping")
    # Task
    classes: list[str] | None = Field(
        None,
        description="the classes to learn, in label order (e.g. Normal,COVID); images of other classes are left out "
        "(default: all)",
    )
    class_map: dict[str, str] | None = Field(
        None, description="merge classes: 'Lung_Opacity=Other,Viral Pneumonia=Other' (applied before --classes)"
    )
    binary: bool = Field(
        False,
        description="two-class task with one sigmoid output: P(second class), thresholded where validation's "
        "Youden J is highest",
    )
    uncertain: Literal["ignore", "zeros", "ones"] = Field(
        "ignore",
        description="multi-label datasets: an uncertain label (CheXpert's -1) is 'ignore'd (masked from the loss "
        "and the metrics, as a label not mentioned always is), or read as negative ('zeros') or positive ('ones')",
    )
    decision: Literal["auto", "argmax", "youden", "specificity"] = Field(
        "auto",
        description="how probabilities become a predicted class, decided on validation and kept with the weights: "
        "'auto' (youden for two classes, else argmax), 'argmax', 'youden' (two classes: the threshold on "
        "P(second class) maximising Youden's J), 'specificity' (two classes: the threshold reaching "
        "target_specificity)",
    )
    target_specificity: float = Field(
        0.9, gt=0, lt=1, description="decision 'specificity': the validation specificity to reach"
    )
    # Splits
    split: Literal["stratified", "group", "predefined"] = Field(
        "stratified",
        description="'stratified' (paper: fold k tests, 10% of the rest validates), "
        "'group' (by source), 'predefined' (--folds-dir)",
    )
    folds: int = Field(10, ge=2, description="number of folds")
    fold: int = Field(0, ge=0, description="which fold is the test set (0-based)")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="fraction of the non-test images used for validation")
    holdout_fraction: float = Field(
        0.0,
        description="fraction held out from all folds as a final test set: round(fraction x count) images of each "
        "class, 0 or in (0, 0.5] (drawn as an experiment's --test-fraction)",
    )
    holdout_official: bool = Field(
        False,
        description="hold out the dataset's own test split (COVIDx test.txt, NIH test_list.txt, …) from all folds "
        "as the final test set (as a search's --test-split official)",
    )
    folds_dir: Path | None = Field(
        None, description="folder of fold*.csv files ('FILE NAME' column) for split=predefined"
    )
    # Model
    weights: str = Field(
        "imagenet", description="'imagenet' (torchvision cache or offline package), 'none' (random), or a .pth path"
    )
    backbone: str = Field(
        "mobilenet_v2", description=f"backbone: {', '.join(backbone_names())}, or timm:<name> for any timm model"
    )
    head: str = Field("gmp", description=f"classifier head: {', '.join(head_names())}")
    head_widths: list[int] = Field([256], description="head 'dense': widths of its dense layers, e.g. 512,256")
    head_dropout: float = Field(0.0, ge=0, lt=1, description="head 'dense': dropout before each dense layer")
    head_pool: Literal["flatten", "avg", "max"] = Field(
        "flatten", description="head 'dense': flatten the feature map (the course report's VGG16) or pool it"
    )
    freeze_ratio: float = Field(
        0.5, ge=0, le=1, description="fraction of the backbone's leaf layers to freeze (MobileNetV2: 139)"
    )
    freeze_mode: Literal["prefix", "stochastic"] = Field(
        "prefix", description="freeze the first layers, or random ones"
    )
    # Loss: the ranges of its parameters are the loss registry's (raycxr.losses), checked by
    # _loss_field_in_range for the configured loss; ``loss`` must come before them.
    loss: str = Field("attention", description=f"loss function: {', '.join(LOSSES)}")
    beta: float = Field(0.05, description="attention loss: weight of class_im")
    gamma: float = Field(0.1, description="attention loss: weight of sigma_intra")
    q: float = Field(0.25, description="attention loss: exponent q")
    n: float = Field(0.001, description="attention loss: scale n")
    stats_samples: int = Field(1000, ge=1, description="attention loss: random pairs per class statistic")
    stats_size: int = Field(32, ge=4, description="attention loss: images are downsampled to this size for statistics")
    focal_alpha: float = Field(0.25, description="focal loss: alpha")
    focal_gamma: float = Field(2.0, description="focal loss: gamma")
    cb_beta: float = Field(0.999, description="class-balanced loss: beta")
    pos_weight: bool = Field(
        False, description="bce (multi-label): weigh each label's positives by its negatives/positives"
    )
    gamma_pos: float = Field(0.0, description="asl (multi-label): focusing exponent of the positive terms")
    gamma_neg: float = Field(4.0, description="asl (multi-label): focusing exponent of the negative terms")
    asl_clip: float = Field(0.05, description="asl (multi-label): probability margin m of the negatives")
    alpha: list[float] | Literal["paper"] | None = Field(
        None, description="loss=alpha: class weights, or 'paper' for the paper's"
    )
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="label smoothing ε of the training loss, in [0, 1) (cross-entropy losses; validation and test "
        "losses are not smoothed)",
    )
    # Optimisation
    lr: float = Field(1e-4, gt=0, description="learning rate (a schedule's peak)")
    batch_size: int = Field(8, ge=2, description="batch size per worker")
    epochs: int = Field(30, ge=1, description="maximum number of epochs")
    patience: int = Field(5, ge=1, description="early stopping: epochs without a lower validation loss")
    # Optimizer and schedule: the ranges of their parameters are the registries' (raycxr.optim),
    # checked by _optim_field_in_range for the configured one; ``optimizer`` / ``schedule`` come first.
    optimizer: str = Field("adam", description=f"optimizer: {', '.join(OPTIMIZERS)} (the paper: adam)")
    weight_decay: float = Field(0.0, description="weight decay (adam: L2 in the gradient; adamw: decoupled)")
    decay_norm_bias: bool = Field(
        False, description="also decay norm-layer and bias parameters (default: their weight decay is 0)"
    )
    momentum: float = Field(0.9, description="sgd: momentum, in [0, 1)")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum (needs momentum > 0)")
    schedule: str = Field(
        "constant",
        description=f"learning-rate schedule: {', '.join(SCHEDULES)} (the paper: constant); stepped after every "
        "optimizer step, plateau after every epoch",
    )
    warmup_epochs: float = Field(0.0, description="cosine: epochs of linear warm-up from 1% of lr (below epochs)")
    min_lr_ratio: float = Field(0.0, description="cosine: the final lr as a fraction of lr, in [0, 1]")
    onecycle_pct_start: float = Field(0.3, description="onecycle: fraction of the steps spent rising, in (0, 1)")
    step_epochs: int = Field(10, description="step: epochs between two decays of the lr")
    step_gamma: float = Field(0.1, description="step: factor of each decay, in (0, 1]")
    plateau_factor: float = Field(0.1, description="plateau: factor of each decay, in (0, 1)")
    plateau_patience: int = Field(
        2, description="plateau: epochs without a lower validation loss before a decay (at most patience − 2)"
    )
    grad_clip_norm: float = Field(
        0.0, ge=0, description="clip the gradients' global L2 norm to this before each step (0: off)"
    )
    ema_decay: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="EMA of the weights, updated every step (e.g. 0.999; 0: off): validation, early stopping and "
        "the kept weights use the average",
    )
    seed: int = Field(0, description="seed of splits, statistics, initialisation and shuffling")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' uses a GPU when there is one")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="'bf16' autocast (mixed precision); 'auto': bf16 on GPUs that support it, else fp32"
    )
    deterministic: bool = Field(
        False,
        description="deterministic GPU kernels (cuDNN deterministic, no autotuner): the same seed gives the same "
        "metrics on GPU too, somewhat slower; CPU runs are deterministic without it",
    )
    frozen_cache_gb: float = Field(
        2.0,
        ge=0,
        description="compute the frozen blocks once per image and train on their cached output when it fits "
        "in this many GiB per worker (exact only without augmentation, so off when augment is on); 0 turns it off",
    )
    # Augmentation of training batches (raycxr.augment): a preset, scaled by one magnitude, with any
    # single operation overriding the preset's value for it.
    augment: Preset = Field(
        "none",
        description="training-batch augmentation preset: none (as without), light, medium, heavy; the aug_* "
        "fields override its values; turns the frozen-prefix cache off",
    )
    augment_magnitude: float = Field(
        1.0, description="in [0, 1]: scales the strength of every augmentation (not aug_hflip); 0 turns them off"
    )
    aug_rotate: float | None = _aug("aug_rotate")
    aug_translate: float | None = _aug("aug_translate")
    aug_scale: float | None = _aug("aug_scale")
    aug_shear: float | None = _aug("aug_shear")
    aug_crop: float | None = _aug("aug_crop")
    aug_brightness: float | None = _aug("aug_brightness")
    aug_contrast: float | None = _aug("aug_contrast")
    aug_gamma: float | None = _aug("aug_gamma")
    aug_noise: float | None = _aug("aug_noise")
    aug_blur: float | None = _aug("aug_blur")
    aug_clahe: float | None = _aug("aug_clahe")
    aug_hflip: float | None = _aug("aug_hflip")
    mixup: float | None = _aug("mixup")
    cutmix: float | None = _aug("cutmix")

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        get_backbone(value)  # ValueError listing the choices
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """``A,B`` (as ``--set classes=A,B`` gives it) is the list ``[A, B]``."""
        return [name.strip() for name in value.split(",")] if isinstance(value, str) else value

    @field_validator("class_map", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        """``A=X,B=X`` (as ``--set class_map=A=X,B=X`` gives it) is the mapping ``{A: X, B: X}``."""
        if not isinstance(value, str):
            return value
        pairs = [item.partition("=") for item in value.split(",")]
        if any(not sep or not a.strip() or not b.strip() for a, sep, b in pairs):
            raise ValueError(f"class_map: expected CLASS=NEW[,CLASS=NEW…], got {value!r}")
        return {a.strip(): b.strip() for a, _, b in pairs}

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        return check_dataset_name(value)  # ValueError listing the choices

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        loss_spec(value)  # ValueError listing the choices
        return value

    @field_validator(*loss_fields())
    @classmethod
    def _loss_field_in_range(cls, value: object, info: ValidationInfo) -> object:
        """A loss parameter's range is the loss registry's (``loss`` is declared before them).

        An unset optional parameter (``alpha: None``, as a stored configuration has it) is left alone.
        """
        if value is None and cls.model_fields[info.field_name].default is None:
            return value
        check_loss_field(info.field_name, value, info.data.get("loss"))
        return value

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, value: str) -> str:
        check_optimizer(value)  # ValueError listing the choices
        return value

    @field_validator("schedule")
    @classmethod
    def _known_schedule(cls, value: str) -> str:
        check_schedule(value)
        return value

    @field_validator(*optimizer_fields(), *schedule_fields())
    @classmethod
    def _optim_field_in_range(cls, value: object, info: ValidationInfo) -> object:
        """An optimizer's or schedule's parameter range is its registry's (declared before its fields)."""
        field = info.field_name
        if field in optimizer_fields():
            check_optimizer_field(field, value, info.data.get("optimizer"))
        if field in schedule_fields():
            check_schedule_field(field, value, info.data.get("schedule"))
        return value

    @field_validator(*AUGMENT_FIELDS)
    @classmethod
    def _augment_field_in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        check_augment_field(info.field_name, value)
        return value

    @field_validator("augment_magnitude")
    @classmethod
    def _magnitude_in_range(cls, value: float) -> float:
        check_magnitude(value)
        return value

    def augment_spec(self) -> AugmentSpec:
        """The resolved augmentation: the preset, the fields set overriding it, scaled by the magnitude."""
        return AugmentSpec.resolve(self.augment, self.augment_magnitude, self.model_dump(include=set(AUGMENT_FIELDS)))

    @field_validator("head")
    @classmethod
    def _known_head(cls, value: str) -> str:
        get_head(value)
        return value

    @field_validator("holdout_fraction")
    @classmethod
    def _holdout_fraction(cls, value: float) -> float:
        TestSpec(fraction=value)  # the one rule of a test fraction
        return value

    @field_validator("weights")
    @classmethod
    def _weights_exist(cls, value: str) -> str:
        if value not in ("imagenet", "none") and not Path(value).expanduser().is_file():
            raise ValueError(f"weights file {value} does not exist (or use 'imagenet' / 'none')")
        return value

    def check(self) -> TrainConfig:
        """Cross-field checks that need more than one field; returns ``self``."""
        if self.fold >= self.folds:
            raise ValueError(f"fold must be below folds ({self.folds}), got {self.fold}.")
        if self.split == "predefined" and self.folds_dir is None:
            raise ValueError("split 'predefined' needs folds_dir (a folder of fold*.csv files).")
        if self.holdout_official and self.holdout_fraction > 0:
            raise ValueError("give holdout_official or holdout_fraction, not both.")
        if self.holdout_official and self.split == "predefined":
            raise ValueError("holdout_official: the predefined folds (folds_dir) decide every image's role already.")
        check_image_size(self.image_size, self.backbone)
        settings = self.model_dump()
        check_loss_params(self.loss, loss_params(self.loss, settings))
        check_label_smoothing(self.loss, self.label_smoothing)
        optimizer_params(self.optimizer, settings)  # rules between parameters: nesterov needs momentum
        schedule_params(self.schedule, settings)  # a warm-up shorter than the run, a plateau patience it waits for
        if loss_spec(self.loss).binary_only and self.classes is not None and len(self.classes) != 2:
            raise ValueError(f"loss {self.loss!r} needs two classes, got classes {self.classes}.")
        if self.decision in ("youden", "specificity") and self.classes is not None and len(self.classes) != 2:
            raise ValueError(f"decision {self.decision!r} needs two classes, got classes {self.classes}.")
        if self.binary and self.classes is not None and len(self.classes) != 2:
            raise ValueError(f"binary needs exactly two classes, got classes {self.classes}.")
        return self


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per bad field: ``source: field: message (got value)``."""
    lines = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(root)"
        lines.append(f"{source}: {field}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def load_yaml(path: str | Path) -> dict[str, object]:
    """A YAML mapping from ``path``, with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Config file {path} does not exist.")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(content).__name__}.")
    return content
