"""Image augmentation with Albumentations: pipelines you can build, serialise, sample and draw.

Everything that touches pixels, boxes or masks is done by Albumentations itself; this module only

* validates and (de)serialises pipelines in Albumentations' own serialized form
  (`A.to_dict(A.Compose([...]))`, JSON and YAML through `A.save` / `A.load`, plus Python code),
* runs one pipeline N times from one seed, recording what every transform actually drew
  (`BasicTransform.get_applied_params()`), with boxes and a mask as targets,
* draws the samples (torchvision.utils.draw_bounding_boxes / draw_segmentation_masks),
* builds the bundled scenes (a bundled photo with hand-placed boxes, or synthetic shapes with exact ground truth).

Boxes are `(K, 4)` float arrays in absolute pixel corner form `(x1, y1, x2, y2)` (Albumentations'
"pascal_voc", torchvision's "xyxy"). Masks are `(H, W)` uint8 instance maps: 0 = background,
k = the k-th box (1-based).

Seeding: a grid of n samples from `seed` gives sample i the seed `sample_seeds(seed, n)[i]`; that sample is
the pipeline called once after `pipeline.set_random_state(np.random.default_rng(s), random.Random(s))`.
One shared generator pair for all transforms is deliberate: Albumentations 2.0.8's `Compose(seed=...)`
seeds every transform with the *same* seed, so two p=0.5 flips would always fire together.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import random
import warnings
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network at import

import albumentations as A  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks  # noqa: E402

from core.data.images import CAT_PARTS, CAT_SAMPLE, sample_image  # noqa: E402

# A pixel-only pipeline with bbox_params is fine for us: the boxes pass through unchanged.
warnings.filterwarnings("ignore", message="Got processor for bboxes, but no transform to process it")

BOX_FORMAT = "pascal_voc"
"""Albumentations' name for absolute (x1, y1, x2, y2) pixel boxes."""
LABEL_FIELD = "labels"
DEFAULT_MIN_VISIBILITY = 0.3
"""A transformed box is dropped when less than this fraction of it remains inside the image."""
BACKGROUND = 0
"""Mask value of pixels that belong to no object."""

MAX_SAMPLES = 16
MAX_STEPS = 24
MAX_DEPTH = 4
MAX_OUTPUT_SIDE = 2048
"""Largest height/width a pipeline may ask for (crop sizes, resize targets)."""
SIZE_KEYS = ("height", "width", "size", "min_height", "min_width", "max_size")
COMPOSITIONS = ("Compose", "OneOf", "SomeOf", "Sequential")


class PipelineError(ValueError):
    """A user-facing message: the pipeline (JSON/YAML/parameters) cannot be used."""


# --- the curated transforms ---------------------------------------------------------------


@dataclass(frozen=True)
class TransformSpec:
    """One transform offered by the builder: its category and the arguments it starts with.

    `defaults` only overrides Albumentations' own defaults where those are required (crop sizes)
    or show nothing (Affine's identity ranges); see `default_step` for p.
    """

    name: str
    category: str
    defaults: dict[str, Any] = field(default_factory=dict)


_CURATED = [
    TransformSpec("HorizontalFlip", "geometric"),
    TransformSpec("VerticalFlip", "geometric"),
    TransformSpec("RandomRotate90", "geometric"),
    TransformSpec("Rotate", "geometric", {"limit": (-30, 30)}),
    TransformSpec("Affine", "geometric", {"scale": (0.8, 1.2), "translate_percent": (-0.1, 0.1),
                                          "rotate": (-15, 15), "shear": (-8, 8)}),
    TransformSpec("Perspective", "geometric"),
    TransformSpec("RandomResizedCrop", "geometric", {"size": (200, 200), "scale": (0.1, 1.0), "ratio": (0.5, 2.0)}),
    TransformSpec("RandomCrop", "geometric", {"height": 200, "width": 200, "pad_if_needed": True}),
    TransformSpec("CenterCrop", "geometric", {"height": 200, "width": 200, "pad_if_needed": True}),
    TransformSpec("RandomSizedBBoxSafeCrop", "geometric", {"height": 256, "width": 256}),
    TransformSpec("Resize", "geometric", {"height": 256, "width": 256}),
    TransformSpec("ElasticTransform", "geometric"),
    TransformSpec("GridDistortion", "geometric"),
    TransformSpec("ColorJitter", "colour"),
    TransformSpec("RandomBrightnessContrast", "colour"),
    TransformSpec("HueSaturationValue", "colour"),
    TransformSpec("RandomGamma", "colour"),
    TransformSpec("ToGray", "colour"),
    TransformSpec("CLAHE", "colour"),
    TransformSpec("Equalize", "colour"),
    TransformSpec("Posterize", "colour"),
    TransformSpec("Solarize", "colour"),
    TransformSpec("ChannelShuffle", "colour"),
    TransformSpec("PlanckianJitter", "colour"),
    TransformSpec("GaussianBlur", "blur/noise"),
    TransformSpec("MotionBlur", "blur/noise"),
    TransformSpec("MedianBlur", "blur/noise"),
    TransformSpec("Defocus", "blur/noise"),
    TransformSpec("GaussNoise", "blur/noise"),
    TransformSpec("ISONoise", "blur/noise"),
    TransformSpec("Sharpen", "blur/noise"),
    TransformSpec("ImageCompression", "blur/noise", {"quality_range": (20, 60)}),
    TransformSpec("Downscale", "blur/noise"),
    TransformSpec("CoarseDropout", "dropout", {"num_holes_range": (1, 4)}),
    TransformSpec("GridDropout", "dropout"),
    TransformSpec("ChannelDropout", "dropout"),
    TransformSpec("RandomRain", "weather"),
    TransformSpec("RandomFog", "weather"),
    TransformSpec("RandomSnow", "weather"),
    TransformSpec("RandomShadow", "weather"),
    TransformSpec("RandomGravel", "weather"),
]
TRANSFORMS: dict[str, TransformSpec] = {spec.name: spec for spec in _CURATED}
"""The transforms the builder offers (and pasted pipelines may use), by Albumentations class name."""


