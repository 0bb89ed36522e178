"""The interactive lecture: a guided path through the lecture outline that asks before it shows.

Pure (no UI): each step has an idea, a formula, an optional figure and one prediction question per variant,
whose numeric answers are computed live by the lab's own functions from numbers drawn for the variant.

    from core.lecture import lecture_step, question, grade
    lecture_step(9, 0)["answer"]          # the NMS step, the book's numbers: 2.0
    grade(9, 0, "3").message              # 'Not quite: 3 is 1 too high (50% off); the answer is 2.'
"""

from core.lecture.figures import Figure, Line, Rect, Text
from core.lecture.grading import MAX_PREDICTION_CHARS, PredictionError, format_number, parse_number
from core.lecture.model import MAX_VARIANT, Grade, LabLink, Question, Step, check_variant
from core.lecture.path import STEPS, TOPICS, get_step, grade, lecture_step, num_steps, question, step_number

__all__ = [
    "STEPS",
    "TOPICS",
    "MAX_VARIANT",
    "MAX_PREDICTION_CHARS",
    "Figure",
    "Rect",
    "Line",
    "Text",
    "Grade",
    "LabLink",
    "Question",
    "Step",
    "PredictionError",
    "check_variant",
    "format_number",
    "parse_number",
    "get_step",
    "step_number",
    "num_steps",
    "question",
    "grade",
    "lecture_step",
]
