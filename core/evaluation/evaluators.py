"""How each embedded model is measured on held-out data: ``python -m core.evaluate MODEL`` runs these.

`EVALUATIONS` holds one `Evaluation` per model: ``measure(model, count)`` returns its numbers on the whole
held-out set (``count=None``) or on the first ``count`` items (what an item is: ``unit``), and
``subset_count`` fixes the small subset that the model card also records (``card["subset"]``) and that
``tests/test_evaluate.py`` re-measures to 1e-3: changed weights, or code that changes a number, fail there.

The detectors (R-CNN and Fast R-CNN with `proposals_map`), the FCN and the recipes' evaluations during training share the functions below (`ssd_map`,
`faster_rcnn_map`, `fcn_iou`, `sampled_digit_quality`, ...): one way to measure each model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from core.data.scene_cache import SceneArrays, scene_arrays
from core.data.scenes import CLASS_NAMES, make_scene, split_seeds
from core.evaluation.metrics import DetectionMeter, SegmentationMeter

SAMPLE_SEED = 12345
"""Seed of the latents the GANs are judged on (`core.ops.latent.latents(SAMPLE_SEED, n, dim)`)."""

HELD_OUT = "test"
"""The scene split every detector and the FCN are measured on (training uses "train", its checkpoints "val")."""


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _targets(arrays: SceneArrays, start: int, stop: int) -> list[dict[str, torch.Tensor]]:
    return [{"boxes": torch.from_numpy(arrays.boxes[arrays.objects(i)]),
             "labels": torch.from_numpy(arrays.labels[arrays.objects(i)])} for i in range(start, stop)]


def _images(arrays: SceneArrays, start: int, stop: int) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] of scenes start..stop."""
    return torch.from_numpy(arrays.images[start:stop]).permute(0, 3, 1, 2).float() / 255.0


# --- detectors ------------------------------------------------------------------------------------------------


def ssd_map(model: nn.Module, arrays: SceneArrays, batch_size: int = 25) -> dict[str, Any]:
    """COCO mAP (`core.evaluation.metrics.DetectionMeter`) of the SSD on `arrays`' scenes (score threshold 0.01)."""
    from core.models.ssd import predict_batch

    model.eval()
    meter = DetectionMeter(CLASS_NAMES)
    for start in range(0, len(arrays), batch_size):
        stop = min(start + batch_size, len(arrays))
        meter.update(predict_batch(model, _images(arrays, start, stop).to(_device(model))), _targets(arrays, start, stop))
    return meter.compute()


def faster_rcnn_map(model: nn.Module, arrays: SceneArrays, batch_size: int = 8,
                    score_threshold: float = 0.01) -> dict[str, Any]:
    """COCO mAP of the Faster R-CNN on `arrays`' scenes (detections above 0.01, its RoI heads' NMS IoU)."""
    from core.models.faster_rcnn import detect_batch

    model.eval()
    meter = DetectionMeter(CLASS_NAMES)
    for start in range(0, len(arrays), batch_size):
        stop = min(start + batch_size, len(arrays))
        images = [arrays.images[i] for i in range(start, stop)]
        meter.update(detect_batch(model, images, score_threshold, model.roi_heads.nms_thresh),
                     _targets(arrays, start, stop))
    return meter.compute()


UNSEEN_PHOTOS: tuple[str, ...] = ("stereo_motorcycle", "hubble_deep_field", "immunohistochemistry", "retina", "coins")
"""scikit-image photos that are not among `core.data.scenes.BACKGROUND_SOURCES` (training never saw them)."""

PHOTO_SCENES = 100
"""Test scenes pasted onto `UNSEEN_PHOTOS` (in turn, each at the photo's own size) by `photos_map`."""


