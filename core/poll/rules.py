"""The class poll's rules, without I/O: question and answer formats, room codes, teacher keys, results.

Every refusal is a `PollError` (a `ValueError`) whose message can be shown to the person as it is.
`core.poll.store` applies these rules around its database.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

NUMBER = "number"
CHOICE = "choice"
KINDS = (NUMBER, CHOICE)

MAX_ANSWER_CHARS = 64
"""An answer (a number's text or a choice) has at most this many characters."""

MAX_OPTIONS = 12
MAX_TEXT_CHARS = 2000
"""A question's prompt or explanation has at most this many characters."""

ROOM_ALPHABET = "ACDEFGHJKMNPRTUVWXY346789"
"""Room-code characters: upper-case letters and digits without look-alikes (none of 0/O/Q, 1/I/L, 2/Z, 5/S, B;
8 stays): a code read off a projector and typed on a phone comes out right. 25 characters."""

ROOM_LENGTH = 6
"""25**6 = 244 million codes: guessing an open room by chance is hopeless, and a room only lets one answer."""

STUDENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
"""An anonymous student id, made at random in the student's browser: 8-64 letters, digits, '-' or '_'."""

TEACHER_KEY_BYTES = 24
"""Random bytes of a teacher key (32 URL-safe characters)."""


class PollError(ValueError):
    """A request the poll refuses; `str(error)` is a message for the person who sent it."""


class UnknownRoom(PollError):
    """No open or closed poll has this room code (mistyped, or older than a day)."""


class PollClosed(PollError):
    """The teacher has closed the poll: answers are no longer taken."""


class BadAnswer(PollError):
    """The answer is empty, too long, not a number, or not one of the options."""


class BadStudent(PollError):
    """The student id is not of the anonymous format."""


class WrongTeacherKey(PollError):
    """The teacher key does not match the room's."""


class TooFast(PollError):
    """The student sends answers faster than the rate limit allows."""


class PollFull(PollError):
    """The room already has the maximum number of students, or the store the maximum number of polls."""


@dataclass(frozen=True)
class PollQuestion:
    """A lecture step's question, as the poll needs it.

    kind: "number" (any finite number; "12" and "12.0" are the same answer) or "choice" (one of `options`).
    options: the choices, in the order shown (empty for numbers).
    answer: the right answer, revealed when the poll closes.
    prompt: the question as students read it. explanation: shown after the reveal.
    """

    kind: str
    options: tuple[str, ...] = ()
    answer: str = ""
    prompt: str = ""
    explanation: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(str(option).strip() for option in self.options))
        object.__setattr__(self, "answer", str(self.answer).strip())
        if self.kind not in KINDS:
            raise ValueError(f"A poll question's kind is one of {KINDS}, got {self.kind!r}.")
        if self.kind == CHOICE:
            if not 2 <= len(self.options) <= MAX_OPTIONS:
                raise ValueError(f"A choice question has 2 to {MAX_OPTIONS} options, got {len(self.options)}.")
            if any(not option or len(option) > MAX_ANSWER_CHARS for option in self.options):
                raise ValueError(f"Each option has 1 to {MAX_ANSWER_CHARS} characters.")
            if len({option.casefold() for option in self.options}) != len(self.options):
                raise ValueError("The options of a choice question must differ.")
        elif self.options:
            raise ValueError("A number question has no options.")
        if len(self.prompt) > MAX_TEXT_CHARS or len(self.explanation) > MAX_TEXT_CHARS:
            raise ValueError(f"A question's prompt and explanation have at most {MAX_TEXT_CHARS} characters.")
        if self.answer:  # the right answer must be one a student could give
            object.__setattr__(self, "answer", normalise_answer(self, self.answer))


# --- answers -------------------------------------------------------------------------------------------


def normalise_number(text: str) -> str:
    """The canonical text of a number answer: '12', '12.0', '1.2e1' and ' 12 ' all give '12'; '3,5' gives '3.5'.

    Raises BadAnswer for text that is not a finite number.
    """
    cleaned = text.strip().replace("\u2212", "-")  # a typographic minus, as phones sometimes type
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")  # a decimal comma
    try:
        value = float(cleaned)
    except ValueError:
        raise BadAnswer(f"Please answer with a number, like 12 or 0.5 (got {text.strip()[:20]!r}).") from None
    if not math.isfinite(value):
        raise BadAnswer("Please answer with a finite number.")
    if value == 0:
        return "0"  # also -0
    return format(value, ".12g")


def normalise_answer(question: PollQuestion, text: object) -> str:
    """Check a student's answer against the question and return its canonical text (what is stored and counted).

    Numbers: finite, canonical text (see `normalise_number`). Choices: one of the options, matched without regard
    to case or surrounding spaces, returned as the option's own text. Raises BadAnswer with a readable message.
    """
    if text is None:
        text = ""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise BadAnswer("Please send the answer as text.")
    text = str(text)
    if not text.strip():
        raise BadAnswer("Please enter an answer before sending.")
    if len(text) > MAX_ANSWER_CHARS:
        raise BadAnswer(f"An answer has at most {MAX_ANSWER_CHARS} characters (this one has {len(text)}).")
    if question.kind == NUMBER:
        return normalise_number(text)
    wanted = text.strip().casefold()
    for option in question.options:
        if option.casefold() == wanted:
            return option
    raise BadAnswer(f"Please choose one of: {', '.join(question.options)}.")


