"""Settings of one search (``python -m raycxr.tune``), validated before Ray starts."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from raycxr.data import AUTO, TestSpec, check_dataset_name, dataset_names, get_dataset
from raycxr.run import Scaling

#: Where the repository's search spaces live (``--space NAME`` looks here).
SPACES_DIR = Path(__file__).resolve().parents[2] / "search_spaces"
#: Storage URI schemes Ray Tune (through pyarrow) can write to.
URI_SCHEMES = ("s3", "gs", "gcs", "hdfs", "abfs", "abfss", "file")
#: Training settings of the built-in demo (synthetic data, no --data): minutes on 2 CPUs.
DEMO_SETTINGS: dict[str, Any] = {
    "image_size": 64,
    "epochs": 4,
    "patience": 2,
    "batch_size": 16,
    "head": "gap",
    "normalize": "imagenet",
    "stats_samples": 300,
    "folds": 5,
}
DEMO_NUM_SAMPLES = 6


class TuneSettings(BaseModel):
    """Every option of a search. Options left ``None`` come from the space file's ``search:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    space: str = Field(
        "freeze_net", description="search-space YAML file, or the name of one in search_spaces/ (freeze_net, paper, …)"
    )
    data: Path | None = Field(None, description="dataset folder or CSV; without it, a synthetic demo dataset")
    dataset: str = Field(
        AUTO,
        description=f"how --data is read: {', '.join(dataset_names())} (NAME:VARIANT, e.g. rsna-pneumonia:detailed); "
        "'auto' detects it and the experiment records the name detected",
    )
    demo_images: int = Field(600, ge=40, description="images in the synthetic demo dataset (no --data)")
    storage: str = Field("runs", description="experiment storage: a local path or a URI (s3://, gs://)")
    name: str | None = Field(None, description="experiment name (default: space name and time)")
    num_samples: int | None = Field(None, ge=1, description="number of trials (default: the space's, else 16)")
    workers_per_trial: int = Field(1, ge=1, description="Ray Train workers per trial (DDP when > 1)")
    cpus_per_worker: float = Field(1.0, ge=0, description="CPUs per worker (0 only with GPUs, function path)")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs per worker (fractions share a GPU)")
    trainer: Literal["auto", "function", "train"] = Field(
        "auto",
        description="'auto': a one-worker trial trains in the Tune trial (actors reused, seconds to start), "
        "several workers run as a Ray Train TorchTrainer (DDP); 'function' / 'train' force one path",
    )
    max_concurrent: int | None = Field(None, ge=1, description="concurrent trials (default: what the cluster holds)")
    metric: str | None = Field(None, description="objective (default best_val_f1_macro)")
    mode: Literal["min", "max"] | None = Field(None, description="min or max (default: min for losses, else max)")
    objectives: str | None = Field(
        None,
        description="several objectives METRIC:min|max,… (e.g. best_val_f1_macro:max,latency_ms:min): a "
        "multi-objective search whose answer is the Pareto front; besides the reported metrics, latency_ms "
        "(batch 1 on the trial's device), macs and params of the trained network; replaces --metric/--mode",
    )
    constraints: list[str] = Field(
        default_factory=list,
        description="METRIC<=VALUE (also >=, <, >), e.g. latency_ms<=20: trials that break it are infeasible, "
        "never on the Pareto front or best (repeatable as --constraint)",
    )
    sampler: Literal["tpe", "random", "grid", "nsga2"] | None = Field(
        None, description="Optuna sampler (default: tpe; nsga2 (NSGA-II) with several objectives)"
    )
    enqueue: str | None = Field(
        None,
        description="evaluate these points first: 'paper' (the paper's configuration, restricted to the searched "
        "parameters) or a JSON/YAML file with a list of parameter dicts (e.g. a best_config.json)",
    )
    scheduler: Literal["none", "asha"] = Field(
        "none", description="early stopping of bad trials (ASHA; one objective only)"
    )
    grace_period: int = Field(1, ge=1, description="ASHA: epochs every trial runs before it can be stopped")
    reduction_factor: float = Field(2.0, gt=1, description="ASHA: reduction factor")
    max_failures: int = Field(0, ge=0, description="retries of a failed trial (from its checkpoint)")
    seed: int = Field(0, description="seed of the sampler, splits, class statistics and training")
    address: str | None = Field(None, description="Ray cluster to attach to ('auto', host:port); default: local Ray")
    set: list[str] = Field(default_factory=list, description="training setting KEY=VALUE for every trial (repeatable)")
    test_fraction: float = Field(
        0.15,
        description="fraction of the images held out as the untouched test set (stratified; group-aware with "
        "--set split=group); 0: no test set (the paper's protocol)",
    )
    test_source: str | None = Field(
        None, description="hold out these sources (groups) whole as the test set: external validation (A,B,…)"
    )
    test_files: Path | None = Field(None, description="CSV naming the test images ('FILE NAME' or 'file' column)")
    test_split: Literal["official"] | None = Field(
        None,
        description="'official': the dataset's own test split as the test set (e.g. COVIDx test.txt; replaces "
        "--test-fraction)",
    )
    nested: int = Field(
        0,
        ge=0,
        description="nested cross-validation: run the whole search inside each of K outer folds of dev and score "
        "each fold's winner on it (the unbiased estimate of tune-then-train); 0: off",
    )
    dedupe: bool = Field(False, description="keep one image of each exact/near-duplicate group before the partition")
    resume: bool = Field(False, description="continue the interrupted experiment --storage/--name")
    verbose: bool = Field(
        False, description="Ray's and Tune's own output too (status tables, INFO logs, warnings each time they occur)"
    )

    @field_validator("storage")
    @classmethod
    def _storage_scheme(cls, value: str) -> str:
        if "://" in value:
            scheme = value.split("://", 1)[0]
            if scheme not in URI_SCHEMES:
                raise ValueError(f"storage URI scheme {scheme!r} is not supported; expected one of {URI_SCHEMES}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        return check_dataset_name(value)  # ValueError listing the choices

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or "/" in value or value.startswith(".")):
            raise ValueError(f"name must be a plain folder name, got {value!r}")
        return value

    def scaling(self) -> Scaling:
        """Resources and execution path of each trial (raises ``ValueError`` for a bad combination)."""
        return Scaling(
            self.workers_per_trial, self.cpus_per_worker, self.gpus_per_worker, self.max_failures, self.trainer
        )

    def test_spec(self, group: bool) -> TestSpec:
        """How the experiment's test set is chosen (raises ``ValueError`` for a bad combination)."""
        given = [
            option
            for option, value in (
                ("--test-source", self.test_source),
                ("--test-files", self.test_files),
                ("--test-split", self.test_split),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give one of --test-source, --test-files or --test-split, not {' and '.join(given)}.")
        if self.test_split == "official":
            return TestSpec(official=True, group=group, seed=self.seed)
        if self.test_source is not None:
            sources = tuple(s.strip() for s in self.test_source.split(",") if s.strip())
            return TestSpec(sources=sources, group=group, seed=self.seed)
        if self.test_files is not None:
            if not self.test_files.is_file():
                raise ValueError(f"--test-files: {self.test_files} does not exist.")
            return TestSpec(files=self.test_files, group=group, seed=self.seed)
        try:
            return TestSpec(fraction=self.test_fraction, group=group, seed=self.seed)
        except ValueError as error:
            raise ValueError(f"--test-fraction: {error}") from None

    def test_drawn_by(self, group: bool) -> Literal["images", "groups"]:
        """The unit the test set was drawn by, which its bootstrap resamples: whole groups for held-out
        sources, a group split's fraction and an official split of a dataset with groups (COVIDx's
        is drawn by patient); images for a stratified fraction or a file list."""
        spec = self.test_spec(group)
        if spec.official:
            return "groups" if self.dataset != AUTO and get_dataset(self.dataset)[0].groups else "images"
        return "groups" if spec.sources is not None or (spec.fraction is not None and spec.group) else "images"

    def test_description(self) -> str:
        """The test set's origin, in words (for the report)."""
        if self.test_source is not None:
            return f"whole sources {self.test_source} held out (external validation)"
        if self.test_files is not None:
            return f"the images named in {self.test_files}"
        if self.test_split == "official":
            return f"the official test split of {self.dataset}"
        if self.test_fraction == 0:
            return "none kept"
        return f"{self.test_fraction:.0%} of the images, stratified by class, seed {self.seed}"

    @property
    def is_uri(self) -> bool:
        return "://" in self.storage

    def storage_path(self) -> str:
        """The storage as Tune wants it: an absolute local path or the URI."""
        return self.storage if self.is_uri else str(Path(self.storage).expanduser().resolve())

    def space_file(self) -> Path:
        """``--space``: a path, or the name of a file in ``search_spaces/``."""
        path = Path(self.space).expanduser()
        if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
            return path
        return SPACES_DIR / f"{self.space}.yaml"

    def experiment_name(self) -> str:
        if self.name:
            return self.name
        return f"{Path(self.space).stem}-{datetime.datetime.now():%Y%m%d-%H%M%S}"

    def train_base(self) -> dict[str, Any]:
        """The training settings the search gives outside its space: ``--set`` (demo defaults first), the seed
        and the dataset adapter."""
        return self.overrides() | {"seed": self.seed, "dataset": self.dataset}

    def overrides(self, demo: bool = True) -> dict[str, Any]:
        """``--set KEY=VALUE`` pairs (values parsed as YAML scalars), demo defaults first (unless ``demo=False``)."""
        values = dict(DEMO_SETTINGS) if self.data is None and demo else {}
        for item in self.set:
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
            values[key.strip().replace("-", "_")] = yaml.safe_load(text)
        return values
