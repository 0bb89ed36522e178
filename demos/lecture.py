"""The Lecture tab: a guided path through the lecture that asks the class to predict before it shows.

Each step shows the idea, the formula, a picture computed by the lab and one question; the student enters a
prediction (a number or a choice) and presses Reveal. The answer, how far off the prediction was, the explanation
and the "Open in the lab" link are computed on the server at Reveal: before it, the answer is nowhere in the page
(not in a hidden component, not in a `gr.State`, not in the page's config).

For the app: `build()` returns the tab's `TabUI` (its view is `LectureView`: ``?tab=lecture&step=K&variant=V``;
projector mode, ``&projector=1``, is the lab's); `CSS` joins the app's CSS (projector mode, figures, the reveal).
- Endpoints: ``/lecture(step, variant)`` (the teacher's API: it returns the answer) and
  ``/lecture_grade(step, variant, prediction)``.

Keyboard: Tab reaches every control; PageDown/PageUp (what presentation clickers send) and, outside text fields,
the → and ← keys move to the next and previous step.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, ClassVar

import gradio as gr

from core.lecture import (
    MAX_VARIANT, STEPS, TOPICS, Figure, Line, Rect, Text, check_variant, get_step, grade, lecture_step, question,
)
from core.lecture.grading import format_number, grade_question
from core.poll.rules import PollError, PollQuestion
from demos import poll as poll_ui
from demos.common import LATEX, to_jsonable
from demos.inputs import user_errors
from demos.router import TabUI
from demos.view import View, param

TITLE = "Lecture"

PROJECTOR_CLASS = "lab-projector"
"""The class on <body> that turns projector mode on."""

TAB_TITLES = {
    "augmentation": "Augmentation", "anchors": "Anchors & IoU", "nms": "NMS", "transposed_conv": "Transposed conv",
    "dataset": "Dataset", "detection": "Detection", "segmentation": "Segmentation", "gan_lab": "GAN lab",
    "generative": "Generative models", "finetune": "Fine-tuning", "lecture": "Lecture",
}
"""Tab ids -> the titles the tabs show (for the link's words)."""

# --- styles -------------------------------------------------------------------------------------------------

CSS = f"""
#lecture-root .lecture-figure svg {{width: 100%; height: auto; max-height: 300px; display: block; margin: 0 auto}}
#lecture-root .lecture-figure:empty {{display: none}}
#lecture-question {{font-size: 1.1em}}
#lecture-reveal:empty {{display: none}}
#lecture-reveal {{border-left: 5px solid #1565c0; padding-left: 12px}}
#lecture-link a {{font-weight: 600; font-size: 1.05em}}
#lecture-nav button {{min-width: 0}}
#lecture-root .katex-display {{overflow-x: auto; overflow-y: hidden; padding: 2px 0}}
body.{PROJECTOR_CLASS} #lecture-secondary, body.{PROJECTOR_CLASS} #lecture-help {{display: none !important}}
body.{PROJECTOR_CLASS} #lecture-root {{
  --text-xxs: 16px; --text-xs: 18px; --text-sm: 20px; --text-md: 22px; --text-lg: 26px; --text-xl: 30px;
  --text-xxl: 36px; --prose-text-size: 22px; --input-text-size: 22px; --block-label-text-size: 20px;
  --block-info-text-size: 20px; --block-title-text-size: 20px; --checkbox-label-text-size: 22px;
  --button-large-text-size: 24px; --button-medium-text-size: 22px; --button-small-text-size: 20px;
  font-size: 22px;
}}
body.{PROJECTOR_CLASS} #lecture-root .prose, body.{PROJECTOR_CLASS} #lecture-root .prose p,
body.{PROJECTOR_CLASS} #lecture-root .prose li {{font-size: 22px !important; line-height: 1.45}}
body.{PROJECTOR_CLASS} #lecture-root .prose h3 {{font-size: 34px !important}}
body.{PROJECTOR_CLASS} #lecture-root #lecture-question, body.{PROJECTOR_CLASS} #lecture-root #lecture-question p {{
  font-size: 28px !important; font-weight: 600}}
body.{PROJECTOR_CLASS} #lecture-root #lecture-reveal, body.{PROJECTOR_CLASS} #lecture-root #lecture-reveal p,
body.{PROJECTOR_CLASS} #lecture-root #lecture-reveal li {{font-size: 26px !important}}
body.{PROJECTOR_CLASS} #lecture-nav button {{white-space: nowrap}}
body.{PROJECTOR_CLASS} #lecture-root label, body.{PROJECTOR_CLASS} #lecture-root input,
body.{PROJECTOR_CLASS} #lecture-root textarea,
body.{PROJECTOR_CLASS} #lecture-root button {{font-size: 22px !important}}
body.{PROJECTOR_CLASS} #lecture-root .lecture-figure svg {{max-height: 62vh}}
body.{PROJECTOR_CLASS} .lab-title .prose p, body.{PROJECTOR_CLASS} #lecture-join {{display: none !important}}
body.{PROJECTOR_CLASS} #lecture-root .katex {{font-size: 1.15em}}
"""

# --- figures: core's shapes as SVG --------------------------------------------------------------------------

ROLE_COLORS = {
    "frame": "#555555", "a": "#c62828", "b": "#1565c0", "c": "#2e7d32", "d": "#e65100", "e": "#6a1b9a",
    "muted": "#8a8a8a", "cell": "#888888", "highlight": "#b8860b", "unknown": "#1f4e9e", "text": "#222222",
}
ROLE_DASHES = {"b": "9 5", "c": "2 4", "d": "10 4 2 4", "e": "14 6", "muted": "5 5"}
"""Each box role has its own line style, so colour never carries meaning alone (labels name them too)."""
ROLE_FILLS = {"highlight": "#ffe08a", "unknown": "#cfe3ff"}


def render_svg(figure: Figure | None) -> str:
    """A core figure as an inline SVG (scales with its container; strokes keep their screen width)."""
    if figure is None:
        return ""
    font = figure.font_size
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{figure.left:g} {figure.top:g} {figure.width:g} '
        f'{figure.height:g}" role="img" aria-label="{html.escape(figure.description)}" '
        f'font-family="system-ui, sans-serif" font-size="{font:g}"><title>{html.escape(figure.description)}</title>'
    ]
    for shape in figure.shapes:
        color = ROLE_COLORS.get(shape.role, "#222222")
        if isinstance(shape, Rect):
            x, y = min(shape.x1, shape.x2), min(shape.y1, shape.y2)
            w, h = abs(shape.x2 - shape.x1), abs(shape.y2 - shape.y1)
            if shape.fill:
                fill = ROLE_FILLS.get(shape.role, color)
                parts.append(f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" fill="{fill}" '
                             f'fill-opacity="{0.85 if shape.role in ROLE_FILLS else 1}" stroke="{color}" '
                             'stroke-width="1" vector-effect="non-scaling-stroke"/>')
            else:
                width = 1.2 if shape.role in ("cell", "frame", "muted") else 2.6
                fill = "#ffffff" if shape.role == "cell" else "none"
                dash = ROLE_DASHES.get(shape.role)
                parts.append(f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" fill="{fill}" stroke="{color}" '
                             f'stroke-width="{width}" vector-effect="non-scaling-stroke"'
                             + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        elif isinstance(shape, Line):
            dash = ROLE_DASHES.get(shape.role)
            width = 1.2 if shape.role in ("frame", "muted") else 2.6
            parts.append(f'<line x1="{shape.x1:g}" y1="{shape.y1:g}" x2="{shape.x2:g}" y2="{shape.y2:g}" '
                         f'stroke="{color}" stroke-width="{width}" vector-effect="non-scaling-stroke"'
                         + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        elif isinstance(shape, Text):
            anchor = shape.anchor if shape.anchor in ("start", "middle", "end") else "middle"
            parts.append(f'<text x="{shape.x:g}" y="{shape.y:g}" font-size="{font * shape.size:g}" '
                         f'text-anchor="{anchor}" fill="{color}" paint-order="stroke" stroke="#ffffff" '
                         f'stroke-width="{font * shape.size / 6:g}">{html.escape(shape.text)}</text>')
    parts.append("</svg>")
    return f'<div class="lecture-figure">{"".join(parts)}</div>'


# --- state: what a link to a lecture step holds -------------------------------------------------------------


@dataclass(frozen=True)
class LectureView(View):
    """The lecture's view as a link: ``?tab=lecture&step=K&variant=V`` (the lab adds ``&projector=1``)."""

    ALWAYS: ClassVar[tuple[str, ...]] = ("step", "variant")

    step: int = param(1, low=1, high=len(STEPS), label="step")
    variant: int = param(0, low=0, high=MAX_VARIANT, label="variant")


KEYS_JS = """() => {
  if (window.labLectureKeys) { return; }
  window.labLectureKeys = true;
  document.addEventListener("keydown", (event) => {
    const root = document.getElementById("lecture-root");
    if (!root || root.offsetParent === null || event.altKey || event.ctrlKey || event.metaKey) { return; }
    const target = event.target;
    const tag = ((target && target.tagName) || "").toLowerCase();
    const role = (target && target.getAttribute && target.getAttribute("role")) || "";
    const typing = tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable);
    let id = null;
    if (event.key === "PageDown") { id = "lecture-next"; }
    else if (event.key === "PageUp") { id = "lecture-prev"; }
    else if (!typing && !["tab", "radio", "slider", "option", "listbox", "combobox"].includes(role)) {
      if (event.key === "ArrowRight") { id = "lecture-next"; }
      else if (event.key === "ArrowLeft") { id = "lecture-prev"; }
    }
    const button = id && document.getElementById(id);
    if (button) { event.preventDefault(); button.click(); }
  });
}"""
"""PageDown/PageUp anywhere, → and ← outside text fields and widgets that use arrows, move between steps."""

# --- the views ------------------------------------------------------------------------------------------------


def step_choices() -> list[tuple[str, int]]:
    return [(f"{number}. {step.title}", number) for number, step in enumerate(STEPS, start=1)]


def _clamp_step(step: Any) -> int:
    try:
        number = int(step)
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), len(STEPS))


