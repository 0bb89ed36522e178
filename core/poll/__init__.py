"""The class poll: a lecture step's question answered by the whole room, counted live, revealed by the teacher.

`rules` holds the formats and checks (pure), `limits` the per-student rate limit, `store` the database
(SQLAlchemy over SQLite or PostgreSQL, chosen by `LAB_DB`).
"""

from core.poll.rules import (
    CHOICE, NUMBER, BadAnswer, BadStudent, PollClosed, PollError, PollFull, PollQuestion, PollResults, TooFast,
    UnknownRoom, WrongTeacherKey,
)

__all__ = ["CHOICE", "NUMBER", "BadAnswer", "BadStudent", "PollClosed", "PollError", "PollFull", "PollQuestion",
           "PollResults", "TooFast", "UnknownRoom", "WrongTeacherKey"]
