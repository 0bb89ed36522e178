"""The class poll's UI: a teacher panel for the projector, a student view for phones, and the API endpoints.

Pieces to place in a page (the Lecture tab), each inside the caller's Blocks:

    register_api(provider)                 # once per app: /poll_open, /poll_answer, /poll_results, /poll_close, ...
    teacher_panel(step, variant, provider) # "Open a class poll", room code, link, QR, live count, "Close and reveal"
    student_view()                         # joined by `?poll=ROOM` or by typing the code; answer until the close

`provider(step, variant) -> PollQuestion | None` gives a lecture step's question with the numbers of a variant
(None: the step has nothing to poll); `demo_question` is a small stand-in for the standalone page and the tests.
Each piece's `load(blocks)` attaches what it does when the page loads (resume an open poll, join `?poll=ROOM`).

The store is `core.poll.store.default_store()` (the database named by `LAB_DB`); `use_store` swaps it (tests).
Run this file for a standalone page with both pieces: `python -m demos.poll`.
"""

from __future__ import annotations

import html
import io
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr
import segno
from PIL import Image, ImageDraw

from core.poll.rules import (
    CHOICE, NUMBER, PollClosed, PollError, PollQuestion, PollResults, bin_counts, check_student, new_student_id, number_bins,
)
from core.poll.store import PollStore, default_store
from demos.drawing import font as pil_font
from demos.inputs import user_errors

TITLE = "Class poll"

QuestionProvider = Callable[[int, int], "PollQuestion | None"]

DEMO_QUESTIONS: dict[int, PollQuestion] = {
    0: PollQuestion(
        NUMBER, answer="5",
        prompt="The book centers anchor boxes with sizes s = (0.75, 0.5, 0.25) and ratios r = (1, 2, 0.5) on each "
               "pixel. How many boxes per pixel?",
        explanation="The book pairs every size with the first ratio and the first size with every ratio: "
                    "n + m - 1 = 3 + 3 - 1 = 5 boxes, not n·m = 9."),
    1: PollQuestion(
        CHOICE, options=("7x7", "8x8", "9x9"), answer="7x7",
        prompt="A 3x3 transposed convolution with stride 2 and padding 1 on a 4x4 input gives an output of ...",
        explanation="(n - 1)·s - 2p + k = 3·2 - 2 + 3 = 7: padding removes rows and columns from the output."),
}
"""Stand-in questions for the standalone demo and the tests, until the Lecture tab's steps provide theirs."""


def demo_question(step: int, variant: int = 0) -> PollQuestion | None:
    """The question of `DEMO_QUESTIONS` for `step` (the same for every variant), or None."""
    return DEMO_QUESTIONS.get(int(step))


BROWSER_SECRET = "lab-poll-browser-state"
"""Gradio encrypts a gr.BrowserState in localStorage with a key that is sent to the page anyway, so this is no
secret; fixing it (Gradio draws a new one at every start) lets a browser keep its student id and the teacher their
key across restarts of the server and across replicas."""

QUICK = dict(queue=False)
"""Every poll event is a few milliseconds of database work, and a class sends its answers in one burst: they
bypass Gradio's queue (whose 64 places a class of 200 would overflow, answering "busy") and run on the server's
worker threads directly (POST /gradio_api/run/<name>). Through the queue, 200 students answering at once got
275 "busy" refusals out of 600 answers on the 2-core machine; without it, none (`python -m benchmarks.poll`)."""

UNQUEUED_API = ("poll_open", "poll_answer", "poll_results", "poll_close", "poll_question")
"""The public endpoints that run with `QUICK`, named here so that the server's tests can tell them from a mistake."""

STUDENT_STORAGE_KEY = "lab-poll-student"
TEACHER_STORAGE_KEY = "lab-poll-teacher"
LIVE_COUNT_SECONDS = 2.0
CHART_SIZE = (960, 540)

_store: PollStore | None = None
_store_lock = threading.Lock()


def store() -> PollStore:
    """The poll store used by the handlers: `use_store`'s, else the process's default one (on `LAB_DB`)."""
    with _store_lock:
        return _store if _store is not None else default_store()


def use_store(poll_store: PollStore | None) -> None:
    """Make the handlers use `poll_store` (None: back to the default store)."""
    global _store
    with _store_lock:
        _store = poll_store