def transform_class(name: str) -> type:
    """The Albumentations class for a curated transform or composition name."""
    if name in TRANSFORMS or name in COMPOSITIONS:
        return getattr(A, name)
    if isinstance(getattr(A, name, None), type):
        raise PipelineError(
            f"{name} is an Albumentations transform this playground does not offer. "
            f"Choose one of: {', '.join(TRANSFORMS)}."
        )
    raise PipelineError(f"Unknown transform {name!r}. Choose one of: {', '.join(TRANSFORMS)}.")


def _argument_names(cls: type) -> set[str]:
    """Every keyword the class's __init__ (across its MRO) accepts, as Albumentations itself collects them."""
    names: set[str] = {"p"}
    for klass in cls.__mro__:
        if klass is object or "__init__" not in klass.__dict__:
            continue
        for name, parameter in inspect.signature(klass.__dict__["__init__"]).parameters.items():
            if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
                names.add(name)
    return names - {"self", "strict"}


def default_step(name: str) -> dict[str, Any]:
    """The serialized dict of one curated transform with its starting arguments,
    e.g. `{"__class_fullname__": "HorizontalFlip", "p": 0.5}`.

    Flips keep the book's p = 0.5; every other transform starts at p = 1 so that adding it shows its effect
    on every sample (p is in the arguments, to be lowered)."""
    spec = TRANSFORMS.get(name)
    if spec is None:
        transform_class(name)  # raises the clear message
    start = {"p": 1.0} if spec.category != "geometric" or "Flip" not in name else {}
    return make_step(name, {**start, **spec.defaults})