def _view_values(step: Any, variant: Any) -> dict[str, Any]:
    """What the page shows of a step before Reveal, as plain values. The question (answer included) is computed
    here, and only its text, options and picture leave the server."""
    with user_errors():
        chosen = get_step(_clamp_step(step))
        number = STEPS.index(chosen) + 1
        asked = question(chosen, variant)
    topic = chosen.topics[0]
    formula = f"\n\n$${chosen.formula}$$" if chosen.formula else ""
    label, url = chosen.source
    unit = f" (in {asked.unit})" if asked.unit else ""
    return {
        "heading": (f"Step {number} of {len(STEPS)} · topic {topic} of 21: {TOPICS[topic]}\n\n### {chosen.title}\n\n"
                    f"{chosen.idea}{formula}\n\n[{label}]({url})"),
        "figure": render_svg(asked.figure),
        "prompt": f"**Predict{unit}:** {asked.text}",
        "is_number": asked.kind == "number",
        "options": list(asked.options),
    }


def step_view(step: Any, variant: Any) -> tuple:
    """The step's outputs before Reveal: (header, figure, question, number input, choice input, reveal text,
    reveal figure, link); the reveal's three are emptied."""
    values = _view_values(step, variant)
    is_number = values["is_number"]
    return (
        values["heading"],
        values["figure"],
        values["prompt"],
        gr.Textbox(value="", visible=is_number),
        gr.Radio(choices=values["options"], value=None, visible=not is_number),
        "",
        "",
        "",
    )