# --- the join link and its QR code ---------------------------------------------------------------------


def join_link(request: gr.Request | None, room: str) -> str:
    """The link students open to join `room`: the lab's public address + `?poll=ROOM`.

    The address is `LAB_PUBLIC_URL` when set (a teacher who opened the lab as http://localhost should set it to
    the address the class can reach, e.g. http://192.168.1.20:7860), else the one the teacher's browser used
    (proxy headers included).
    """
    base = os.environ.get("LAB_PUBLIC_URL", "").strip()
    if not base and request is not None and getattr(request, "request", None) is not None:
        from gradio import route_utils

        starlette_request = request.request
        base = route_utils.get_root_url(starlette_request, starlette_request.url.path, None)
    return f"{base.rstrip('/')}/?poll={room}"


def room_from_request(request: gr.Request | None) -> str:
    """The room code in the page's address (`?poll=ROOM`), or ''."""
    if request is None:
        return ""
    try:
        return str(dict(request.query_params).get("poll", ""))[:32]
    except (AttributeError, TypeError):
        return ""


def qr_picture(link: str, scale: int = 10) -> Image.Image:
    """The QR code of `link` (segno, error correction M, the standard 4-module quiet zone), black on white,
    `scale` pixels per module."""
    code = segno.make(link, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=4)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


# --- the reveal chart ----------------------------------------------------------------------------------


def chart_bars(results: PollResults) -> list[tuple[str, int, bool]]:
    """The bars to draw: (label, count, holds the right answer). Choices: one bar per option. Numbers: one bar per
    value when there are few, else equal-width ranges (`number_bins`); the right answer always has its bar."""
    correct = results.correct
    if results.kind == CHOICE:
        return [(option, count, option == correct) for option, count in results.counts.items()]
    right = float(correct) if correct else None
    bins = number_bins(results.values, right)
    counts = bin_counts(results.values, bins)
    bars = []
    for index, ((low, high), count) in enumerate(zip(bins, counts)):
        last = index == len(bins) - 1
        if low == high:
            label, holds = f"{low:.6g}", right == low
        else:
            label = f"{low:.4g} – {high:.4g}"
            holds = right is not None and (low <= right < high or (last and low <= right <= high))
        bars.append((label, count, holds))
    return bars


def _hatch(picture: Image.Image, box: tuple[float, float, float, float], spacing: int = 14) -> None:
    """White diagonal stripes over `box` (x0, y0, x1, y1) of `picture`."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    width, height = x1 - x0, y1 - y0
    if width <= 0 or height <= 0:
        return
    stripes = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(stripes)
    for offset in range(-height, width, spacing):
        draw.line([(offset, height), (offset + height, 0)], fill=255, width=3)
    picture.paste((255, 255, 255), (x0, y0, x1, y1), stripes)


def draw_results(results: PollResults) -> Image.Image:
    """The answers' distribution as bars, with each count written above its bar and the right answer's bar
    hatched, outlined and labelled "right answer" (never by colour alone). 960x540 RGB."""
    width, height = CHART_SIZE
    picture = Image.new("RGB", CHART_SIZE, "white")
    draw = ImageDraw.Draw(picture)
    bars = chart_bars(results)
    title = f"{results.answers} answer{'s' if results.answers != 1 else ''}"
    if results.correct is not None:
        title += f" · right answer: {results.correct}"
    draw.text((24, 36), title, fill=(20, 20, 20), font=pil_font(30))  # below the image's label
    if not bars:
        return picture
    left, right, top, bottom = 40, width - 40, 110, height - 110
    slot = (right - left) / len(bars)
    bar_width = min(140.0, slot * 0.7)
    tallest = max(1, max(count for _, count, _ in bars))
    label_font = pil_font(22 if len(bars) <= 8 else 16)
    draw.line([(left, bottom), (right, bottom)], fill=(60, 60, 60), width=2)
    for index, (label, count, holds) in enumerate(bars):
        center = left + slot * (index + 0.5)
        x0, x1 = center - bar_width / 2, center + bar_width / 2
        y0 = bottom - (bottom - top - 30) * count / tallest
        fill = (46, 139, 87) if holds else (100, 130, 180)
        if count:
            draw.rectangle([x0, y0, x1, bottom], fill=fill)
        if holds:  # hatched and outlined: the right answer reads without colour
            _hatch(picture, (x0, y0, x1, bottom))
            draw.rectangle([x0 - 3, min(y0, bottom - 4) - 3, x1 + 3, bottom], outline=(20, 20, 20), width=3)
        draw.text((center, y0 - (12 if holds else 6)), str(count), fill=(20, 20, 20), font=pil_font(26), anchor="ms")
        draw.text((center, bottom + 12), label, fill=(20, 20, 20), font=label_font, anchor="mt")
        if holds:
            draw.polygon([(center, bottom + 44), (center - 10, bottom + 60), (center + 10, bottom + 60)],
                         fill=(20, 20, 20))
            draw.text((center, bottom + 66), "right answer", fill=(20, 20, 20), font=pil_font(20), anchor="mt")
    return picture


def results_text(results: PollResults, explanation: str = "") -> str:
    """The reveal in words (beside the chart, for screen readers and the back row): counts, the right answer, the
    step's explanation."""
    lines = [f"**{results.answers}** answer{'s' if results.answers != 1 else ''}."]
    if results.correct is not None:
        right = results.counts.get(results.correct, 0)
        lines.append(f"Right answer: **{results.correct}** ({right} of {results.answers}).")
    if results.counts:
        lines.append("; ".join(f"{answer}: {count}" for answer, count in results.counts.items()))
    if explanation:
        lines.append(f"\n{explanation}")
    return "\n\n".join(lines)


