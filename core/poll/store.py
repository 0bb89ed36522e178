"""The class poll's store: SQLAlchemy Core over SQLite (the default, one file) or PostgreSQL (shared by replicas).

`LAB_DB` chooses the database: unset, the SQLite file `<repo>/.data/lab.sqlite3`; a path, an SQLite file there;
a URL, that database (`postgresql://user:password@host/db` uses the psycopg 3 driver). Tables are created on first
use. Polls older than `POLL_LIFETIME` are deleted, with their answers, whenever a store starts or a poll opens.

Tables:
    polls   (room PK, step, variant, kind, options JSON, answer, prompt, explanation, key_hash, created_at, closed)
    answers (id PK, room FK -> polls, student, answer, updated_at; UNIQUE (room, student))

Concurrency: a student's answer is one statement, INSERT ... SELECT (the poll, if open) ... ON CONFLICT (room,
student) DO UPDATE, in each dialect's own syntax: two answers from the same student never make two rows, and an
answer never lands in a closed poll. On PostgreSQL the SELECT takes a share lock on the poll's row, so closing
waits for answers in flight and the results read after closing are final. SQLite runs in WAL mode (readers never
wait for the writer) with a busy timeout (writers wait their turn instead of failing); every write transaction
starts with its write statement, so it never has to upgrade a read lock.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from core.poll.limits import RateLimiter
from core.poll.rules import (
    PollClosed, PollFull, PollQuestion, PollResults, UnknownRoom, WrongTeacherKey, check_student, clean_room_code,
    hash_teacher_key, new_room_code, new_teacher_key, normalise_answer, summarise, teacher_key_matches,
)

DEFAULT_DB = Path(__file__).resolve().parents[2] / ".data" / "lab.sqlite3"
"""The SQLite file used when `LAB_DB` is not set (the folder is git-ignored)."""

POLL_LIFETIME = timedelta(days=1)
MAX_STUDENTS_PER_ROOM = 1000
MAX_POLLS = 1000
"""Polls kept at once (the last day's): opening more is refused, so a script cannot fill the disk."""

SQLITE_BUSY_TIMEOUT_S = 30.0

metadata = sa.MetaData()

polls = sa.Table(
    "polls", metadata,
    sa.Column("room", sa.String(16), primary_key=True),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("variant", sa.Integer, nullable=False, default=0),  # the lecture variant whose numbers were asked
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("answer", sa.String(64), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),  # UTC
    sa.Column("closed", sa.Boolean, nullable=False, default=False),
)

answers = sa.Table(
    "answers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("room", sa.String(16), sa.ForeignKey("polls.room", ondelete="CASCADE"), nullable=False),
    sa.Column("student", sa.String(64), nullable=False),
    sa.Column("answer", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),  # UTC
    sa.UniqueConstraint("room", "student", name="one_answer_per_student"),
)


def database_url(setting: str | None = None) -> str:
    """The SQLAlchemy URL for a `LAB_DB` value (`setting` None reads the environment variable).

    '' or unset -> `DEFAULT_DB`; a path -> that SQLite file; 'postgresql://' or 'postgres://' -> the psycopg 3
    driver ('postgresql+psycopg://'); any other URL unchanged.
    """
    if setting is None:
        setting = os.environ.get("LAB_DB", "")
    setting = setting.strip()
    if not setting:
        return f"sqlite:///{DEFAULT_DB}"
    if "://" not in setting:
        return f"sqlite:///{Path(setting).expanduser().resolve()}"
    for plain in ("postgresql://", "postgres://"):
        if setting.startswith(plain):
            return "postgresql+psycopg://" + setting[len(plain):]
    return setting


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def create_lab_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite, the file's folder is created and every connection set to WAL mode with a
    busy timeout and foreign keys on."""
    url_object = sa.make_url(url)
    if url_object.get_backend_name() != "sqlite":
        return sa.create_engine(url_object, pool_pre_ping=True, pool_size=8, max_overflow=8)
    if url_object.database and url_object.database != ":memory:":
        Path(url_object.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url_object, pool_size=8, max_overflow=8,
                              connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a crash of the app
        cursor.close()

    return engine


@dataclass(frozen=True)
class OpenedPoll:
    """A new poll: its room code and the teacher key (shown once; only its hash is stored)."""

    room: str
    teacher_key: str


@dataclass(frozen=True)
class PublicPoll:
    """What any student may see of a poll: the question without its answer, and whether it is closed.

    After the close, `correct`, `explanation` and `results` show the reveal to the students too.
    `own_answer` is the asking student's saved answer (never anyone else's).
    """

    room: str
    step: int
    kind: str
    options: tuple[str, ...]
    prompt: str
    closed: bool
    variant: int = 0
    own_answer: str | None = None
    correct: str | None = None
    explanation: str | None = None
    results: PollResults | None = None

    def as_json(self) -> dict:
        data = {"room": self.room, "step": self.step, "variant": self.variant, "kind": self.kind,
                "options": list(self.options), "prompt": self.prompt, "closed": self.closed,
                "own_answer": self.own_answer}
        if self.closed:
            data.update(correct=self.correct, explanation=self.explanation,
                        results=self.results.as_json() if self.results else None)
        return data


class PollStore:
    """Polls and answers in one database (see the module's docstring). Thread-safe: share one per process.

    url: a SQLAlchemy URL (see `database_url`); None reads `LAB_DB`.
    limiter: the per-(room, student) rate limit on answers.
    """

    def __init__(self, url: str | None = None, *, limiter: RateLimiter | None = None) -> None:
        self.url = database_url(url)
        self.engine = create_lab_engine(self.url)
        self.limiter = limiter if limiter is not None else RateLimiter()
        metadata.create_all(self.engine)
        self.delete_expired()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # --- teacher ---------------------------------------------------------------------------------------

    def open_poll(self, step: int, question: PollQuestion, variant: int = 0) -> OpenedPoll:
        """Open a poll on a lecture step's question (asked with the numbers of `variant`): a new random room code
        and teacher key."""
        key = new_teacher_key()
        self.delete_expired()
        with self.engine.connect() as conn:
            if conn.scalar(sa.select(sa.func.count()).select_from(polls)) >= MAX_POLLS:
                raise PollFull("Too many polls are open on this server: try again tomorrow.")
        for _ in range(8):  # a code already taken (1 chance in 244 million per open poll) draws another
            room = new_room_code()
            try:
                with self.engine.begin() as conn:
                    conn.execute(polls.insert().values(
                        room=room, step=int(step), variant=int(variant), kind=question.kind, options=list(question.options),
                        answer=question.answer, prompt=question.prompt, explanation=question.explanation,
                        key_hash=hash_teacher_key(key), created_at=_utcnow(), closed=False))
                return OpenedPoll(room=room, teacher_key=key)
            except sa.exc.IntegrityError:
                continue
        raise RuntimeError("Could not draw a free room code.")

    def results(self, room: str, teacher_key: str) -> PollResults:
        """The poll's answer counts; only with the room's teacher key (WrongTeacherKey otherwise)."""
        with self.engine.connect() as conn:
            row = self._teacher_row(conn, room, teacher_key)
            return self._results(conn, row)

    def close_poll(self, room: str, teacher_key: str) -> PollResults:
        """Close the poll (answers are refused from now on) and return its final results. Closing twice is fine."""
        with self.engine.connect() as conn:
            row = self._teacher_row(conn, room, teacher_key)
        with self.engine.begin() as conn:
            conn.execute(polls.update().where(polls.c.room == row.room).values(closed=True))
        with self.engine.connect() as conn:
            return self._results(conn, self._poll_row(conn, row.room))

    # --- students --------------------------------------------------------------------------------------

    def answer(self, room: str, student: str, text: object) -> str:
        """Save (or replace) a student's answer; returns its canonical text.

        Raises UnknownRoom, PollClosed, BadStudent, BadAnswer, TooFast or PollFull with a readable message;
        then nothing is stored.
        """
        room = clean_room_code(room)
        student = check_student(student)
        self.limiter.take((room, student))
        with self.engine.begin() as conn:  # a refusal raised inside rolls back: nothing is stored
            row = self._poll_row(conn, room)
            if row.closed:
                raise PollClosed("The teacher has closed this poll: answers are no longer taken.")
            value = normalise_answer(self._question(row), text)
            saved = conn.scalar(sa.select(answers.c.id).where(answers.c.room == room, answers.c.student == student))
            if saved is None:
                students = conn.scalar(sa.select(sa.func.count()).where(answers.c.room == room))
                if students >= MAX_STUDENTS_PER_ROOM:
                    raise PollFull(f"This poll already has {MAX_STUDENTS_PER_ROOM} answers.")
            stored = conn.execute(self._upsert, dict(room=room, student=student, answer=value,
                                                     updated_at=_utcnow())).first()
            if stored is None:  # the poll closed between the check and the write
                raise PollClosed("The teacher has closed this poll: answers are no longer taken.")
        return value

    def public_poll(self, room: str, student: str | None = None) -> PublicPoll:
        """The question as students see it, the asking student's own saved answer, and after the close the
        reveal (right answer, explanation, counts). Never another student's answer before the close."""
        room = clean_room_code(room)
        with self.engine.connect() as conn:
            row = self._poll_row(conn, room)
            own = None
            if student:
                own = conn.scalar(sa.select(answers.c.answer).where(
                    answers.c.room == room, answers.c.student == check_student(student)))
            question = self._question(row)
            reveal = dict(correct=question.answer, explanation=question.explanation,
                          results=self._results(conn, row)) if row.closed else {}
        return PublicPoll(room=room, step=row.step, variant=row.variant, kind=row.kind, options=question.options,
                          prompt=row.prompt, closed=row.closed, own_answer=own, **reveal)

    # --- upkeep ----------------------------------------------------------------------------------------

    def delete_expired(self, now: datetime | None = None) -> int:
        """Delete polls created more than `POLL_LIFETIME` before `now` (UTC, naive), with their answers.
        Returns how many polls went."""
        cutoff = (now or _utcnow()) - POLL_LIFETIME
        old_rooms = sa.select(polls.c.room).where(polls.c.created_at < cutoff)
        with self.engine.begin() as conn:
            conn.execute(answers.delete().where(answers.c.room.in_(old_rooms)))
            return conn.execute(polls.delete().where(polls.c.created_at < cutoff)).rowcount

    # --- helpers ---------------------------------------------------------------------------------------

    @functools.cached_property
    def _upsert(self) -> sa.Insert:
        """INSERT the answer (parameters room, student, answer, updated_at) if the poll is open; a second answer
        from the same student replaces the first. Returns the row's id, or no row when the poll is closed."""
        if self.dialect not in ("postgresql", "sqlite"):
            raise RuntimeError(f"The poll store runs on SQLite or PostgreSQL, not {self.dialect}.")
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        open_poll = (sa.select(polls.c.room, sa.bindparam("student", type_=sa.String),
                               sa.bindparam("answer", type_=sa.String), sa.bindparam("updated_at", type_=sa.DateTime))
                     .where(polls.c.room == sa.bindparam("room", type_=sa.String), polls.c.closed.is_(False))
                     .with_for_update(read=True))  # PostgreSQL: FOR SHARE; SQLite: nothing (one writer at a time)
        statement = insert(answers).from_select(["room", "student", "answer", "updated_at"], open_poll)
        return statement.on_conflict_do_update(
            index_elements=["room", "student"],
            set_={"answer": statement.excluded.answer, "updated_at": statement.excluded.updated_at},
        ).returning(answers.c.id)

    @staticmethod
    def _poll_row(conn: Connection, room: str) -> sa.Row:
        row = conn.execute(sa.select(polls).where(polls.c.room == room)).one_or_none()
        if row is None:
            raise UnknownRoom(f"There is no poll {room}: check the code on the projector (polls last one day).")
        return row

    def _teacher_row(self, conn: Connection, room: str, teacher_key: str) -> sa.Row:
        row = self._poll_row(conn, clean_room_code(room))
        if not teacher_key_matches(teacher_key, row.key_hash):
            raise WrongTeacherKey("Only the teacher who opened this poll can see its results or close it.")
        return row

    @staticmethod
    def _question(row: sa.Row) -> PollQuestion:
        options = row.options if isinstance(row.options, list) else json.loads(row.options)
        return PollQuestion(kind=row.kind, options=tuple(options), answer=row.answer, prompt=row.prompt,
                            explanation=row.explanation)

    def _results(self, conn: Connection, row: sa.Row) -> PollResults:
        counts = conn.execute(sa.select(answers.c.answer, sa.func.count())
                              .where(answers.c.room == row.room).group_by(answers.c.answer)).all()
        return summarise(row.room, row.step, self._question(row), dict(counts), bool(row.closed))


_default_store: PollStore | None = None
_default_lock = threading.Lock()


def default_store() -> PollStore:
    """The process's shared store on `LAB_DB`, opened on first use (thread-safe)."""
    global _default_store
    with _default_lock:
        if _default_store is None:
            _default_store = PollStore()
        return _default_store