def reveal(step: Any, variant: Any, number_text: Any, choice: Any) -> tuple[str, str, str]:
    """The reveal, computed now: (answer, how far off and explanation; reveal figure; "Open in the lab" link)."""
    with user_errors():
        chosen = get_step(_clamp_step(step))
        asked = question(chosen, variant)
        result = grade_question(asked, number_text if asked.kind == "number" else choice)
    verdict = "✓ Right" if result.correct else "✗ Not quite"
    text = (f"#### {verdict}\n\n**Answer: {result.answer_text}**\n\n{result.message}\n\n{asked.explanation}")
    tab = TAB_TITLES.get(asked.link.tab, asked.link.tab)
    link = (f'<p id="lecture-lab-link"><a href="{html.escape(asked.link.query())}" target="_blank" '
            f'rel="noopener">Open this in the lab: the {html.escape(tab)} tab ↗</a></p>')
    return text, render_svg(asked.reveal_figure), link


def move(step: Any, delta: int) -> int:
    return _clamp_step(_clamp_step(step) + delta)


def next_variant(variant: Any) -> int:
    with user_errors():
        value = check_variant(variant)
    return value + 1 if value < MAX_VARIANT else 0


# --- API ------------------------------------------------------------------------------------------------------


def api_lecture(step: int, variant: int = 0) -> dict:
    """One lecture step as JSON: step, steps, topic, question, kind, options, answer, explanation, link (and
    more: see `core.lecture.lecture_step`). The teacher's API: it includes the answer."""
    with user_errors():
        return to_jsonable(lecture_step(step, variant))


