"""The crossmodal pipeline of a training run: paired features, DSCMR, its three losses, and a retrieval report.

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task crossmodal``. The
data is ``--dataset`` (:mod:`convzoo.data.crossmodal`): by default the generated digit-sentence
pairs, ``dscmr-features`` (the release's .mat files in ``--data-dir``), or ``image-text``
(class folders of images with their texts, the images through a zoo CNN and the texts as
bags of words: :mod:`~convzoo.tasks.crossmodal.encoders`). The network is built for the
data's feature widths and classes; ``--model-kwargs`` may set ``hidden_dim`` and
``common_dim``. With ``--image-encoder-finetune`` (image-text only) the data holds pixels and
the network owns the CNN (``image_encoder``, ``image_size`` in its arguments), loaded from
``--image-encoder-weights`` and trained with the rest. The loss is DSCMR's ``J1 + alpha J2 + beta J3``
(:class:`~convzoo.tasks.crossmodal.objective.CrossModalTask`; ``--crossmodal-alpha``,
``--crossmodal-beta``, ``--crossmodal-ablate``). Adam runs with the released code's betas
(0.5, 0.999), set on the optimiser the engine builds.

The report embeds the test split's images and texts, scores image-to-text and
text-to-image mAP over the whole split (:mod:`~convzoo.tasks.crossmodal.scoring`) into
``test_metrics.json`` and draws ``precision_recall.png``. The checkpoint's ``task_args`` keep
the data settings and the bag-of-words vocabulary, for ``convzoo eval`` and
``convzoo retrieve --text``; a fine-tuned CNN's weights are in the checkpoint, so these read
only the pixels again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from convzoo.data.crossmodal import CrossModalSplits, load_crossmodal_dataset
from convzoo.errors import ConvzooError
from convzoo.registry import create_model
from convzoo.tasks.crossmodal.encoders import encode_image_text, encoder_input, load_image_encoder
from convzoo.tasks.crossmodal.flags import IMAGE_TEXT
from convzoo.tasks.crossmodal.objective import CrossModalTask
from convzoo.tasks.crossmodal.scoring import PR_FILE, embed_split, map_report, plot_precision_recall
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.runner import Pipeline

__all__ = ["ADAM_BETAS", "DATA_SEED", "DEFAULT_DATASET", "build", "check_widths",
           "data_settings", "load_task_data", "model_arguments"]

DEFAULT_DATASET = "paired-digits"
DATA_SEED = 0  # the generated pairs are the same whatever the run's --seed
ADAM_BETAS = (0.5, 0.999)  # the released code's


def data_settings(config: TrainConfig) -> dict[str, Any]:
    """The data settings of a run's flags, as :func:`load_task_data` takes them (and ``task_args`` keeps them)."""
    settings = {"dataset": config.dataset or DEFAULT_DATASET,
                "data_dir": str(config.data_dir) if config.data_dir is not None else None, "data_seed": DATA_SEED}
    if settings["dataset"] == IMAGE_TEXT:
        settings.update(image_encoder=config.image_encoder, image_encoder_weights=config.image_encoder_weights,
                        image_size=config.image_size, image_encoder_finetune=config.image_encoder_finetune)
    elif config.image_encoder_finetune:
        raise ConvzooError(f"--image-encoder-finetune trains the CNN that reads images, which only --dataset "
                           f"{IMAGE_TEXT} has; {settings['dataset']!r} gives features")
    return settings


def load_task_data(settings: dict[str, Any]) -> CrossModalSplits:
    """The pairs a run's (or a checkpoint's) ``task_args`` describe."""
    if settings["dataset"] == IMAGE_TEXT:
        if settings.get("data_dir") is None:
            raise ConvzooError("--dataset image-text reads class folders of images with their texts: give --data-dir D")
        return encode_image_text(settings)
    return load_crossmodal_dataset(settings["dataset"], settings.get("data_dir"), settings.get("data_seed", DATA_SEED))


def _shape(shape: tuple[int, ...]) -> str:
    return f"{shape[0]}-d" if len(shape) == 1 else f"{'x'.join(map(str, shape))} pixel"


def check_widths(model: nn.Module, data: CrossModalSplits, dataset: str) -> None:
    """One line when the network's image input (features or pixels) and text width are not the data's."""
    expected = getattr(model, "image_shape", (model.image_dim,))
    if (tuple(expected), model.text_dim) != (data.image_shape, data.text_dim):
        raise ConvzooError(f"the network takes {_shape(tuple(expected))} images and {model.text_dim}-d text "
                           f"features, but {dataset!r} has {_shape(data.image_shape)} images and {data.text_dim}")


def model_arguments(config: TrainConfig, settings: dict[str, Any], data: CrossModalSplits) -> dict[str, Any]:
    """The network's arguments for the data: its widths and classes, and the CNN it owns when fine-tuning."""
    model_args = {**config.model_kwargs, "text_dim": data.text_dim, "num_classes": len(data.class_names)}
    if settings.get("image_encoder_finetune"):
        return {**model_args, "image_encoder": settings["image_encoder"], "image_size": list(encoder_input(settings))}
    return {**model_args, "image_dim": data.image_dim}


def _refuse_transfer(config: TrainConfig) -> None:
    if config.pretrained or config.head_only or config.freeze != "none":
        raise ConvzooError("--pretrained, --freeze and --head-only are for classifiers; --task crossmodal trains "
                           "DSCMR from its initialisation")


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    _refuse_transfer(config)
    settings = data_settings(config)
    data = load_task_data(settings)
    model_args = model_arguments(config, settings, data)
    try:
        model = create_model(config.model, **model_args)
    except TypeError as error:
        raise ConvzooError(f"{config.model} cannot be built with --model-kwargs {config.model_kwargs}: {error}") from None
    check_widths(model, data, settings["dataset"])
    if settings.get("image_encoder_finetune") and settings.get("image_encoder_weights"):
        load_image_encoder(model, settings["image_encoder"], settings["image_encoder_weights"])
    task = CrossModalTask(config.crossmodal_alpha, config.crossmodal_beta, config.crossmodal_ablate)
    trainer = Trainer(model, task, train_data=data.train.pairs(), val_data=data.val.pairs(), config=config, ctx=ctx)
    if config.optimizer == "adam":
        for group in trainer.optimizer.param_groups:
            group["betas"] = ADAM_BETAS
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=settings["dataset"], class_names=data.class_names,
        mean=[], std=[], input_size=[data.image_dim + data.text_dim], task="crossmodal",
        task_args={**settings, "vocabulary": data.vocabulary, "alpha": task.alpha, "beta": task.beta,
                   "ablate": config.crossmodal_ablate},
    )

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        image_common, text_common = embed_split(trainer.module, data.test, device=ctx.device)
        result = {"split": "test", **map_report(image_common, text_common, data.test.labels)}
        if is_main:
            plot_precision_recall(image_common, text_common, data.test.labels, out / PR_FILE,
                                  f"{config.model} on {settings['dataset']} (test)")
        return result

    return Pipeline(trainer=trainer, meta=meta, report=report)