# --- API endpoints -------------------------------------------------------------------------------------


def _question(provider: QuestionProvider, step: Any, variant: Any) -> tuple[int, int, PollQuestion]:
    try:
        step, variant = int(step), int(variant)
        question = provider(step, variant)
    except (TypeError, ValueError, KeyError, IndexError):
        question = None
    if question is None:
        raise gr.Error(f"Step {step!s:.20} (variant {variant!s:.20}) has no question to poll.")
    return step, variant, question


def poll_open(step: int, variant: int, request: gr.Request, provider: QuestionProvider = demo_question) -> dict:
    """Open a poll on a lecture step (with a variant's numbers): {"room", "teacher_key", "link"}. The key goes to
    the teacher only."""
    step, variant, question = _question(provider, step, variant)
    with user_errors():
        opened = store().open_poll(step, question, variant)
    return {"room": opened.room, "teacher_key": opened.teacher_key, "link": join_link(request, opened.room)}


def poll_answer(room: str, student: str, answer: str | float) -> dict:
    """A student's answer (a number, or one of the choices); a second answer replaces the first.
    {"ok": true, "answer": the answer as counted}."""
    with user_errors():
        saved = store().answer(room, student, answer)
    return {"ok": True, "answer": saved}


def poll_results(room: str, teacher_key: str) -> dict:
    """The teacher's view: {"answers": n, "counts": {answer: n}, "closed": bool, ...}; numbers add "values" (every
    answer, sorted, for a histogram), a closed poll "correct"."""
    with user_errors():
        return store().results(room, teacher_key).as_json()


def poll_close(room: str, teacher_key: str) -> dict:
    """Close the poll (no more answers) and return its final results, with the right answer."""
    with user_errors():
        return store().close_poll(room, teacher_key).as_json()


def poll_question(room: str, student: str = "") -> dict:
    """What a student sees: the question (kind, options, prompt), whether it is closed, the student's own saved
    answer; after the close, the right answer, the explanation and the counts. Never others' answers before."""
    with user_errors():
        return store().public_poll(room, student or None).as_json()


def register_api(provider: QuestionProvider = demo_question) -> None:
    """The poll's named endpoints, once per app (inside its Blocks)."""

    def open_on_step(step: int, variant: int = 0, request: gr.Request = None) -> dict:
        """Open a class poll on a lecture step's question (variant 0: the book's numbers):
        {"room", "teacher_key", "link"}."""
        return poll_open(step, variant, request, provider)

    gr.api(open_on_step, api_name="poll_open", **QUICK)
    gr.api(poll_answer, api_name="poll_answer", **QUICK)
    gr.api(poll_results, api_name="poll_results", **QUICK)
    gr.api(poll_close, api_name="poll_close", **QUICK)
    gr.api(poll_question, api_name="poll_question", **QUICK)


