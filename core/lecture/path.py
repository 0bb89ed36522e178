"""The lecture's path: its steps in the outline's order, and the functions the UI, the API and the poll use."""

from __future__ import annotations

from typing import Any

from core.lecture import steps_detection, steps_generative, steps_segmentation
from core.lecture.grading import format_number, grade_question
from core.lecture.model import Grade, Question, Step, check_variant

__all__ = ["STEPS", "TOPICS", "num_steps", "get_step", "step_number", "question", "grade", "lecture_step"]

STEPS: tuple[Step, ...] = steps_detection.STEPS + steps_segmentation.STEPS + steps_generative.STEPS
"""Every step, in the lecture's order; step numbers count from 1."""

TOPICS = {
    1: "Image augmentation", 2: "Fine-tuning", 3: "Object detection and bounding boxes", 4: "Anchor boxes",
    5: "Intersection over union", 6: "Labeling anchors", 7: "Non-maximum suppression", 8: "Multiscale detection",
    9: "Detection data set", 10: "SSD", 11: "R-CNN", 12: "Fast R-CNN", 13: "Faster R-CNN",
    14: "Semantic segmentation", 15: "Transposed convolution", 16: "FCN", 17: "GAN", 18: "CGAN", 19: "CycleGAN",
    20: "ProGAN", 21: "WGAN",
}
"""The outline's 21 topics (shared/docs/lecture-outline.md)."""


def num_steps() -> int:
    return len(STEPS)


def get_step(step: int | str) -> Step:
    """A step by its number (1..`num_steps()`) or its id; ValueError names the valid range."""
    if isinstance(step, str) and not step.strip().lstrip("-").isdigit():
        for candidate in STEPS:
            if candidate.id == step:
                return candidate
        raise ValueError(f"There is no lecture step {step!r}; the ids are {', '.join(s.id for s in STEPS)}.")
    try:
        number = int(step)
    except (TypeError, ValueError):
        raise ValueError(f"The step must be a number from 1 to {len(STEPS)}, got {step!r}.") from None
    if isinstance(step, bool) or (isinstance(step, float) and not step.is_integer()) or not 1 <= number <= len(STEPS):
        raise ValueError(f"The step must be a number from 1 to {len(STEPS)}, got {step!r}.")
    return STEPS[number - 1]


def step_number(step: Step | str) -> int:
    """The 1-based number of a step (or of a step id)."""
    wanted = step if isinstance(step, str) else step.id
    for number, candidate in enumerate(STEPS, start=1):
        if candidate.id == wanted:
            return number
    raise ValueError(f"There is no lecture step {wanted!r}.")


def question(step: int | str | Step, variant: int) -> Question:
    """The step's question for this variant (answer included: the server keeps it until Reveal)."""
    chosen = step if isinstance(step, Step) else get_step(step)
    return chosen.ask(check_variant(variant))


def grade(step: int | str | Step, variant: int, prediction: object) -> Grade:
    """Grade a prediction for the step's question in this variant.

    Raises:
        ValueError: a bad step or variant; `PredictionError` (a ValueError) for an empty, non-numeric or unknown
        prediction, with a message for the student.
    """
    return grade_question(question(step, variant), prediction)


def lecture_step(step: int, variant: int) -> dict[str, Any]:
    """Everything about one step of one variant, as plain JSON (the `/lecture` endpoint).

    Keys: ``step`` (1-based), ``steps``, ``id``, ``topic`` (the outline's number), ``topic_title``, ``title``,
    ``idea``, ``formula`` (LaTeX or null), ``question``, ``kind`` ("number" or "choice"), ``options`` (choices, else
    []), ``answer`` (a number, or the option), ``answer_text``, ``tolerance``, ``unit``, ``explanation``, ``link``
    (``?tab=...``), ``link_tab``, ``link_params``, ``variant``, ``params`` (the numbers drawn), ``source`` ({label,
    url}).
    """
    chosen = get_step(step)
    variant = check_variant(variant)
    asked = chosen.ask(variant)
    answer: float | str = asked.answer if asked.kind == "choice" else float(asked.answer)
    answer_text = str(answer) if asked.kind == "choice" else format_number(float(answer)) + (
        f" {asked.unit}" if asked.unit else "")
    return {
        "step": STEPS.index(chosen) + 1,
        "steps": len(STEPS),
        "id": chosen.id,
        "topic": chosen.topics[0],
        "topics": list(chosen.topics),
        "topic_title": TOPICS[chosen.topics[0]],
        "title": chosen.title,
        "idea": chosen.idea,
        "formula": chosen.formula,
        "question": asked.text,
        "kind": asked.kind,
        "options": list(asked.options),
        "answer": answer,
        "answer_text": answer_text,
        "tolerance": asked.tolerance,
        "unit": asked.unit,
        "explanation": asked.explanation,
        "link": asked.link.query(),
        "link_tab": asked.link.tab,
        "link_params": dict(asked.link.params),
        "variant": variant,
        "params": dict(asked.params),
        "source": {"label": chosen.source[0], "url": chosen.source[1]},
    }
