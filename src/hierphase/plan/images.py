"""Planning of the images branch (image diffusion models with classifier features): config checks
of keys and local paths, job counts, file patterns, seeds, targets and figure table."""

from __future__ import annotations

import math
from pathlib import Path

from .branch import Branch
from .checks import ConfigError, package_check
from .figures import Figure

__all__ = ["ImagesBranch"]

#: mem_mb of a sweep job with a pretrained model (ADM at 256 x 256 in batches of a few dozen).
PRETRAINED_SWEEP_MB = 8000


class ImagesBranch(Branch):
    """Images branch: clean image shards -> [digits: train a DDPM and a CNN] -> feature statistics
    -> sweeps per (k, shard) -> measurements -> tables -> figures; patch correlations beside."""

    name = "images"
    description = "Image diffusion models with classifier features."
    checked_when_disabled = False

    def __init__(self, section, context):
        img = section
        data, model, clf = img["data"], img["model"], img["classifier"]
        self.dataset = data["name"]
        self.run = f"{self.dataset}/{model['name']}/{clf['name']}"
        self.n_classes = 10 if data["kind"] == "digits" else data["imagenet"]["n_classes"]
        self.n_images = img["n_per_class"] * self.n_classes
        self.shards = list(range(math.ceil(self.n_images / img["shard_size"])))
        self.k_grid = sorted(img["k_grid"])
        # GPU rules request a GPU (SLURM: --gpus) only when the config says the jobs run on one.
        self.gpu = 1 if img["device"] == "cuda" else 0
        ds = self.dataset
        self.SHARD = f"results/images/data/{ds}/shard{{shard}}.pt"
        self.TRAIN_SET = f"results/images/data/{ds}/train.pt"
        self.HELD_OUT = f"results/images/data/{ds}/held_out.pt"
        self.TRAINED_MODEL = f"results/images/models/{ds}/{model['name']}"
        self.TRAINED_CLF = f"results/images/classifiers/{ds}/{clf['name']}.pt"
        self.STATS = f"results/images/stats/{ds}/{clf['name']}/stats.pt"
        self.SWEEP = f"results/images/sweep/{ds}/{model['name']}/k{{k}}/shard{{shard}}.pt"
        self.MEASURE = f"results/images/measure/{self.run}/k{{k}}/shard{{shard}}.parquet"
        self.TABLES = f"results/images/tables/{self.run}"
        self.FIGURES = f"results/images/figures/{self.run}"
        self.QUALITY_SAMPLES = f"results/images/quality/{self.run}/samples.pt"
        # Change correlations of patches: the first n_images sweep images, one job per (k, shard).
        corr = img["correlations"]
        self.corr = corr
        self.corr_on = corr["enabled"]
        self.corr_k = sorted(corr["k_grid"])
        self.corr_n = corr["n_images"]
        self.corr_shards = list(range(math.ceil(self.corr_n / corr["shard_size"])))
        self.CORR_SHARD = f"results/images/correlations/{self.run}/k{{k}}/shard{{shard}}.parquet"
        super().__init__(section, context)

    def check(self) -> None:
        """Constraints between keys and local paths, which JSON schema cannot express."""
        img = self.config
        data, model, clf = img["data"], img["model"], img["classifier"]
        too_big = [k for k in img["k_grid"] if k > img["respaced_steps"]]
        if too_big:
            raise ConfigError("images.k_grid", f"{too_big} exceed images.respaced_steps = "
                              f"{img['respaced_steps']} (k is a respaced step index, t/T = k / "
                              "respaced_steps).")
        if data["kind"] == "digits" and data["image_size"] % 8:
            raise ConfigError("images.data.image_size",
                              "digits are 8x8: image_size must be a multiple of 8.")
        if model["kind"] == "train" and data["kind"] != "digits":
            raise ConfigError(
                "images.model.kind", "'train' trains a DDPM on the digits' training split; with "
                f"images.data.kind = {data['kind']!r} give a pretrained model (kind 'adm' or "
                "'diffusers' and images.model.path).")
        if model["kind"] != "train":
            path = model["path"]
            if not path or not Path(path).exists():
                what = ("the OpenAI checkpoint file (e.g. 256x256_diffusion_uncond.pt)"
                        if model["kind"] == "adm"
                        else "a diffusers UNet2DModel folder (config.json + weights)")
                raise ConfigError("images.model.path", f"{path!r} does not exist; set it to "
                                  f"{what} (never downloaded by the workflow).")
        if clf["weights"] is None:
            if clf["name"] != "digits_cnn" or data["kind"] != "digits":
                raise ConfigError(
                    "images.classifier.weights", f"no weights for {clf['name']!r}: only "
                    "digits_cnn on the digits is trained by the workflow; set it to the local "
                    "state-dict file of the classifier.")
        elif not Path(clf["weights"]).is_file():
            raise ConfigError(
                "images.classifier.weights", f"{clf['weights']!r} is not a file; set it to the "
                f"local state dict of {clf['name']} (e.g. torchvision's "
                "convnext_base-6075fbad.pth).")
        if data["kind"] == "imagenet":
            inet = data["imagenet"]
            if not inet["val_dir"] or not Path(inet["val_dir"]).is_dir():
                raise ConfigError(
                    "images.data.imagenet.val_dir", f"{inet['val_dir']!r} is not a folder; set "
                    "it to the ILSVRC2012 validation images (ILSVRC2012_val_*.JPEG, or one "
                    "subfolder per class).")
            if inet["labels"] is not None and not Path(inet["labels"]).is_file():
                raise ConfigError(
                    "images.data.imagenet.labels", f"{inet['labels']!r} is not a file; set it to "
                    "the devkit's ILSVRC2012_validation_ground_truth.txt, a filename,label CSV, "
                    "or null for class subfolders.")
        if data["kind"] == "digits":
            from hierphase.images.settings import DDPMTrainConfig, check_n_per_class

            package_check("images", lambda: check_n_per_class(img["n_per_class"],
                                                              data["held_out_fraction"]))
            package_check("images.model.train", lambda: DDPMTrainConfig(**model["train"]))
            self.check_training_memory()
            self.context.check_mem_mb(
                self.sweep_size_key(), self.sweep_mem_mb(),
                f"a sweep job at image_size = {data['image_size']} (batch_size = "
                f"{img['batch_size']}, {self.shard_images} images a shard)")
        self.context.check_device("images.device", img["device"])
        # per (k, shard): a sweep and a measure job; a few per-run jobs besides
        self.jobs["images.n_per_class"] = 2 * len(self.k_grid) * len(self.shards) + 12
        if self.corr_on:
            self.jobs["images.correlations.n_images"] = self.check_correlations() + 2

    def check_training_memory(self) -> None:
        """The digits DDPM and classifier trainings (one channel) within max_mem_mb."""
        size = self.config["data"]["image_size"]
        for part in ("model", "classifier"):
            batch_size = self.config[part]["train"]["batch_size"]
            self.context.check_mem_mb(
                f"images.{part}.train.batch_size", self.training_mem_mb(part),
                f"the {part} training at image_size = {size}, batch_size = {batch_size}")

    def training_mem_mb(self, part: str) -> int:
        """A training job's memory (``part``: ``model``, the DDPM, or ``classifier``): the
        libraries plus the package's estimate (``ddpm_train_bytes``, ``classifier_train_bytes``)
        of images.<part>.train at images.data.image_size, one channel."""
        from hierphase.images.settings import ClassifierTrainConfig, DDPMTrainConfig
        from hierphase.memory import classifier_train_bytes, ddpm_train_bytes, job_mb

        config_class, estimate = {"model": (DDPMTrainConfig, ddpm_train_bytes),
                                  "classifier": (ClassifierTrainConfig, classifier_train_bytes)}[part]
        train = {k: tuple(v) if isinstance(v, list) else v
                 for k, v in self.config[part]["train"].items()}
        cfg = package_check(f"images.{part}.train", lambda: config_class(**train))
        return job_mb(estimate(self.config["data"]["image_size"], 1, cfg.batch_size, cfg))

    @property
    def shard_images(self) -> int:
        return min(self.config["shard_size"], self.n_images)

    def sweep_bytes(self) -> int:
        """Bytes of a sweep job with the DDPM trained here (one channel):
        :func:`hierphase.memory.ddpm_sweep_bytes`."""
        from hierphase.images.settings import DDPMTrainConfig
        from hierphase.memory import ddpm_sweep_bytes

        img = self.config
        train = {k: tuple(v) if isinstance(v, list) else v
                 for k, v in img["model"]["train"].items()}
        return ddpm_sweep_bytes(img["data"]["image_size"], 1, img["batch_size"],
                                self.shard_images, DDPMTrainConfig(**train))

    def sweep_size_key(self) -> str:
        """The key that sizes a sweep job most: its batch, or its shard (13 bytes a pixel)."""
        shard = 13 * self.shard_images * self.config["data"]["image_size"] ** 2
        return "images.shard_size" if 2 * shard > self.sweep_bytes() else "images.batch_size"

    def sweep_mem_mb(self) -> int:
        """A sweep job's memory: the libraries plus the estimate of the DDPM trained here; a
        pretrained model's size is its checkpoint's, which the plan does not read
        (:data:`PRETRAINED_SWEEP_MB`)."""
        from hierphase.memory import job_mb

        if self.config["model"]["kind"] != "train":
            return PRETRAINED_SWEEP_MB
        return job_mb(self.sweep_bytes())

    def check_correlations(self) -> int:
        """Cross-key checks of images.correlations (the embeddings through the package's own
        validator; CLIP weights must be on disk); returns the number of (k, shard) jobs."""
        from hierphase.images.settings import embedding_key, specs_from_config

        img, corr = self.config, self.corr
        too_big = [k for k in corr["k_grid"] if k > img["respaced_steps"]]
        if too_big:
            raise ConfigError("images.correlations.k_grid", f"{too_big} exceed "
                              f"images.respaced_steps = {img['respaced_steps']}.")
        if corr["n_images"] > self.n_images:
            raise ConfigError(
                "images.correlations.n_images", f"{corr['n_images']} exceeds the "
                f"{self.n_images} sweep images (images.n_per_class x {self.n_classes} classes).")
        for name, fields in corr["embeddings"].items():
            spec = package_check(embedding_key(name), lambda: specs_from_config(
                {name: fields}, img["data"]["image_size"])[0])
            if spec.kind == "classifier" and img["classifier"]["name"] == "digits_cnn":
                from hierphase.images.settings import DIGITS_SPATIAL_LAYERS

                if spec.layer not in DIGITS_SPATIAL_LAYERS:
                    raise ConfigError(
                        embedding_key(name, "layer"), f"{spec.layer!r} is not a spatial layer "
                        f"of digits_cnn; choose one of {list(DIGITS_SPATIAL_LAYERS)}.")
            if spec.kind == "clip" and not (Path(spec.weights) / "config.json").is_file():
                raise ConfigError(
                    embedding_key(name, "weights"), f"{spec.weights!r} is not a folder with "
                    "config.json; set it to the local CLIP ViT weights as written by "
                    "transformers' save_pretrained (e.g. a snapshot of "
                    "openai/clip-vit-base-patch32); never downloaded by the workflow.")
        return len(corr["k_grid"]) * len(self.corr_shards)

    def names(self) -> dict[str, str]:
        return {f"images.{part}.name": self.config[part]["name"]
                for part in ("data", "model", "classifier")}

    def wildcards(self) -> dict:
        return {"k": r"\d+", "shard": r"\d+"}

    # ------------------------------------------------------------------ per-job values
    def job_seed(self, stage: str, *parts) -> int:
        """Seed of one job: the stage's offset in images.seeds comes first among its parts, so
        changing it redraws that stage alone."""
        return self.seed(stage, self.config["seeds"].get(stage, 0), *parts)

    def all_shards(self) -> list[str]:
        return [self.SHARD.format(shard=i) for i in self.shards]

    def model_input(self) -> str:
        """The diffusion model the sweeps use: trained here, or the configured local path."""
        model = self.config["model"]
        return self.TRAINED_MODEL if model["kind"] == "train" else model["path"]

    def classifier_input(self) -> str:
        clf = self.config["classifier"]
        return self.TRAINED_CLF if clf["weights"] is None else clf["weights"]

    def measure_shards(self) -> list[str]:
        return [self.MEASURE.format(k=k, shard=s) for k in self.k_grid for s in self.shards]

    def corr_shard_files(self) -> list[str]:
        return [self.CORR_SHARD.format(k=k, shard=s) for k in self.corr_k for s in self.corr_shards]

    def corr_range(self, wildcards) -> tuple[int, int]:
        """Positions (start, stop) in the sweep images of correlation shard ``wildcards.shard``."""
        start = int(wildcards.shard) * self.corr["shard_size"]
        return start, min(start + self.corr["shard_size"], self.corr_n)

    def corr_sources(self, wildcards) -> list[str]:
        """The data shards that hold the images of one correlation shard (in order)."""
        from hierphase.images.settings import shard_bounds

        start, stop = self.corr_range(wildcards)
        bounds = shard_bounds(self.n_images, len(self.shards))
        return [self.SHARD.format(shard=i) for i, (lo, hi) in enumerate(bounds)
                if lo < stop and hi > start]

    def corr_first(self, wildcards) -> int:
        """Position in the sweep images of the first image of corr_sources."""
        from hierphase.images.settings import shard_bounds

        start, _ = self.corr_range(wildcards)
        bounds = shard_bounds(self.n_images, len(self.shards))
        return next(lo for lo, hi in bounds if lo <= start < hi)

    def corr_inputs(self, wildcards=None) -> dict:
        """Local weights the correlation jobs read: the classifier when an embedding uses it,
        the CLIP folders."""
        embeddings = self.corr["embeddings"].values()
        inputs = {}
        if any(e["kind"] == "classifier" for e in embeddings):
            inputs["classifier"] = self.classifier_input()
        clip = [e["weights"] for e in embeddings if e["kind"] == "clip"]
        if clip:
            inputs["clip"] = clip
        return inputs

    # ------------------------------------------------------------------ targets and figures
    def targets(self) -> list[str]:
        """The branch's tables and (digits) the quality table, and every figure."""
        tables = [f"{self.TABLES}/{t}.{ext}" for t in ("class_kept", "layer_similarity")
                  for ext in ("parquet", "csv")]
        if self.corr_on:
            tables += [f"{self.TABLES}/{t}.{ext}"
                       for t in ("patch_correlations", "patch_susceptibility")
                       for ext in ("parquet", "csv")]
        if self.config["data"]["kind"] == "digits":
            tables += [f"{self.TABLES}/quality.parquet", f"{self.TABLES}/quality.csv"]
        return [t for fig in self.figures() for t in fig.targets()] + tables

    def figure(self, name: str, inputs: dict, **fields) -> Figure:
        return Figure(rule=f"images_fig_{name}", path=f"{self.FIGURES}/{name}",
                      inputs=inputs,
                      caption=f"images/{name}.rst", category="Images", subcategory=self.run,
                      draw=f"hierphase.stages.figures.images:images_fig_{name}",
                      conda="../../envs/images.yaml",
                      log=f"logs/images/figures/{self.run}/{name}.log", **fields)

    def figures(self) -> list[Figure]:
        tables = self.TABLES
        digits = ({},) if self.config["data"]["kind"] == "digits" else ()
        return [
            self.figure("grid", {"shard": self.SHARD.format(shard=0),
                                 "sweeps": [self.SWEEP.format(k=k, shard=0) for k in self.k_grid]},
                        params={"n_rows": self.config["grid_images"]}),
            self.figure("class_kept", {"table": f"{tables}/class_kept.parquet"},
                        params={"n_classes": self.n_classes}),
            self.figure("layer_similarity", {"table": f"{tables}/layer_similarity.parquet"}),
            self.figure("samples", {"samples": self.QUALITY_SAMPLES},
                        params={"confidence": self.config["quality"]["confidence"]},
                        instances=digits),
            self.figure("correlations",
                        {"class_kept": f"{tables}/class_kept.parquet",
                         "layer_similarity": f"{tables}/layer_similarity.parquet",
                         "susceptibility": f"{tables}/patch_susceptibility.parquet"},
                        params={"n_classes": self.n_classes},
                        instances=({},) if self.corr_on else ()),
        ]