# --- the teacher panel ---------------------------------------------------------------------------------


@dataclass
class TeacherPanel:
    """The teacher panel's components (for wiring by the page that holds it); `load(blocks)` attaches its page-load
    event (an open poll kept in this browser is shown again)."""

    open_button: gr.Button
    close_button: gr.Button
    room: gr.HTML
    link: gr.Markdown
    qr: gr.Image
    count: gr.Markdown
    chart: gr.Image
    reveal: gr.Markdown
    timer: gr.Timer
    state: gr.BrowserState
    load: Callable[[gr.Blocks], Any]


def _room_html(room: str) -> str:
    if not room:
        return ""
    return (f'<div role="status" aria-label="Room code {" ".join(room)}" style="font: 700 4.5rem/1.1 monospace; '
            f'letter-spacing: .2em; text-align: center">{html.escape(room)}</div>')


def _count_text(results: dict) -> str:
    n = results["answers"]
    state = "closed" if results["closed"] else "open"
    return f"**{n}** answer{'s' if n != 1 else ''} so far (poll {state})."


def teacher_panel(step: gr.components.Component, variant: gr.components.Component | None = None,
                  provider: QuestionProvider = demo_question) -> TeacherPanel:
    """The projector's poll panel for the step shown in `step` and the numbers of `variant` (components holding the
    step number and the variant; no `variant`: 0).

    "Open a class poll" shows the room code in large type, the join link and its QR code, and a live count of
    answers (refreshed every 2 s while the poll is open); "Close and reveal" shows the distribution with the right
    answer marked, then the step's explanation. The teacher key is kept in this browser only (gr.BrowserState,
    never in the link), so a reload of the projector's page finds its open poll again.
    """
    state = gr.BrowserState({}, storage_key=TEACHER_STORAGE_KEY, secret=BROWSER_SECRET)
    with gr.Group():
        with gr.Row():
            open_button = gr.Button("Open a class poll", variant="primary", elem_id="poll-open")
            close_button = gr.Button("Close and reveal", interactive=False, elem_id="poll-close")
        with gr.Row():
            with gr.Column(scale=3):
                room = gr.HTML(elem_id="poll-room")
                link = gr.Markdown(elem_id="poll-link")
                count = gr.Markdown(elem_id="poll-count", container=True)
            qr = gr.Image(label="QR code of the join link", type="pil", interactive=False, visible=False,
                          height=320, scale=2, elem_id="poll-qr", buttons=[])
        chart = gr.Image(label="Answers", type="pil", interactive=False, visible=False, elem_id="poll-chart",
                         buttons=["download"])
        reveal = gr.Markdown(elem_id="poll-reveal")
    timer = gr.Timer(LIVE_COUNT_SECONDS, active=False)

    def showing(poll: dict, results: dict) -> tuple:
        return (poll, _room_html(poll["room"]), f"Join: [{poll['link']}]({poll['link']}) — or type the code.",
                gr.Image(value=qr_picture(poll["link"]), visible=True, alt_text=f"QR code of {poll['link']}"),
                _count_text(results),
                gr.Button(interactive=True), gr.Timer(active=True), gr.Image(value=None, visible=False), "")

    outputs = [state, room, link, qr, count, close_button, timer, chart, reveal]

    def on_open(step_value: Any, variant_value: Any, request: gr.Request) -> tuple:
        opened = poll_open(step_value, variant_value, request, provider)
        poll = {**opened, "step": int(step_value), "variant": int(variant_value)}
        return showing(poll, {"answers": 0, "closed": False})

    def on_resume(poll: Any) -> tuple:
        """On page load: an open poll kept in this browser is shown again; anything else is forgotten."""
        if isinstance(poll, dict) and poll.get("room") and poll.get("teacher_key"):
            try:
                results = store().results(poll["room"], poll["teacher_key"])
            except PollError:
                results = None
            if results is not None and not results.closed:
                return showing(poll, results.as_json())
        return ({}, "", "", gr.Image(value=None, visible=False), "", gr.Button(interactive=False),
                gr.Timer(active=False), gr.Image(value=None, visible=False), "")

    def on_tick(poll: Any) -> tuple:
        if not isinstance(poll, dict) or not poll.get("room"):
            return gr.skip(), gr.Timer(active=False)
        try:
            results = store().results(poll["room"], poll.get("teacher_key", ""))
        except PollError:
            return gr.skip(), gr.Timer(active=False)
        return _count_text(results.as_json()), gr.Timer(active=not results.closed)

    def on_close(poll: Any) -> tuple:
        if not isinstance(poll, dict) or not poll.get("room"):
            raise gr.Error("Open a poll first.")
        with user_errors():
            results = store().close_poll(poll["room"], poll.get("teacher_key", ""))
            explanation = store().public_poll(poll["room"]).explanation or ""
        return ({}, _count_text(results.as_json()), gr.Button(interactive=False), gr.Timer(active=False),
                gr.Image(value=draw_results(results), visible=True,
                         alt_text="Bar chart of the answers: " + results_text(results).replace("**", "")),
                results_text(results, explanation))

    private = dict(api_visibility="private")  # open and close go through the queue: their errors are toasts
    variant_input = variant if variant is not None else gr.Number(0, visible=False)
    open_button.click(on_open, [step, variant_input], outputs, **private)
    timer.tick(on_tick, [state], [count, timer], show_progress="hidden", **private, **QUICK)
    close_button.click(on_close, [state], [state, count, close_button, timer, chart, reveal], **private)

    def load(blocks: gr.Blocks) -> Any:
        return blocks.load(on_resume, [state], outputs, **private, **QUICK)

    return TeacherPanel(open_button, close_button, room, link, qr, count, chart, reveal, timer, state, load)