def make_step(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Serialized dict of transform `name` built with `params` (validated by Albumentations)."""
    node = {"__class_fullname__": name, **params}
    return _normalise(A.to_dict(_build_node(node, depth=1))["transform"])


def step_params(step: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a serialized step, without its class name."""
    return {k: v for k, v in step.items() if k != "__class_fullname__"}


# --- pipelines: the serialized dict, validation, JSON / YAML / Python ---------------------


def pipeline_dict(
    steps: list[dict[str, Any]],
    *,
    min_visibility: float = DEFAULT_MIN_VISIBILITY,
    clip: bool = True,
) -> dict[str, Any]:
    """`A.to_dict(A.Compose(steps, bbox_params=...))` for serialized `steps`, boxes in pascal_voc.

    The result is the pipeline's one source of truth in the UI (and the `augment` endpoint's input).
    """
    if not 0.0 <= float(min_visibility) <= 1.0:
        raise PipelineError(f"min_visibility must be between 0 and 1, got {min_visibility}.")
    node = {
        "__class_fullname__": "Compose",
        "p": 1.0,
        "transforms": list(steps),
        "bbox_params": _bbox_params_dict(min_visibility=float(min_visibility), clip=bool(clip)),
    }
    return validate_pipeline({"__version__": A.__version__, "transform": node})


def _bbox_params_dict(min_visibility: float = DEFAULT_MIN_VISIBILITY, clip: bool = True, **extra: Any) -> dict:
    params = A.BboxParams(format=BOX_FORMAT, label_fields=[LABEL_FIELD], min_visibility=min_visibility, clip=clip,
                          **extra)
    return params.to_dict_private()


def pipeline_steps(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """The top-level serialized steps of a pipeline dict."""
    return list(pipeline["transform"]["transforms"])


def with_steps(pipeline: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The same pipeline (bbox settings included) with other top-level steps."""
    node = dict(pipeline["transform"])
    node["transforms"] = list(steps)
    return validate_pipeline({"__version__": pipeline.get("__version__", A.__version__), "transform": node})


def min_visibility_of(pipeline: dict[str, Any]) -> float:
    bbox = pipeline["transform"].get("bbox_params") or {}
    return float(bbox.get("min_visibility", 0.0))


def with_min_visibility(pipeline: dict[str, Any], min_visibility: float) -> dict[str, Any]:
    return pipeline_dict(pipeline_steps(pipeline), min_visibility=min_visibility,
                         clip=bool((pipeline["transform"].get("bbox_params") or {}).get("clip", True)))


def move_step(steps: list[dict[str, Any]], index: int, offset: int) -> list[dict[str, Any]]:
    """A copy of `steps` with step `index` moved by `offset` places (clamped at the ends)."""
    _check_index(steps, index)
    target = min(max(index + offset, 0), len(steps) - 1)
    moved = list(steps)
    moved.insert(target, moved.pop(index))
    return moved


def remove_step(steps: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    _check_index(steps, index)
    return steps[:index] + steps[index + 1:]


def replace_step(steps: list[dict[str, Any]], index: int, step: dict[str, Any]) -> list[dict[str, Any]]:
    _check_index(steps, index)
    return steps[:index] + [step] + steps[index + 1:]


def _check_index(steps: list, index: int) -> None:
    if not steps:
        raise PipelineError("The pipeline is empty: add a step first.")
    if not 0 <= index < len(steps):
        raise PipelineError(f"Step {index + 1} does not exist: the pipeline has {len(steps)} step(s).")


def parse_pipeline(text: str) -> dict[str, Any]:
    """Parse pasted JSON (or YAML) in Albumentations' serialized form into a validated pipeline dict.

    Accepts the full form `{"__version__": ..., "transform": {...}}`, a bare transform dict, or a
    single non-Compose transform (wrapped into a Compose). Raises PipelineError with a clear message.
    """
    text = (text or "").strip()
    if not text:
        raise PipelineError("The pipeline is empty: paste Albumentations' serialized JSON (A.to_dict) or YAML.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as json_error:
        if text[:1] in "{[":
            raise PipelineError(
                f"The pipeline is not valid JSON: {json_error.msg} at line {json_error.lineno}, "
                f"column {json_error.colno}."
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as yaml_error:
            raise PipelineError(f"The pipeline is neither valid JSON nor YAML ({yaml_error}).") from None
    return validate_pipeline(data)


def validate_pipeline(data: Any) -> dict[str, Any]:
    """Check a serialized pipeline (names, arguments, sizes, nesting) and return it normalised.

    The returned dict is what `A.to_dict` gives for the rebuilt pipeline, so it always round-trips.
    """
    if not isinstance(data, dict):
        raise PipelineError("The pipeline must be a JSON object such as A.to_dict(A.Compose([...])) gives.")
    node = data.get("transform", data)
    if not isinstance(node, dict) or "__class_fullname__" not in node:
        raise PipelineError('The pipeline needs a "transform" object with a "__class_fullname__" key.')
    if _short_name(node) != "Compose":
        node = {"__class_fullname__": "Compose", "p": 1.0, "transforms": [node]}
    compose = _build_node(node, depth=0)
    return _normalise(A.to_dict(compose))


def _short_name(node: dict) -> str:
    name = node.get("__class_fullname__")
    if not isinstance(name, str) or not name:
        raise PipelineError('Every transform needs a "__class_fullname__" string, e.g. "HorizontalFlip".')
    return name.rsplit(".", 1)[-1]


def _build_node(node: Any, depth: int) -> Any:
    """Instantiate one serialized node (recursively), turning every problem into a PipelineError."""
    if not isinstance(node, dict):
        raise PipelineError(f"Each transform must be a JSON object, got {type(node).__name__}.")
    if depth > MAX_DEPTH:
        raise PipelineError(f"The pipeline is nested too deeply (at most {MAX_DEPTH} levels).")
    name = _short_name(node)
    if name == "Compose" and depth > 0:
        raise PipelineError("Compose may only be the outermost transform; use Sequential or OneOf inside.")
    cls = transform_class(name)
    args = {k: v for k, v in node.items() if k not in ("__class_fullname__", "id")}
    unknown = sorted(set(args) - _argument_names(cls))
    if unknown:
        raise PipelineError(
            f"Unknown parameter(s) {', '.join(map(repr, unknown))} for {name}; "
            f"valid: {', '.join(sorted(_argument_names(cls)))}."
        )
    for key in SIZE_KEYS:
        _check_size(name, key, args.get(key))
    if name in COMPOSITIONS:
        children = args.get("transforms")
        if not isinstance(children, list):
            raise PipelineError(f'{name} needs a "transforms" list.')
        if len(children) > MAX_STEPS:
            raise PipelineError(f"{name} has {len(children)} steps; at most {MAX_STEPS} are allowed.")
        args["transforms"] = [_build_node(child, depth + 1) for child in children]
        if name == "Compose":
            args["bbox_params"] = _bbox_params_dict(**_bbox_settings(args.get("bbox_params")))
            args.pop("keypoint_params", None)
            args.pop("additional_targets", None)
    try:
        return cls(**args)
    except PipelineError:
        raise
    except Exception as error:  # pydantic ValidationError, TypeError, ValueError from the library
        raise PipelineError(f"Invalid parameters for {name}: {_short_error(error)}") from None


def _bbox_settings(bbox: Any) -> dict[str, Any]:
    """The user's box filtering settings; format and label field are always ours (pascal_voc, "labels")."""
    if bbox is None:
        return {"min_visibility": DEFAULT_MIN_VISIBILITY, "clip": True}
    if not isinstance(bbox, dict):
        raise PipelineError('"bbox_params" must be an object such as A.BboxParams(...).to_dict_private() gives.')
    keep = ("min_visibility", "clip", "min_area", "min_width", "min_height", "max_accept_ratio", "check_each_transform")
    settings = {k: bbox[k] for k in keep if k in bbox}
    visibility = settings.get("min_visibility", 0.0)
    if not isinstance(visibility, (int, float)) or not 0.0 <= float(visibility) <= 1.0:
        raise PipelineError(f"bbox_params.min_visibility must be a number between 0 and 1, got {visibility!r}.")
    return settings


def _check_size(name: str, key: str, value: Any) -> None:
    if value is None:
        return
    values = value if isinstance(value, (list, tuple)) else [value]
    for item in values:
        if isinstance(item, (int, float)) and not isinstance(item, bool) and item > MAX_OUTPUT_SIDE:
            raise PipelineError(f"{name}: {key}={value} is above the limit of {MAX_OUTPUT_SIDE} pixels.")


def _short_error(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        try:
            parts = []
            for item in errors()[:3]:
                where = ".".join(str(x) for x in item.get("loc", ()) if x != "__root__")
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
            return "; ".join(parts)
        except Exception:  # pragma: no cover - fall back to the plain message
            pass
    return str(error).splitlines()[0][:300]


def _normalise(value: Any) -> Any:
    """Tuples -> lists, numpy scalars -> Python, enums -> values: the JSON view of a serialized dict."""
    return json.loads(json.dumps(A.core.serialization.serialize_enum(value), default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def build_pipeline(pipeline: dict[str, Any]) -> A.Compose:
    """A fresh `A.Compose` from a validated pipeline dict (`A.from_dict`), ready to record applied params."""
    compose = A.from_dict(pipeline)
    compose.save_applied_params = True
    return compose


def to_json(pipeline: dict[str, Any]) -> str:
    """The pipeline as `A.save(..., data_format="json")` writes it."""
    buffer = io.StringIO()
    A.save(build_pipeline(pipeline), buffer, data_format="json")
    return buffer.getvalue()


def to_yaml(pipeline: dict[str, Any]) -> str:
    """The pipeline as `A.save(..., data_format="yaml")` writes it."""
    buffer = io.StringIO()
    A.save(build_pipeline(pipeline), buffer, data_format="yaml")
    return buffer.getvalue()


def from_text(text: str, data_format: str = "json") -> dict[str, Any]:
    """Load JSON/YAML text with `A.load` and return the validated pipeline dict."""
    if data_format not in ("json", "yaml"):
        raise PipelineError(f"Unknown format {data_format!r}: use 'json' or 'yaml'.")
    parse_pipeline(text)  # clear messages first; A.load would raise the library's own errors
    return validate_pipeline(A.to_dict(A.load(io.StringIO(text), data_format=data_format)))


def to_python(pipeline: dict[str, Any], seed: int = 0, n: int = 8) -> str:
    """Python code that rebuilds the pipeline and draws sample i of the grid exactly as the app does.

    Scalar arguments equal to the transform's default are left out to keep the code short.
    """
    node = pipeline["transform"]
    lines = [
        "import random",
        "",
        "import albumentations as A",
        "import numpy as np",
        "",
        "transform = A.Compose(",
        "    [",
    ]
    for step in node["transforms"]:
        lines.append(f"        {_python_call(step, indent=8)},")
    lines.append("    ],")
    bbox = node.get("bbox_params")
    if bbox:
        settings = _bbox_settings(bbox)
        args = ", ".join(f"{k}={_python_value(v)}" for k, v in settings.items() if k in ("min_visibility", "clip"))
        lines.append(f'    bbox_params=A.BboxParams(format="{BOX_FORMAT}", label_fields=["{LABEL_FIELD}"], {args}),')
    lines += [
        ")",
        "",
        f"# the app's grid for seed={seed}: sample i uses seeds[i] (one generator pair shared by all transforms)",
        f"seeds = np.random.SeedSequence({seed}).generate_state({n})",
        "s = int(seeds[0])",
        "transform.set_random_state(np.random.default_rng(s), random.Random(s))",
        f"out = transform(image=image, mask=mask, bboxes=boxes, {LABEL_FIELD}=list(range(len(boxes))))",
        "# out['image'], out['mask'], out['bboxes'] (x1, y1, x2, y2), out['labels'] (indices of the kept boxes)",
    ]
    return "\n".join(lines) + "\n"


def _python_call(node: dict[str, Any], indent: int) -> str:
    name = _short_name(node)
    args = step_params(node)
    if name in COMPOSITIONS:
        children = args.pop("transforms", [])
        inner = ",\n".join(" " * (indent + 4) + _python_call(c, indent + 4) for c in children)
        rest = "".join(f", {k}={_python_value(v)}" for k, v in args.items() if k != "id")
        return f"A.{name}([\n{inner},\n{' ' * indent}]{rest})"
    shown = step_arguments(node)
    return f"A.{name}(" + ", ".join(f"{k}={_python_value(v)}" for k, v in shown.items()) + ")"


def step_arguments(step: dict[str, Any]) -> dict[str, Any]:
    """The arguments worth showing for a serialized leaf step: p, every range (lists are what a sample draws
    from), and the scalars that differ from the transform's defaults."""
    args = step_params(step)
    defaults = _class_defaults(_short_name(step), args)
    return {k: v for k, v in args.items() if k == "p" or isinstance(v, list) or defaults.get(k, object()) != v}


def _class_defaults(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The serialized defaults of a class; crops are built with the step's own required size arguments."""
    required = {k: args[k] for k in ("size", "height", "width") if k in args}
    for attempt in ({}, required):
        try:
            return _normalise(step_params(A.to_dict(getattr(A, name)(**attempt))["transform"]))
        except Exception:  # noqa: BLE001 - required arguments missing: try with the step's sizes
            continue
    return {}


def _python_value(value: Any) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_python_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_python_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


# --- running: n samples from one seed ---------------------------------------------------


@dataclass
class AppliedStep:
    """What one leaf transform did in one sample: `params` are JSON-friendly; empty when not applied."""

    name: str
    applied: bool
    params: dict[str, Any]


@dataclass
class Sample:
    """One augmented sample.

    image: (H', W', 3) uint8. boxes: (K', 4) float32 (x1, y1, x2, y2) of the kept boxes;
    kept: indices (into the input boxes) of those boxes; dropped: indices of the boxes the pipeline removed;
    mask: (H', W') uint8 instance map or None; steps: every leaf transform, applied or not, in order.
    """

    index: int
    seed: int
    image: np.ndarray
    boxes: np.ndarray
    kept: list[int]
    dropped: list[int]
    mask: np.ndarray | None
    steps: list[AppliedStep]


def sample_seeds(seed: int, n: int) -> list[int]:
    """Per-sample seeds of a grid: sample i of seed s is the same whatever n is (a prefix property)."""
    return [int(s) for s in np.random.SeedSequence(int(seed)).generate_state(int(n))]


def augment_samples(
    image: np.ndarray,
    pipeline: dict[str, Any],
    n: int,
    seed: int,
    boxes: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> list[Sample]:
    """Run `pipeline` n times on `image` (and its boxes and mask) from one seed.

    Args:
        image: (H, W, 3) uint8 RGB.
        pipeline: a validated pipeline dict (`validate_pipeline` / `parse_pipeline` / `pipeline_dict`).
        n: number of samples, 1..MAX_SAMPLES.
        seed: non-negative integer.
        boxes: (K, 4) (x1, y1, x2, y2) in pixels, or None.
        mask: (H, W) integer instance map or None.
    Returns:
        n Samples; the same arguments always give the same samples.
    """
    if not 1 <= int(n) <= MAX_SAMPLES:
        raise PipelineError(f"The number of samples must be between 1 and {MAX_SAMPLES}, got {n}.")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PipelineError(f"Expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}.")
    height, width = image.shape[:2]
    boxes = check_boxes(boxes, height, width)
    data: dict[str, Any] = {"image": image, "bboxes": boxes, LABEL_FIELD: list(range(len(boxes)))}
    if mask is not None:
        if mask.shape != (height, width):
            raise PipelineError(f"The mask has shape {mask.shape}, the image {(height, width)}.")
        data["mask"] = mask.astype(np.uint8, copy=False)
    samples = []
    compose = build_pipeline(pipeline)  # one per request: never shared between threads
    leaves = _leaves(compose)
    for index, sample_seed in enumerate(sample_seeds(seed, n)):
        for leaf in leaves:
            leaf.params = {}  # a leaf that is not called this time (OneOf, p) must not show the last sample's draw
        compose.set_random_state(np.random.default_rng(sample_seed), random.Random(sample_seed))
        try:
            out = compose(**data)
        except Exception as error:
            raise PipelineError(f"The pipeline failed on this image: {_short_error(error)}") from None
        kept = [int(k) for k in out[LABEL_FIELD]]
        out_boxes = np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4)
        samples.append(Sample(
            index=index,
            seed=sample_seed,
            image=np.ascontiguousarray(out["image"]),
            boxes=out_boxes,
            kept=kept,
            dropped=[k for k in range(len(boxes)) if k not in kept],
            mask=out.get("mask"),
            steps=[_applied(t) for t in leaves],
        ))
    return samples


def check_boxes(boxes: Any, height: int, width: int) -> np.ndarray:
    """Validate (K, 4) (x1, y1, x2, y2) pixel boxes against an image of height x width; returns float32."""
    if boxes is None:
        return np.zeros((0, 4), dtype=np.float32)
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if len(boxes) else np.zeros((0, 4))
    for k, (x1, y1, x2, y2) in enumerate(array):
        if not np.all(np.isfinite([x1, y1, x2, y2])):
            raise PipelineError(f"Box {k + 1} has a coordinate that is not a finite number.")
        if not (x2 > x1 and y2 > y1):
            raise PipelineError(f"Box {k + 1} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) needs x2 > x1 and y2 > y1.")
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            raise PipelineError(
                f"Box {k + 1} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the {width}x{height} image."
            )
    return array.astype(np.float32)


def _leaves(transform: Any) -> list[Any]:
    if isinstance(transform, A.BaseCompose):
        return [leaf for child in transform.transforms for leaf in _leaves(child)]
    return [transform]


def _applied(transform: Any) -> AppliedStep:
    params = transform.get_applied_params()
    return AppliedStep(
        name=type(transform).__name__,
        applied=bool(params),
        params=describe_params(params) if params else {},
    )


NOISE_KEYS = frozenset({"shape", "interpolation", "mask_interpolation", "fill", "fill_mask", "bbox_matrix",
                        "matrix_bbox", "x_min", "x_max", "y_min", "y_max", "pad_params", "output_shape"})
"""Bookkeeping entries of applied params that say nothing about the random draw."""
MAX_ARRAY_ITEMS = 9


def describe_params(params: dict[str, Any]) -> dict[str, Any]:
    """JSON-friendly view of what a transform drew: scalars as they are, big arrays by their shape,
    plus derived numbers: a crop box's area fraction and aspect ratio, a matrix's rotation angle and scale."""
    shape = params.get("shape")
    described: dict[str, Any] = {}
    for key, value in params.items():
        if key in NOISE_KEYS:
            continue
        described[key] = _jsonable(value)
    crop = params.get("crop_coords")
    if crop is not None and shape is not None:
        x1, y1, x2, y2 = (float(c) for c in crop)
        described["crop_area_fraction"] = round((x2 - x1) * (y2 - y1) / float(shape[0] * shape[1]), 4)
        described["crop_aspect_w_over_h"] = round((x2 - x1) / max(y2 - y1, 1e-9), 4)
    matrix = params.get("matrix")
    if matrix is not None and "rotate" not in params and np.shape(matrix) in ((2, 3), (3, 3)):
        m = np.asarray(matrix, dtype=np.float64)
        described["angle_deg"] = round(math.degrees(math.atan2(m[0, 1], m[0, 0])), 3)
        described["matrix_scale"] = round(math.hypot(m[0, 0], m[0, 1]), 4)
    return described


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.size > MAX_ARRAY_ITEMS:
            return f"array {tuple(value.shape)}"
        return _jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ARRAY_ITEMS:
            return f"list of {len(value)}"
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (int, str)) or value is None:
        return value
    return str(value)


def summary(step: AppliedStep, digits: int = 3) -> str:
    """One readable line for the parameters table, e.g. 'brightness=1.138, contrast=1.106'."""
    if not step.applied:
        return "not applied"
    if not step.params:
        return "applied"
    parts = []
    for key, value in step.params.items():
        if key == "matrix" and "angle_deg" in step.params:
            continue  # the angle and scale read from it say more
        parts.append(f"{key}={_short(value, digits)}")
    return ", ".join(parts)


def _short(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{round(value, digits):g}"
    if isinstance(value, list):
        return "(" + ", ".join(_short(v, digits) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v, digits)}" for k, v in value.items()) + "}"
    return str(value)


# --- drawing ---------------------------------------------------------------------------------

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]


def draw_sample(
    image: np.ndarray,
    boxes: np.ndarray,
    box_ids: list[int],
    names: list[str],
    mask: np.ndarray | None = None,
    alpha: float = 0.4,
) -> np.ndarray:
    """Overlay a sample's mask and boxes: (H, W, 3) uint8 in, (H, W, 3) uint8 out.

    boxes: (K, 4) (x1, y1, x2, y2); box_ids: index of each box into `names` (also picks its colour);
    mask: (H, W) instance map whose value k+1 belongs to names[k].
    """
    if not image.flags.writeable or not image.flags.c_contiguous:
        image = np.array(image, order="C")  # torch wants a writable, contiguous array
    tensor = torch.from_numpy(image).permute(2, 0, 1)  # (3, H, W)
    if mask is not None:
        ids = [k for k in range(len(names)) if np.any(mask == k + 1)]
        if ids:
            masks = torch.from_numpy(np.stack([mask == k + 1 for k in ids]))  # (M, H, W) bool
            colors = [PALETTE[k % len(PALETTE)] for k in ids]
            tensor = draw_segmentation_masks(tensor, masks, alpha=alpha, colors=colors)
    if len(boxes):
        side = max(image.shape[:2])
        font = _label_font()
        tensor = draw_bounding_boxes(
            tensor,
            torch.tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4),  # a copy: boxes may be read-only
            labels=[names[k] for k in box_ids],
            colors=[PALETTE[k % len(PALETTE)] for k in box_ids],
            width=max(2, round(side / 200)),
            font=font,
            font_size=max(11, round(side / 18)) if font else None,
        )
    return np.ascontiguousarray(tensor.permute(1, 2, 0).numpy())


FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)
"""Readable label fonts when the system has one; otherwise Pillow's small built-in bitmap font."""


def _label_font() -> str | None:
    return next((path for path in FONT_CANDIDATES if os.path.exists(path)), None)


# --- scenes: images with ground-truth boxes and masks ----------------------------------------


@dataclass
class Scene:
    """An image with objects: image (H, W, 3) uint8; boxes (K, 4) float32 (x1, y1, x2, y2); names (K);
    mask (H, W) uint8 instance map (k+1 = object k); `exact` when the boxes are the masks' true extents."""

    image: np.ndarray
    boxes: np.ndarray
    names: list[str]
    mask: np.ndarray
    exact: bool


def _ellipse_mask(height: int, width: int, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
    """Instance map of the ellipses inscribed in `boxes` (a rough mask for hand-placed boxes)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width] + 0.5  # pixel centres
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        mask[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0] = k + 1
    return mask


def _photo_scene(sample: str, objects: dict[str, tuple[float, float, float, float]]) -> Scene:
    image = sample_image(sample)
    boxes = list(objects.values())
    return Scene(image=image, boxes=np.asarray(boxes, dtype=np.float32), names=list(objects),
                 mask=_ellipse_mask(image.shape[0], image.shape[1], boxes), exact=False)


def shapes_scene(height: int = 384, width: int = 512) -> Scene:
    """A synthetic scene with exact ground truth: a rectangle, a disc and a triangle on a textured background.

    Boxes are the exact extents of the mask pixels (continuous corners: pixel columns a..b-1 -> x1=a, x2=b).
    """
    rng = np.random.default_rng(0)  # fixed texture: the scene itself is part of the app, not of a request
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack([90 + 80 * xx / width, 110 + 60 * yy / height, 150 - 50 * xx / width], axis=-1)
    background += rng.normal(0, 12, size=(height, width, 3))
    image = np.clip(background, 0, 255).astype(np.uint8)
    mask = np.zeros((height, width), dtype=np.uint8)
    # rectangle
    r = (round(0.08 * width), round(0.15 * height), round(0.40 * width), round(0.55 * height))
    mask[r[1]:r[3], r[0]:r[2]] = 1
    # disc
    cx, cy, radius = 0.70 * width, 0.32 * height, 0.16 * min(height, width)
    mask[((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) <= radius**2] = 2
    # triangle (half-plane tests on pixel centres)
    a, b, c = (0.50 * width, 0.62 * height), (0.80 * width, 0.92 * height), (0.30 * width, 0.90 * height)

    def side(p, q):
        return (q[0] - p[0]) * (yy + 0.5 - p[1]) - (q[1] - p[1]) * (xx + 0.5 - p[0])

    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    inside = ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))
    mask[inside & (mask == 0)] = 3
    colours = {1: (220, 40, 40), 2: (40, 200, 70), 3: (250, 220, 40)}
    for value, colour in colours.items():
        image[mask == value] = colour
    names = ["rectangle", "disc", "triangle"]
    return Scene(image=image, boxes=mask_boxes(mask, len(names)), names=names, mask=mask, exact=True)


def mask_boxes(mask: np.ndarray, count: int) -> np.ndarray:
    """(count, 4) exact extents (x1, y1, x2, y2) of the instances 1..count of an instance map;
    rows of absent instances are NaN."""
    boxes = np.full((count, 4), np.nan, dtype=np.float32)
    for k in range(count):
        ys, xs = np.nonzero(mask == k + 1)
        if len(xs):
            boxes[k] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


SCENES: dict[str, Any] = {
    "cat (the book's example)": lambda: _photo_scene(CAT_SAMPLE, CAT_PARTS),
    "shapes (exact boxes and mask)": shapes_scene,
    "astronaut": lambda: _photo_scene(
        "astronaut",
        {"face": (152, 18, 302, 192), "patch": (132, 346, 212, 426), "helmet": (276, 342, 512, 512),
         "shuttle": (352, 0, 470, 285)},
    ),
}
"""Bundled scenes by UI name: photos with hand-placed boxes and rough (ellipse) masks, and exact shapes."""
DEFAULT_SCENE = "cat (the book's example)"

_scene_cache: dict[str, Scene] = {}


def scene(name: str) -> Scene:
    """A bundled scene by name (built once; callers get the cached arrays, read-only)."""
    if name not in SCENES:
        raise PipelineError(f"Unknown scene {name!r}; choose one of {list(SCENES)}.")
    if name not in _scene_cache:
        built = SCENES[name]()
        for array in (built.image, built.boxes, built.mask):
            array.setflags(write=False)
        _scene_cache[name] = built
    return _scene_cache[name]


# --- presets: the book's figures --------------------------------------------------------------

_BOOK_CROP = {"__class_fullname__": "RandomResizedCrop", "p": 1.0, "size": [200, 200], "scale": [0.1, 1.0],
              "ratio": [0.5, 2.0]}


def _jitter(brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0, hue: float = 0.0) -> dict:
    return {"__class_fullname__": "ColorJitter", "p": 1.0, "brightness": brightness, "contrast": contrast,
            "saturation": saturation, "hue": hue}


PRESETS: dict[str, list[dict[str, Any]]] = {
    "Book: flip + colour + crop (composed)": [
        {"__class_fullname__": "HorizontalFlip", "p": 0.5}, _jitter(0.5, 0.5, 0.5, 0.5), _BOOK_CROP],
    "Book: horizontal flip": [{"__class_fullname__": "HorizontalFlip", "p": 0.5}],
    "Book: vertical flip": [{"__class_fullname__": "VerticalFlip", "p": 0.5}],
    "Book: RandomResizedCrop 200x200, scale (0.1, 1), ratio (0.5, 2)": [_BOOK_CROP],
    "Book: brightness 0.5": [_jitter(brightness=0.5)],
    "Book: hue 0.5": [_jitter(hue=0.5)],
    "Book: brightness, contrast, saturation, hue 0.5": [_jitter(0.5, 0.5, 0.5, 0.5)],
    "Detection: flip + affine + brightness/contrast": [
        {"__class_fullname__": "HorizontalFlip", "p": 0.5},
        {"__class_fullname__": "Affine", "p": 1.0, "scale": [0.8, 1.2], "translate_percent": [-0.1, 0.1],
         "rotate": [-20, 20]},
        {"__class_fullname__": "RandomBrightnessContrast", "p": 0.8}],
}
"""Named starting pipelines (serialized steps). The book's torchvision transforms map one to one:
RandomHorizontalFlip -> HorizontalFlip(p=0.5), ColorJitter(b, c, s, h) -> ColorJitter(b, c, s, h, p=1),
RandomResizedCrop((200, 200), scale, ratio) -> RandomResizedCrop(size=(200, 200), scale, ratio, p=1)."""
DEFAULT_PRESET = "Book: flip + colour + crop (composed)"


def preset(name: str, min_visibility: float = DEFAULT_MIN_VISIBILITY) -> dict[str, Any]:
    """A preset as a validated pipeline dict."""
    if name not in PRESETS:
        raise PipelineError(f"Unknown preset {name!r}; choose one of {list(PRESETS)}.")
    return pipeline_dict(PRESETS[name], min_visibility=min_visibility)