def api_lecture_grade(step: int, variant: int, prediction: str) -> dict:
    """Grade a prediction: {"correct", "prediction", "answer", "answer_text", "message", "error",
    "relative_error"}; a prediction that cannot be read gets a clear error."""
    with user_errors():
        result = grade(step, variant, prediction)
    return to_jsonable({
        "correct": result.correct, "prediction": result.prediction, "answer": result.answer,
        "answer_text": result.answer_text, "message": result.message, "error": result.error,
        "relative_error": result.relative_error,
    })


# --- the tab --------------------------------------------------------------------------------------------------


def poll_question(step: int, variant: int) -> PollQuestion | None:
    """A lecture step's question as a class poll asks it (the answer and explanation stay on the server until the
    teacher reveals them)."""
    chosen = get_step(_clamp_step(step))
    asked = question(chosen, variant)
    answer = format_number(asked.answer).replace(",", "") if asked.kind == "number" else str(asked.answer)
    prompt = f"Step {STEPS.index(chosen) + 1}, {chosen.title}: {asked.text}"
    return PollQuestion(kind=asked.kind, options=tuple(asked.options) if asked.kind == "choice" else (),
                        answer=answer, prompt=prompt[:2000], explanation=asked.explanation[:2000])


def _follow_poll(joined: Any) -> tuple:
    """A student who joined a poll sees its step with its numbers, and answers in the poll (the lecture's own
    Reveal row is hidden: the answer comes when the teacher closes the poll)."""
    if not isinstance(joined, dict) or not joined.get("room"):
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    try:
        poll = poll_ui.store().public_poll(joined["room"])
    except PollError:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return poll.step, poll.variant, gr.Accordion(open=True), gr.Row(visible=False)


def show(view: LectureView) -> tuple:
    """A step before Reveal (see `step_view`)."""
    return step_view(view.step, view.variant)


