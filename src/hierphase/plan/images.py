"""Planning of the images branch (image diffusion models with classifier features): config checks
of keys and local paths, job counts, file patterns, seeds, targets and figure table."""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path

from .branch import Branch
from .checks import ConfigError, package_check
from .figures import Figure

__all__ = ["ImagesBranch"]



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
        from hierphase.images.settings import torchvision_missing

        why = torchvision_missing(clf["name"])
        if why:
            raise ConfigError("images.classifier.name", why)
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
        self.context.check_device("images.device", img["device"])
        # per (k, shard): a sweep and a measure job; a few per-run jobs besides
        self.jobs["images.n_per_class"] = 2 * len(self.k_grid) * len(self.shards) + 12
        if self.corr_on:
            self.jobs["images.correlations.n_images"] = self.check_correlations() + 2
        for job, (mem_mb, key, what) in self.memory.items():
            self.context.check_mem_mb(key, mem_mb, what)

    # ------------------------------------------------------------------ memory
    @cached_property
    def memory(self) -> dict[str, tuple[int, str, str]]:
        """:meth:`job_memory`, computed once."""
        return self.job_memory()

    def mem_mb(self, job: str) -> int:
        """The ``mem_mb`` a job declares (``job``: a key of :meth:`job_memory`)."""
        return self.memory[job][0]

    def job_memory(self) -> dict[str, tuple[int, str, str]]:
        """Per heavy job, ``(mem_mb, key, what)``: the libraries plus the package's estimate
        (:mod:`hierphase.memory`) at this config's sizes, the key that sizes it most and the job
        in words. On a GPU (``images.device: cuda``) the batches' activations are the GPU's, and
        the host holds the weights, the images and the CUDA libraries."""
        from hierphase import memory as M

        img = self.config
        size, batch = img["data"]["image_size"], img["batch_size"]
        clf, width = img["classifier"]["name"], img["classifier"]["train"]["width"]
        digits = img["data"]["kind"] == "digits"
        channels = 1 if digits else 3
        shard, n = self.shard_images, self.n_images
        size_key = "images.batch_size"
        out = {}

        def job(name, estimate, key, what, batch_part=0):
            """``batch_part``: the part of ``estimate`` that grows with images.batch_size, whose
            key is named when it dominates (on a GPU the batches are the GPU's)."""
            batch_part = 0 if self.gpu == 1 else batch_part
            out[name] = (M.job_mb(estimate), size_key if 2 * batch_part > estimate else key, what)

        at = f"at image_size = {size}, batch_size = {batch}"
        if digits:
            job("split", M.digits_data_bytes(size), "images.data.image_size",
                f"the digits' split at image_size = {size}")
            for part in ("model", "classifier"):
                train_batch = img[part]["train"]["batch_size"]
                out[f"train_{part}"] = (
                    self.training_mem_mb(part), f"images.{part}.train.batch_size",
                    f"the {part} training at image_size = {size}, batch_size = {train_batch}")
        else:
            job("data", M.imagenet_data_bytes(size, shard), "images.shard_size",
                f"reading ImageNet, {shard} images a shard at image_size = {size}")
        sweep = self.sweep_bytes(batch, shard)
        job("sweep", sweep, "images.shard_size", f"a sweep job {at}, {shard} images a shard",
            sweep - self.sweep_bytes(batch, shard, held_only=True))
        for name, estimate in (("stats", M.classifier_stats_bytes), ("measure",
                                                                     M.classifier_measure_bytes)):
            images = n if name == "stats" else shard
            total = estimate(clf, size, channels, batch, images, width, self.gpu == 1)
            held = estimate(clf, size, channels, batch, images, width, True) - M.CUDA_HOST_BYTES
            job(name, total, "images.n_per_class" if name == "stats" else "images.shard_size",
                f"the classifier's {'feature statistics' if name == 'stats' else 'measurement'} "
                f"of {images} images {at}", total - held)
        if digits:
            job(*self.quality_memory(channels, width))
        if self.corr_on:
            job(*self.correlation_memory(channels, width))
        return out

    def sweep_bytes(self, batch_size: int, n_images: int, held_only: bool = False) -> int:
        """Bytes of a forward-backward sweep of ``n_images`` in batches of ``batch_size`` with the
        configured diffusion model (``held_only``: without the batches' activations): the DDPM
        trained here (:func:`hierphase.memory.ddpm_sweep_bytes`, one channel), or a pretrained
        model sized by its weight files and its flags or ``config.json``
        (:func:`hierphase.memory.pretrained_sweep_bytes`)."""
        from hierphase import memory as M

        img = self.config
        model = img["model"]
        if model["kind"] == "train":
            from hierphase.images.settings import DDPMTrainConfig

            train = {k: tuple(v) if isinstance(v, list) else v for k, v in model["train"].items()}
            cfg = DDPMTrainConfig(**train)
            if held_only:
                return 4 * M.unet_parameter_count(1, cfg.block_out_channels,
                                                  cfg.layers_per_block, cfg.attention) \
                    + 13 * n_images * img["data"]["image_size"] ** 2
            return M.ddpm_sweep_bytes(img["data"]["image_size"], 1, batch_size, n_images, cfg)
        weights, shape = self.pretrained_model()
        return M.pretrained_sweep_bytes(weights, shape, 3, batch_size, n_images,
                                        on_gpu=held_only or self.gpu == 1) \
            - (M.CUDA_HOST_BYTES if held_only else 0)

    def pretrained_model(self) -> tuple[int, tuple]:
        """(bytes of the weight files, UNet shape) of the configured pretrained model: an ADM
        checkpoint with images.model.adm_flags, or a diffusers folder with its config.json."""
        import json

        from hierphase import memory as M

        model = self.config["model"]
        path = Path(model["path"])
        if model["kind"] == "adm":
            return path.stat().st_size, M.adm_shape(model["adm_flags"])
        folder = path / "unet" if (path / "unet" / "config.json").is_file() else path
        try:
            config = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError) as err:
            raise ConfigError("images.model.path", f"{str(folder / 'config.json')!r} cannot be "
                              f"read as a diffusers UNet2DModel config: {err}") from err
        return M.weight_files_bytes(folder), M.diffusers_shape(config)

    def quality_memory(self, channels: int, width: int) -> tuple:
        """The quality job (digits): the samples' sweep, the classifier on every held-out image
        and every sample at once."""
        from hierphase import memory as M
        from hierphase.images.settings import DIGITS_PER_CLASS, n_held_out

        img = self.config
        n_samples, size = img["quality"]["n_samples"], img["data"]["image_size"]
        clf = img["classifier"]["name"]
        held_out = sum(n_held_out(img["data"]["held_out_fraction"], c) for c in DIGITS_PER_CLASS)
        total = M.image_quality_bytes(self.sweep_bytes(img["batch_size"], n_samples), clf, size,
                                      channels, held_out, n_samples, width)
        return ("quality", total, "images.quality.n_samples",
                f"the quality check, {n_samples} samples and {held_out} held-out images classified "
                f"at once at image_size = {size}")

    def correlation_memory(self, channels: int, width: int) -> tuple:
        """A correlation job: its shard's images and runs, the sweep of a batch of runs, and
        each embedding's model and outputs."""
        import json

        from hierphase import memory as M
        from hierphase.images.settings import specs_from_config

        img, corr = self.config, self.corr
        size, clf = img["data"]["image_size"], img["classifier"]["name"]
        batch = corr["batch_size"] or img["batch_size"]
        n_images = min(corr["shard_size"], self.corr_n)
        runs = M.image_runs(n_images, corr["n_traj"], batch)
        on_gpu = self.gpu == 1
        embeddings, with_classifier = [], True
        for spec in specs_from_config(corr["embeddings"], size):
            side = spec.crop or size
            if spec.kind == "pixels":
                embeddings.append(M.pixel_embedding(channels, side, spec.patch))
            elif spec.kind == "classifier":
                embeddings.append(M.classifier_embedding(clf, size, channels, spec.layer, batch,
                                                         width, with_classifier, on_gpu))
                with_classifier = False
            else:
                sizes = M.clip_sizes(json.loads((Path(spec.weights) / "config.json").read_text()))
                embeddings.append(M.clip_embedding(sizes, M.weight_files_bytes(spec.weights),
                                                   channels, side, batch, on_gpu))
        sources = min(self.n_images, n_images + 2 * self.shard_images)
        total = M.image_correlation_bytes(self.sweep_bytes(batch, runs), channels * size ** 2,
                                          n_images, sources, runs, embeddings)
        # the runs at once: one image's n_traj when a batch holds fewer, else the batch's
        key = "images.correlations." + ("n_traj" if runs == corr["n_traj"] else "batch_size")
        return ("correlations", total, key,
                f"a correlation job, {n_images} images x {corr['n_traj']} runs ({runs} at once) "
                f"at image_size = {size}, batch_size = {batch}")

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
