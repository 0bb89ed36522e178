"""The class poll's store on SQLite and on a real PostgreSQL server (started by the tests, see conftest.py)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from core.poll.limits import RateLimiter
from core.poll.rules import (
    BadAnswer, BadStudent, PollClosed, PollQuestion, TooFast, UnknownRoom, WrongTeacherKey, hash_teacher_key,
)
from core.poll.store import POLL_LIFETIME, PollStore, answers, polls
from tests.postgres_server import new_database

NUMBER_QUESTION = PollQuestion("number", answer="5", prompt="How many anchors does the book center on a pixel?",
                               explanation="n + m - 1 = 3 + 3 - 1 = 5")
CHOICE_QUESTION = PollQuestion("choice", options=("7x7", "8x8", "9x9"), answer="7x7", prompt="Output size?")
GENEROUS = dict(burst=1000, per_second=1000.0)
"""A rate limit no test reaches, for the tests about something else."""


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An empty database: an SQLite file, or a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "lab.sqlite3")
    return new_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(db_url):
    poll_store = PollStore(db_url, limiter=RateLimiter(**GENEROUS))
    yield poll_store
    poll_store.close()


def stored_answers(store: PollStore) -> list[tuple[str, str, str]]:
    """Every row of the answers table, read with plain SQL: (room, student, answer)."""
    with store.engine.connect() as conn:
        return sorted(conn.execute(sa.select(answers.c.room, answers.c.student, answers.c.answer)).all())


def test_the_backend_is_the_one_asked_for(store, db_url):
    assert store.dialect == ("sqlite" if db_url.endswith(".sqlite3") else "postgresql")
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_open_answer_replace_results_close(store):
    opened = store.open_poll(4, NUMBER_QUESTION)
    assert store.answer(opened.room, "student-one", "12.0") == "12"
    assert store.answer(opened.room, "student-two", "5") == "5"
    assert store.answer(opened.room, "student-three", "12") == "12"
    assert store.answer(opened.room.lower(), "student-one", " 5 ") == "5"  # a change of mind replaces the answer
    results = store.results(opened.room, opened.teacher_key).as_json()
    assert results == {"room": opened.room, "step": 4, "kind": "number", "answers": 3, "counts": {"5": 2, "12": 1},
                       "closed": False, "values": [5.0, 5.0, 12.0]}
    assert stored_answers(store) == sorted([(opened.room, "student-one", "5"), (opened.room, "student-two", "5"),
                                            (opened.room, "student-three", "12")])
    final = store.close_poll(opened.room, opened.teacher_key).as_json()
    assert final["closed"] is True and final["counts"] == {"5": 2, "12": 1} and final["correct"] == "5"
    with pytest.raises(PollClosed, match="The teacher has closed this poll"):
        store.answer(opened.room, "student-one", "12")
    with pytest.raises(PollClosed):
        store.answer(opened.room, "student-four", "12")
    assert len(stored_answers(store)) == 3
    assert store.close_poll(opened.room, opened.teacher_key).answers == 3  # closing again changes nothing


def test_choices_count_every_option(store):
    opened = store.open_poll(7, CHOICE_QUESTION)
    store.answer(opened.room, "student-one", "9X9")
    store.answer(opened.room, "student-two", "7x7")
    assert store.results(opened.room, opened.teacher_key).counts == {"7x7": 1, "8x8": 0, "9x9": 1}


@pytest.mark.parametrize("room, student, text, error, message", [
    ("AAAAAA", "student-one", "5", UnknownRoom, "There is no poll AAAAAA"),
    ("NOPE", "student-one", "5", UnknownRoom, "is not a room code"),
    (None, "student-one", "", BadAnswer, "Please enter an answer"),
    (None, "student-one", "x" * 65, BadAnswer, "at most 64 characters"),
    (None, "student-one", "five", BadAnswer, "Please answer with a number"),
    (None, "student-one", "nan", BadAnswer, "finite"),
    (None, "bob", "5", BadStudent, "anonymous student id"),
    (None, "<script>alert(1)</script>", "5", BadStudent, "anonymous student id"),
])
def test_refused_answers_get_a_message_and_store_nothing(store, room, student, text, error, message):
    opened = store.open_poll(1, NUMBER_QUESTION)
    store.answer(opened.room, "student-kept", "7")
    with pytest.raises(error, match=message):
        store.answer(room or opened.room, student, text)
    assert stored_answers(store) == [(opened.room, "student-kept", "7")]


def test_a_choice_outside_the_options_stores_nothing(store):
    opened = store.open_poll(1, CHOICE_QUESTION)
    with pytest.raises(BadAnswer, match="Please choose one of: 7x7, 8x8, 9x9"):
        store.answer(opened.room, "student-one", "10x10")
    assert stored_answers(store) == []


def test_only_the_teacher_key_reads_or_closes(store):
    opened = store.open_poll(1, NUMBER_QUESTION)
    other = store.open_poll(2, NUMBER_QUESTION)
    store.answer(opened.room, "student-one", "5")
    for key in ("", "wrong", opened.teacher_key[:-1], other.teacher_key, None):
        with pytest.raises(WrongTeacherKey, match="Only the teacher who opened this poll"):
            store.results(opened.room, key)
        with pytest.raises(WrongTeacherKey):
            store.close_poll(opened.room, key)
    assert store.results(opened.room, opened.teacher_key).closed is False  # the refused closes did nothing
    with pytest.raises(UnknownRoom):
        store.results("AAAAAA", opened.teacher_key)


def test_the_teacher_key_is_stored_only_as_its_hash(store):
    opened = store.open_poll(1, NUMBER_QUESTION)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(polls).where(polls.c.room == opened.room)).one()
    assert opened.teacher_key not in [str(value) for value in row]
    assert row.key_hash == hash_teacher_key(opened.teacher_key)
    assert not any(opened.teacher_key in str(value) for value in row)


def test_students_never_see_other_answers_before_the_reveal(store):
    opened = store.open_poll(3, NUMBER_QUESTION, variant=7)
    store.answer(opened.room, "student-one", "-123.25")
    store.answer(opened.room, "student-two", "5")
    view = store.public_poll(opened.room, "student-two").as_json()
    assert view == {"room": opened.room, "step": 3, "variant": 7, "kind": "number", "options": [],
                    "prompt": NUMBER_QUESTION.prompt, "closed": False, "own_answer": "5"}
    assert "123.25" not in str(view) and "correct" not in view  # neither the others' answers nor the right one
    assert store.public_poll(opened.room).own_answer is None
    store.close_poll(opened.room, opened.teacher_key)
    revealed = store.public_poll(opened.room, "student-two").as_json()
    assert revealed["correct"] == "5" and revealed["explanation"] == NUMBER_QUESTION.explanation
    assert revealed["results"]["counts"] == {"-123.25": 1, "5": 1}


def test_answers_survive_a_restart(db_url):
    first = PollStore(db_url)
    opened = first.open_poll(2, CHOICE_QUESTION)
    first.answer(opened.room, "student-one", "8x8")
    first.answer(opened.room, "student-two", "7x7")
    first.close()
    second = PollStore(db_url)  # a new engine, as after a restart of the server (or another replica)
    try:
        second.answer(opened.room, "student-two", "9x9")
        assert second.results(opened.room, opened.teacher_key).counts == {"7x7": 0, "8x8": 1, "9x9": 1}
    finally:
        second.close()


def test_polls_older_than_a_day_are_deleted_with_their_answers(store, db_url):
    old = store.open_poll(1, NUMBER_QUESTION)
    recent = store.open_poll(2, NUMBER_QUESTION)
    store.answer(old.room, "student-one", "5")
    store.answer(recent.room, "student-one", "6")
    with store.engine.begin() as conn:
        conn.execute(polls.update().where(polls.c.room == old.room)
                     .values(created_at=datetime.utcnow() - POLL_LIFETIME - timedelta(minutes=1)))
        conn.execute(polls.update().where(polls.c.room == recent.room)
                     .values(created_at=datetime.utcnow() - POLL_LIFETIME + timedelta(minutes=5)))
    restarted = PollStore(db_url)  # a store deletes expired polls when it starts (and whenever a poll opens)
    try:
        with pytest.raises(UnknownRoom, match=f"There is no poll {old.room}"):
            restarted.answer(old.room, "student-one", "5")
        assert stored_answers(restarted) == [(recent.room, "student-one", "6")]
        assert restarted.results(recent.room, recent.teacher_key).answers == 1
        with restarted.engine.begin() as conn:  # an hour later, the recent one expires too
            conn.execute(polls.update().values(created_at=datetime.utcnow() - POLL_LIFETIME - timedelta(hours=1)))
        restarted.open_poll(3, NUMBER_QUESTION)
        assert stored_answers(restarted) == []
        with restarted.engine.connect() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(polls)) == 1
    finally:
        restarted.close()


def test_a_student_is_rate_limited(db_url):
    now = [0.0]
    store = PollStore(db_url, limiter=RateLimiter(burst=3, per_second=0.5, clock=lambda: now[0]))
    try:
        opened = store.open_poll(1, NUMBER_QUESTION)
        for value in ("1", "2", "3"):
            store.answer(opened.room, "student-fast", value)
        with pytest.raises(TooFast, match="too fast"):
            store.answer(opened.room, "student-fast", "4")
        store.answer(opened.room, "student-calm", "4")  # the others are not held up
        now[0] += 2.0
        store.answer(opened.room, "student-fast", "5")
        assert stored_answers(store) == sorted([(opened.room, "student-fast", "5"),
                                                (opened.room, "student-calm", "4")])
    finally:
        store.close()


def test_an_answer_racing_the_close_is_not_stored(store):
    """The write itself checks that the poll is open: an answer validated before the close and written after it
    (the race `answer` guards against) stores nothing."""
    opened = store.open_poll(1, NUMBER_QUESTION)
    store.close_poll(opened.room, opened.teacher_key)
    with store.engine.begin() as conn:
        late = dict(room=opened.room, student="student-late", answer="5", updated_at=datetime.utcnow())
        assert conn.execute(store._upsert, late).first() is None
    assert stored_answers(store) == []


def test_forty_students_at_once_then_changing_their_minds(store):
    """40 threads answer together, then each changes its answer twice: every last answer is counted, once."""
    opened = store.open_poll(5, NUMBER_QUESTION)
    students = [f"student-{index:03d}" for index in range(40)]
    final = {student: str(index % 7) for index, student in enumerate(students)}
    start = threading.Barrier(len(students))

    def answer_three_times(student: str) -> None:
        start.wait()
        store.answer(opened.room, student, "100")
        store.answer(opened.room, student, str(int(final[student]) + 50))
        store.answer(opened.room, student, final[student] + ".0")

    with ThreadPoolExecutor(max_workers=len(students)) as pool:
        list(pool.map(answer_three_times, students))  # re-raises any thread's error
    results = store.results(opened.room, opened.teacher_key)
    expected = Counter(final.values())
    assert results.answers == 40
    assert results.counts == {value: expected[value] for value in sorted(expected, key=float)}
    rows = stored_answers(store)
    assert len(rows) == 40 and {student for _, student, _ in rows} == set(students)
    assert {student: answer for _, student, answer in rows} == final


def test_answers_while_closing_are_all_counted_or_refused(store):
    """Students answer while the teacher closes: every answer reported saved is in the final results, and
    every answer after the close is refused."""
    opened = store.open_poll(6, CHOICE_QUESTION)
    saved: dict[str, str] = {}
    lock = threading.Lock()
    start = threading.Barrier(21)

    def student(index: int) -> None:
        start.wait()
        name = f"student-{index:03d}"
        for choice in ("8x8", "9x9", "7x7"):
            try:
                value = store.answer(opened.room, name, choice)
            except PollClosed:
                return
            with lock:
                saved[name] = value

    with ThreadPoolExecutor(max_workers=21) as pool:
        futures = [pool.submit(student, index) for index in range(20)]
        start.wait()
        final = store.close_poll(opened.room, opened.teacher_key)
        for future in futures:
            future.result()
    assert final.counts == {option: Counter(saved.values())[option] for option in CHOICE_QUESTION.options}
    assert final.answers == len(saved)