def build() -> TabUI:
    """The Lecture tab (called inside a `gr.Tab`)."""
    first = _view_values(1, 0)
    with gr.Column(elem_id="lecture-root"):
        with gr.Accordion("Join a class poll (students: the code is on the projector)", open=False,
                          elem_id="lecture-join") as join_box:
            student = poll_ui.student_view()
        with gr.Row(equal_height=True, elem_id="lecture-nav"):
            previous = gr.Button("← Previous", elem_id="lecture-prev", size="md", scale=0, min_width=110)
            step = gr.Dropdown(step_choices(), value=1, label="Step", show_label=False, container=False, scale=4,
                               min_width=200, elem_id="lecture-step")
            following = gr.Button("Next →", elem_id="lecture-next", size="md", scale=0, min_width=110,
                                  variant="secondary")
        with gr.Accordion("Numbers for this class, and help", open=False, elem_id="lecture-secondary"):
            with gr.Row(equal_height=True):
                variant = gr.Number(0, precision=0, minimum=0, maximum=MAX_VARIANT, label="Variant (0 = the book's "
                                    "numbers; others draw new ones)", elem_id="lecture-variant", min_width=200)
                new_numbers = gr.Button("New numbers (next variant)", elem_id="lecture-new-numbers", size="md",
                                        scale=0, min_width=200)
            gr.Markdown(
                "Predict first, then press **Reveal**: the answer, how far off you were and why appear only then. "
                "Keys: **PageDown / PageUp** (or → / ← outside text fields) change the step; **Enter** in the "
                "number box reveals. A link to this view: `?tab=lecture&step=K&variant=V` (`&projector=1` for a "
                "room, or the *Projector mode* box at the top). Teachers' API: `/lecture(step, variant)` returns the answer and the explanation.",
                elem_id="lecture-help")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                heading = gr.Markdown(first["heading"], latex_delimiters=LATEX, elem_id="lecture-idea")
                prompt = gr.Markdown(first["prompt"], latex_delimiters=LATEX, elem_id="lecture-question")
                with gr.Row(equal_height=False) as predict_row:  # a tall list of choices must not stretch Reveal
                    number = gr.Textbox(label="Your prediction (a number)", placeholder="e.g. 12 or 0.25",
                                        max_lines=1, visible=first["is_number"], elem_id="lecture-number", scale=3,
                                        min_width=180)
                    choice = gr.Radio(first["options"], value=None, label="Your prediction",
                                      visible=not first["is_number"], elem_id="lecture-choice", scale=3,
                                      min_width=180)
                    reveal_button = gr.Button("Reveal", variant="primary", elem_id="lecture-reveal-button",
                                              scale=1, min_width=110)
                reveal_text = gr.Markdown("", latex_delimiters=LATEX, elem_id="lecture-reveal")
                link = gr.HTML("", elem_id="lecture-link")
            with gr.Column(scale=2, min_width=280):
                figure = gr.HTML(first["figure"], elem_id="lecture-figure", elem_classes=["lecture-figure-box"])
                reveal_figure = gr.HTML("", elem_id="lecture-reveal-figure")
        with gr.Accordion("Class poll: everyone predicts on their phone, the projector shows the spread",
                          open=False, elem_id="lecture-poll"):
            teacher = poll_ui.teacher_panel(step, variant, poll_question)

    view = [heading, figure, prompt, number, choice, reveal_text, reveal_figure, link]
    gr.on([step.change, variant.change], step_view, [step, variant], view, api_visibility="private",
          trigger_mode="always_last", show_progress="hidden")
    previous.click(lambda s: move(s, -1), step, step, api_visibility="private", queue=False)
    following.click(lambda s: move(s, 1), step, step, api_visibility="private", queue=False)
    new_numbers.click(next_variant, variant, variant, api_visibility="private", queue=False)
    gr.on([reveal_button.click, number.submit], reveal, [step, variant, number, choice], [reveal_text, reveal_figure, link],
          api_visibility="private", show_progress="minimal")
    gr.on(None, None, js=KEYS_JS)
    gr.api(api_lecture, api_name="lecture")
    gr.api(api_lecture_grade, api_name="lecture_grade")
    poll_ui.register_api(poll_question)
    follow = dict(fn=_follow_poll, inputs=student.joined, outputs=[step, variant, join_box, predict_row],
                  api_visibility="private", queue=False)
    student.join_event.then(**follow)

    def student_load(blocks: gr.Blocks) -> None:
        student.load(blocks).then(**follow)

    return TabUI(LectureView, controls=[step, variant], outputs=view, show=show, loads=[teacher.load, student_load])