# --- the student view ----------------------------------------------------------------------------------


@dataclass
class StudentView:
    """The student view's components (for wiring by the page that holds it); `load(blocks)` attaches its page-load
    event (this browser's anonymous id; `?poll=ROOM` joins that poll) and returns it, for a page to chain on."""

    room_code: gr.Textbox
    join_button: gr.Button
    question: gr.Markdown
    number: gr.Number
    choice: gr.Radio
    send_button: gr.Button
    status: gr.Markdown
    student: gr.BrowserState
    joined: gr.State
    load: Callable[[gr.Blocks], Any]
    join_event: Any  # the join (button / Enter) event, for a page to chain on


SAVED_NOTE = "you can change it until the teacher closes the poll."


def _student_id(value: Any) -> str:
    """This browser's anonymous id: the one kept in its local storage if well-formed, else a new random one."""
    try:
        return check_student(value)
    except PollError:
        return new_student_id()


def _question_updates(poll: dict | None) -> tuple:
    """(joined, question text, number input, choice input, send button, status) for a poll's public view."""
    if poll is None:
        return ({}, "", gr.Number(visible=False), gr.Radio(visible=False), gr.Button(visible=False), "")
    number = poll["kind"] == NUMBER
    own = poll.get("own_answer")
    if poll["closed"]:
        results = poll.get("results") or {}
        status = (f"The teacher has closed this poll. Right answer: **{poll.get('correct')}**"
                  f"{f' (you answered {own})' if own else ''}. {results.get('answers', 0)} answers in all.")
        if poll.get("explanation"):
            status += f"\n\n{poll['explanation']}"
    else:
        status = f"Answer saved: **{own}** — {SAVED_NOTE}" if own else ""
    open_now = not poll["closed"]
    return ({"room": poll["room"], "kind": poll["kind"]}, f"**Room {poll['room']}.** {poll['prompt']}",
            gr.Number(value=float(own) if (number and own) else None, visible=number, interactive=open_now),
            gr.Radio(choices=list(poll["options"]), value=own if not number else None, visible=not number,
                     interactive=open_now),
            gr.Button(visible=True, interactive=open_now), status)