def unseen_photo(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a scikit-image sample photo (grey ones replicated to 3 channels)."""
    from skimage import data

    image = getattr(data, name)()
    image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: (left, right, disparity)
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8))


def photos_map(detect: Callable[[np.ndarray], dict[str, Any]], count: int = PHOTO_SCENES) -> dict[str, Any]:
    """COCO mAP of ``detect(image) -> {"boxes", "scores", "labels"}`` (pixels of the image) on the first `count`
    test seeds pasted onto `UNSEEN_PHOTOS`, in turn, each at the photo's own size."""
    photos = [unseen_photo(name) for name in UNSEEN_PHOTOS]
    meter = DetectionMeter(CLASS_NAMES)
    for i, seed in enumerate(split_seeds(HELD_OUT, count)):
        scene = make_scene(int(seed), background=photos[i % len(photos)])
        meter.update([detect(scene.image)], [{"boxes": scene.boxes, "labels": scene.labels}])
    return meter.compute()


PHOTO_KEYS = ("map_50", "map", "map_75", "per_class_ap50")


def _detector_metrics(model: nn.Module, count: int | None, scene_map: Callable, detect: Callable) -> dict[str, Any]:
    seeds = split_seeds(HELD_OUT, count)
    metrics = {f"test_{k}": v for k, v in scene_map(model, scene_arrays(seeds, fields=("images",))).items()}
    metrics["test_scenes"] = len(seeds)
    if count is None:  # the whole held-out split: also objects pasted onto photos training never saw
        photos = photos_map(detect)
        metrics.update({f"photos_{k}": photos[k] for k in PHOTO_KEYS})
        metrics["photos_scenes"] = PHOTO_SCENES
    return metrics


def ssd_metrics(model: nn.Module, count: int | None = None) -> dict[str, Any]:
    from core.models.ssd import detect

    def on_photo(image: np.ndarray) -> dict[str, Any]:
        det = detect(model, image, 0.01, 0.5)
        return {"boxes": det.boxes, "scores": det.scores, "labels": det.labels}

    return _detector_metrics(model, count, ssd_map, on_photo)


def faster_rcnn_metrics(model: nn.Module, count: int | None = None) -> dict[str, Any]:
    from core.models.faster_rcnn import detect

    return _detector_metrics(model, count, faster_rcnn_map,
                             lambda image: detect(model, image, 0.01, model.roi_heads.nms_thresh))


# --- the R-CNN family (selective-search proposals) ------------------------------------------------------------


def proposals_map(detect: Callable[[np.ndarray, np.ndarray | None], dict[str, Any]],
                  arrays: SceneArrays) -> dict[str, Any]:
    """COCO mAP of ``detect(image, proposals) -> {"boxes", "scores", "labels"}`` on `arrays`' scenes, each given its
    selective-search proposals from `core.data.proposals` (the boxes the model would compute itself, cached)."""
    from core.data.proposals import scene_proposals

    meter = DetectionMeter(CLASS_NAMES)
    for i, seed in enumerate(arrays.seeds):
        meter.update([detect(arrays.images[i], scene_proposals(int(seed)))], _targets(arrays, i, i + 1))
    return meter.compute()


def selective_search_recall(count: int | None = None) -> dict[str, Any]:
    """Selective search's recall against the ground truth of the first `count` test scenes (all their proposals,
    before a model's min-side filter): share of objects some proposal overlaps by IoU >= 0.5 / 0.7, mean best
    overlap, objects and mean proposals per image."""
    from core.data.proposals import scene_proposals
    from core.ops.selective_search import proposal_recall

    seeds = split_seeds(HELD_OUT, count)
    arrays = scene_arrays(seeds, fields=())
    found = [scene_proposals(int(seed)) for seed in seeds]
    truth = [arrays.boxes[arrays.objects(i)] for i in range(len(seeds))]
    recall = proposal_recall(found, truth)
    return {"proposals_recall_50": recall["recall_50"], "proposals_recall_70": recall["recall_70"],
            "proposals_mabo": recall["mabo"], "proposals_objects": recall["objects"],
            "proposals_per_image": float(np.mean([len(f) for f in found]))}


def _family_metrics(model: nn.Module, count: int | None, detect: Callable) -> dict[str, Any]:
    """Test mAP with each scene's cached proposals; on the whole split also the unseen photos (proposals computed
    live) and selective search's recall."""
    def with_proposals(image: np.ndarray, proposals: np.ndarray | None = None) -> dict[str, Any]:
        return detect(model, image, 0.01, None, proposals)

    model.eval()
    metrics = _detector_metrics(model, count, lambda _, arrays: proposals_map(with_proposals, arrays),
                                with_proposals)
    if count is None:
        metrics.update(selective_search_recall())
    return metrics


def rcnn_metrics(model: nn.Module, count: int | None = None) -> dict[str, Any]:
    from core.models.rcnn import detect

    return _family_metrics(model, count, detect)


def fast_rcnn_metrics(model: nn.Module, count: int | None = None) -> dict[str, Any]:
    from core.models.fast_rcnn import detect

    return _family_metrics(model, count, detect)


# --- segmentation -------------------------------------------------------------------------------------------


@torch.no_grad()
def fcn_iou(model: nn.Module, arrays: SceneArrays, batch_size: int = 25) -> dict[str, Any]:
    """mIoU, per-class IoU and pixel accuracy (`SegmentationMeter`, pooled over all pixels) on `arrays`."""
    from core.models.fcn import NUM_SEG_CLASSES, SEGMENTATION_CLASS_NAMES, predict_batch

    model.eval()
    meter = SegmentationMeter(NUM_SEG_CLASSES, SEGMENTATION_CLASS_NAMES)
    for start in range(0, len(arrays), batch_size):
        pred = predict_batch(model, torch.from_numpy(arrays.images[start : start + batch_size]))
        meter.update(pred, torch.from_numpy(arrays.masks[start : start + batch_size]).long())
    return meter.compute()


def fcn_metrics(model: nn.Module, count: int | None = None) -> dict[str, Any]:
    seeds = split_seeds(HELD_OUT, count)
    result = fcn_iou(model, scene_arrays(seeds, fields=("images", "masks")))
    return {"test_miou": result["miou"], "test_per_class_iou": result["per_class"],
            "test_pixel_accuracy": result["pixel_accuracy"], "test_scenes": len(seeds)}


# --- generative models --------------------------------------------------------------------------------------


@torch.no_grad()
def sampled_digit_quality(generator: nn.Module, n: int = 2000) -> dict[str, float]:
    """`core.evaluation.generative.digit_quality` of n samples of the latents `latents(SAMPLE_SEED, n)`."""
    from core.evaluation.generative import digit_quality
    from core.ops.latent import generate, latents

    return digit_quality(generate(generator, latents(SAMPLE_SEED, n, generator.config.latent_dim)))


@torch.no_grad()
def cgan_quality(generator: nn.Module, per_class: int = 200) -> dict[str, Any]:
    """Class accuracy of `per_class` samples of every digit as judged by the real-digit classifier, per class too."""
    from core.data.digits import NUM_CLASSES
    from core.evaluation.generative import class_accuracy, digit_classifier, digit_quality
    from core.ops.latent import latents

    labels = torch.arange(NUM_CLASSES).repeat_interleave(per_class)  # (10 * per_class,)
    z = latents(SAMPLE_SEED, len(labels), generator.config.latent_dim)
    images = generator(z, labels)
    judge = digit_classifier()
    predicted = torch.from_numpy(judge.predict(images))
    return {
        "class_accuracy": class_accuracy(images, labels),
        "class_accuracy_per_digit": [(predicted[labels == c] == c).float().mean().item() for c in range(NUM_CLASSES)],
        "classifier": "SVC(gamma=0.001, C=10) on the first 1,200 real 8x8 digits",
        "classifier_accuracy_on_real_held_out": judge.accuracy,
        **digit_quality(images),
    }


@torch.no_grad()
def cyclegan_quality(model: Any) -> dict[str, float]:
    """On the held-out photo (never seen, in either domain): the cycle losses both ways; how close G's night is
    to the true night grade (mean |G(a) - night(a)| on [-1, 1]) against doing nothing (|a - night(a)|); and how
    close F brings the true night back to the photo."""
    from core.models.cyclegan import HELD_OUT_PHOTO, bundled_photo, night_filter, to_tensor, to_working_size, translate

    photo = to_working_size(bundled_photo(HELD_OUT_PHOTO))
    night = night_filter(photo)
    a_to_b = translate(model, photo, "A->B")
    b_to_a = translate(model, night, "B->A")
    target = to_tensor(night)
    return {
        "held_out_cycle_loss_ABA": a_to_b.cycle_loss,
        "held_out_cycle_loss_BAB": b_to_a.cycle_loss,
        "held_out_l1_G(a)_vs_true_night": float((to_tensor(a_to_b.translated) - target).abs().mean()),
        "held_out_l1_photo_vs_true_night": float((to_tensor(photo) - target).abs().mean()),
        "held_out_l1_F(b)_vs_true_photo": float((to_tensor(b_to_a.translated) - to_tensor(photo)).abs().mean()),
    }


# --- the fine-tuning source ---------------------------------------------------------------------------------

SOURCE_TEST_SEED = 2
"""Render seed of held-out printed letters (training glyphs use seed 0, validation glyphs seed 1)."""

SOURCE_TEST_PER_CLASS = 40
"""Held-out glyphs per letter in the full evaluation."""

SHORT_COMPARISON = {"examples_per_class": 2, "epochs": 2}
"""The subset's fine-tuning comparison: `FinetuneConfig` fields changed from the tab's default run."""


def finetune_source_metrics(source: Any, count: int | None = None) -> dict[str, Any]:
    """The source model's accuracy on `count` (None: `SOURCE_TEST_PER_CLASS`) freshly rendered glyphs per letter,
    then a fine-tuning comparison from it: the tab's default run for the full evaluation (also returned as
    ``"default_run"``, the tab's precomputed first view), `SHORT_COMPARISON` for a subset."""
    from core.models import finetune as ft

    model = ft.build_model(len(ft.SOURCE_CLASSES))
    model.load_state_dict(source.state)
    images, labels = ft.source_dataset(count or SOURCE_TEST_PER_CLASS, SOURCE_TEST_SEED)
    accuracy, loss, _ = ft.evaluate_model(model, ft.to_input(images, source.mean, source.std), torch.as_tensor(labels))
    config = ft.FinetuneConfig() if count is None else ft.FinetuneConfig(**SHORT_COMPARISON)
    state = ft.run_comparison(config, source.state, source.mean, source.std)
    prefix = "default" if count is None else "short"
    metrics = {
        "source_test_accuracy": accuracy,
        "source_test_loss": loss,
        f"{prefix}_fine_tuned_test_accuracy": state.fine_tuned.test_accuracy[-1],
        f"{prefix}_scratch_test_accuracy": state.scratch.test_accuracy[-1],
    }
    if count is None:
        metrics["default_run"] = default_run_summary(state)
    return metrics


def default_run_summary(state: Any) -> dict[str, Any]:
    """What the card stores about a comparison: config, curves, seconds and the grid's test predictions."""
    from dataclasses import asdict

    from core.models.finetune import preview_positions

    positions = preview_positions()
    return {
        "config": asdict(state.config),
        "curves": state.curves(),
        "seconds": round(state.seconds, 2),
        "preview_predictions": {k: v[positions].tolist() for k, v in state.predictions.items()},
    }


# --- the table ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """How one model is measured: ``measure(model, count)``, model from `core.weights.registry`."""

    measure: Callable[[Any, int | None], dict[str, Any]]
    unit: str  # what `count` counts
    subset_count: int  # the small fixed subset recorded in the card and re-measured by the tests
    subset: str  # the subset's exact definition (recorded in the card)
    card_entries: tuple[str, ...] = field(default=())  # returned entries that go beside the metrics, not in them


def _with_default(measure: Callable[..., dict[str, Any]], full: int) -> Callable[[Any, int | None], dict[str, Any]]:
    """``measure(model, count)`` with ``count=None`` meaning `full`."""
    return lambda model, count: measure(model, count or full)


EVALUATIONS: dict[str, Evaluation] = {
    "ssd": Evaluation(
        ssd_metrics, "test scenes", 20,
        "the first 20 scenes of the test split (seeds 2000000..2000019), detections above score 0.01, NMS IoU 0.5"),
    "faster_rcnn": Evaluation(
        faster_rcnn_metrics, "test scenes", 20,
        "the first 20 scenes of the test split (seeds 2000000..2000019), detections above score 0.01"),
    "rcnn": Evaluation(
        rcnn_metrics, "test scenes", 10,
        "the first 10 scenes of the test split (seeds 2000000..2000009), their cached selective-search proposals, "
        "detections above score 0.01, the model's NMS IoU"),
    "fast_rcnn": Evaluation(
        fast_rcnn_metrics, "test scenes", 10,
        "the first 10 scenes of the test split (seeds 2000000..2000009), their cached selective-search proposals, "
        "detections above score 0.01, the model's NMS IoU"),
    "fcn": Evaluation(
        fcn_metrics, "test scenes", 20,
        "the first 20 scenes of the test split (seeds 2000000..2000019), IoU pooled over their pixels"),
    "dcgan": Evaluation(
        _with_default(sampled_digit_quality, 2000), "samples", 200,
        f"200 samples of the latents latents({SAMPLE_SEED}, 200) (full: 2000)"),
    "cgan": Evaluation(
        _with_default(cgan_quality, 200), "samples per digit", 20,
        f"20 samples of each digit, latents latents({SAMPLE_SEED}, 200) (full: 200 per digit)"),
    "progan": Evaluation(
        lambda grown, count: sampled_digit_quality(grown.final, count or 2000), "samples", 200,
        f"200 samples of the final generator, latents latents({SAMPLE_SEED}, 200) (full: 2000)"),
    "cyclegan": Evaluation(
        lambda model, count: cyclegan_quality(model), "held-out photos", 1,
        "the held-out photo (coffee) at the working side: the whole held-out set"),
    "finetune_source": Evaluation(
        finetune_source_metrics, "held-out glyphs per letter", 4,
        f"4 glyphs per letter rendered with seed {SOURCE_TEST_SEED}, then a fine-tuning comparison with "
        f"FinetuneConfig(**{SHORT_COMPARISON})", card_entries=("default_run",)),
}
"""Model name -> its `Evaluation`. Add a model: one entry."""