def check_student(student: object) -> str:
    """The student id if it has the anonymous format (see `STUDENT_ID`), else BadStudent."""
    if not isinstance(student, str) or not STUDENT_ID.fullmatch(student):
        raise BadStudent("This browser's anonymous student id is missing or malformed: reload the page.")
    return student


def new_student_id() -> str:
    """A fresh anonymous student id (22 random URL-safe characters): nothing about the person."""
    return secrets.token_urlsafe(16)


# --- room codes and teacher keys ------------------------------------------------------------------------


def new_room_code() -> str:
    """A random room code: `ROOM_LENGTH` characters of `ROOM_ALPHABET`, from the `secrets` generator."""
    return "".join(secrets.choice(ROOM_ALPHABET) for _ in range(ROOM_LENGTH))


def clean_room_code(text: object) -> str:
    """A typed room code in its canonical form (upper case, spaces and dashes dropped), else UnknownRoom."""
    code = re.sub(r"[\s-]", "", str(text or "")).upper()
    if len(code) != ROOM_LENGTH or any(character not in ROOM_ALPHABET for character in code):
        raise UnknownRoom(f"{str(text or '').strip()[:20]!r} is not a room code: it has {ROOM_LENGTH} letters "
                          "and digits, as shown on the projector.")
    return code


def new_teacher_key() -> str:
    """A random teacher key (URL-safe text). Only its hash is stored (see `hash_teacher_key`)."""
    return secrets.token_urlsafe(TEACHER_KEY_BYTES)


def hash_teacher_key(key: str) -> str:
    """SHA-256 of the key, hex (64 characters). The key is random, so a fast hash is enough: there is nothing to
    guess from a leaked hash, unlike a password."""
    return hashlib.sha256(str(key).encode("utf-8")).hexdigest()


def teacher_key_matches(key: object, stored_hash: str) -> bool:
    """Whether `key` hashes to `stored_hash`, compared in constant time."""
    if not isinstance(key, str) or not key:
        return False
    return hmac.compare_digest(hash_teacher_key(key), stored_hash)


# --- results --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollResults:
    """What the teacher sees: the count of answers, how many gave each answer, and for numbers their values.

    counts: canonical answer -> how many students gave it; choices in the question's option order (all options,
    0 included), numbers in increasing value.
    values: numbers only: every student's answer as a float, sorted (len == answers), for a histogram.
    correct: the right answer, only once the poll is closed (else None).
    """

    room: str
    step: int
    kind: str
    answers: int
    counts: dict[str, int]
    closed: bool
    values: list[float] = field(default_factory=list)
    correct: str | None = None

    def as_json(self) -> dict:
        data = {"room": self.room, "step": self.step, "kind": self.kind, "answers": self.answers,
                "counts": dict(self.counts), "closed": self.closed}
        if self.kind == NUMBER:
            data["values"] = list(self.values)
        if self.correct is not None:
            data["correct"] = self.correct
        return data


def summarise(room: str, step: int, question: PollQuestion, counts: Mapping[str, int], closed: bool) -> PollResults:
    """PollResults from the stored answers' counts (canonical answer -> number of students)."""
    counts = {answer: int(n) for answer, n in counts.items() if int(n) > 0}
    if question.kind == CHOICE:
        ordered = {option: counts.get(option, 0) for option in question.options}
        values: list[float] = []
    else:
        ordered = dict(sorted(counts.items(), key=lambda item: float(item[0])))
        values = [float(answer) for answer, n in ordered.items() for _ in range(n)]
    return PollResults(room=room, step=step, kind=question.kind, answers=sum(counts.values()), counts=ordered,
                       closed=closed, values=values, correct=question.answer if closed else None)


def number_bins(values: Sequence[float], correct: float | None = None, max_bins: int = 12) -> list[tuple[float, float]]:
    """Bins for a histogram of number answers, as a list of (low, high) intervals.

    When the answers (and the right answer) take at most `max_bins` distinct values, each value gets its own bin
    (low == high): a class answering 5, 6 or 9 sees three bars labelled 5, 6, 9. Otherwise `max_bins` equal-width
    bins cover [min, max] (the last one closed on the right), so far-off answers still show.
    """
    points = sorted(set(float(v) for v in values) | ({float(correct)} if correct is not None else set()))
    if not points:
        return []
    if len(points) <= max_bins:
        return [(point, point) for point in points]
    low, high = points[0], points[-1]
    width = (high - low) / max_bins
    return [(low + i * width, low + (i + 1) * width if i < max_bins - 1 else high) for i in range(max_bins)]


def bin_counts(values: Iterable[float], bins: Sequence[tuple[float, float]]) -> list[int]:
    """How many values fall in each bin from `number_bins` (a value on an inner edge counts in the upper bin)."""
    counts = [0] * len(bins)
    for value in values:
        for index, (low, high) in enumerate(bins):
            last = index == len(bins) - 1
            if (low == high and value == low) or (low <= value < high) or (last and low <= value <= high):
                counts[index] += 1
                break
    return counts