def student_view() -> StudentView:
    """The phone's view: the room code (filled from `?poll=ROOM`, or typed), the step's question, a number field
    or the choices, and "Send answer"; the answer can be changed until the teacher closes the poll. Its events
    bypass the queue (see `QUICK`), so refusals are written in its status line (⚠ ...) rather than as toasts.

    Each browser is one student, known only by an anonymous random id kept in its local storage (gr.BrowserState).
    """
    student = gr.BrowserState("", storage_key=STUDENT_STORAGE_KEY, secret=BROWSER_SECRET)
    joined = gr.State({})
    with gr.Group():
        with gr.Row():
            room_code = gr.Textbox(label="Room code", placeholder="e.g. ACD346", max_lines=1, max_length=16,
                                   scale=3, elem_id="poll-room-code")
            join_button = gr.Button("Join", scale=1, elem_id="poll-join")
        question = gr.Markdown(elem_id="poll-question")
        number = gr.Number(label="Your answer (a number)", visible=False, elem_id="poll-number")
        choice = gr.Radio(label="Your answer", choices=[], visible=False, elem_id="poll-choice")
        send_button = gr.Button("Send answer", variant="primary", visible=False, elem_id="poll-send")
        status = gr.Markdown(elem_id="poll-status")
    question_outputs = [joined, question, number, choice, send_button, status]

    def on_load(kept_id: Any, request: gr.Request) -> tuple:
        student_id = _student_id(kept_id)
        room = room_from_request(request)
        if not room:
            return (student_id, gr.skip(), *_question_updates(None))
        try:
            poll = store().public_poll(room, student_id).as_json()
        except PollError as error:
            return (student_id, room, *_question_updates(None)[:-1], str(error))
        return (student_id, room, *_question_updates(poll))

    def on_join(room: str, student_id: Any) -> tuple:
        try:
            poll = store().public_poll(room, _student_id(student_id)).as_json()
        except PollError as error:
            return (*_question_updates(None)[:-1], f"⚠ {error}")
        return _question_updates(poll)

    def on_send(joined_poll: dict, student_id: Any, number_value: Any, choice_value: Any) -> tuple:
        unchanged = (gr.skip(),) * 4
        if not joined_poll:
            return (*unchanged, "⚠ Join a poll first: type the room code shown on the projector.")
        value = number_value if joined_poll["kind"] == NUMBER else choice_value
        if value is None:
            return (*unchanged, "⚠ Please enter an answer before sending." if joined_poll["kind"] == NUMBER
                    else "⚠ Please choose one of the answers before sending.")
        try:
            saved = store().answer(joined_poll["room"], student_id, value)
        except PollClosed:  # show the reveal instead
            return _question_updates(store().public_poll(joined_poll["room"], student_id).as_json())[1:]
        except PollError as error:
            return (*unchanged, f"⚠ {error}")
        return (*unchanged, f"Answer saved: **{saved}** — {SAVED_NOTE}")

    private = dict(api_visibility="private", **QUICK)

    def load(blocks: gr.Blocks) -> Any:
        return blocks.load(on_load, [student], [student, room_code, *question_outputs], **private)

    join_event = gr.on([join_button.click, room_code.submit], on_join, [room_code, student], question_outputs,
                       **private)
    gr.on([send_button.click], on_send, [joined, student, number, choice],
          [question, number, choice, send_button, status], **private)
    return StudentView(room_code, join_button, question, number, choice, send_button, status, student, joined, load,
                       join_event)


# --- the standalone demo -------------------------------------------------------------------------------


def build(blocks: gr.Blocks, provider: QuestionProvider = demo_question) -> None:
    """Both pieces and the API on one page (teacher on the left, student on the right), for trying the poll out."""
    register_api(provider)
    gr.Markdown("### Class poll\nOpen a poll on a step, answer it as a student (another browser or a phone is "
                "another student), then close and reveal.")
    with gr.Row():
        with gr.Column():
            gr.Markdown("#### Teacher (projector)")
            step = gr.Dropdown(label="Lecture step", choices=sorted(DEMO_QUESTIONS), value=0, elem_id="poll-step")
            teacher = teacher_panel(step, None, provider)
        with gr.Column():
            gr.Markdown("#### Student (phone)")
            student = student_view()
    teacher.load(blocks)
    student.load(blocks)


def demo() -> gr.Blocks:
    with gr.Blocks(title="Class poll") as blocks:
        build(blocks)
    blocks.queue(default_concurrency_limit=4, max_size=64)
    return blocks


if __name__ == "__main__":
    demo().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                  server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), show_error=False)
