"""The class poll's rules without a database: answer formats, room codes, teacher keys, the rate limit, results."""

from __future__ import annotations

import hashlib
import re

import pytest

from core.poll.limits import RateLimiter
from core.poll.rules import (
    MAX_ANSWER_CHARS, ROOM_ALPHABET, ROOM_LENGTH, BadAnswer, BadStudent, PollQuestion, TooFast, UnknownRoom,
    bin_counts, check_student, clean_room_code, hash_teacher_key, new_room_code, new_student_id, new_teacher_key,
    normalise_answer, number_bins, summarise, teacher_key_matches,
)
from core.poll.store import database_url

NUMBER_QUESTION = PollQuestion("number", answer="5", prompt="How many anchors per pixel?")
CHOICE_QUESTION = PollQuestion("choice", options=("7x7", "8x8", "9x9"), answer="7x7")


@pytest.mark.parametrize("text, expected", [
    ("12", "12"), ("12.0", "12"), (" 12 ", "12"), ("1.2e1", "12"), ("+12", "12"), ("3,5", "3.5"), ("-0", "0"),
    ("0.1", "0.1"), ("\u22122", "-2"), ("1e20", "1e+20"), ("0.142857142857142857", "0.142857142857"), (7, "7"),
])
def test_numbers_are_counted_by_their_value(text, expected):
    assert normalise_answer(NUMBER_QUESTION, text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "Please enter an answer"), ("   ", "Please enter an answer"), (None, "Please enter an answer"),
    ("twelve", "Please answer with a number"), ("1,2,3", "Please answer with a number"),
    ("nan", "finite"), ("inf", "finite"), ("-Infinity", "finite"), ("1e999", "finite"),
    ("1" * (MAX_ANSWER_CHARS + 1), f"at most {MAX_ANSWER_CHARS} characters (this one has 65)"),
    (["12"], "as text"), (True, "as text"),
])
def test_bad_number_answers_get_a_clear_message(text, message):
    with pytest.raises(BadAnswer, match=re.escape(message)):
        normalise_answer(NUMBER_QUESTION, text)


def test_choices_are_matched_to_the_options_own_text():
    assert normalise_answer(CHOICE_QUESTION, "8x8") == "8x8"
    assert normalise_answer(CHOICE_QUESTION, " 9X9 ") == "9x9"
    with pytest.raises(BadAnswer, match="Please choose one of: 7x7, 8x8, 9x9"):
        normalise_answer(CHOICE_QUESTION, "10x10")


def test_questions_are_checked_when_made():
    assert PollQuestion("number", answer="12.0").answer == "12"
    with pytest.raises(ValueError, match="kind"):
        PollQuestion("text")
    with pytest.raises(ValueError, match="2 to 12 options"):
        PollQuestion("choice", options=("only",))
    with pytest.raises(ValueError, match="differ"):
        PollQuestion("choice", options=("a", "A"))
    with pytest.raises(ValueError, match="no options"):
        PollQuestion("number", options=("1", "2"))
    with pytest.raises(BadAnswer):  # the right answer must be one of the options
        PollQuestion("choice", options=("a", "b"), answer="c")


def test_room_codes_are_random_and_free_of_look_alikes():
    assert len(ROOM_ALPHABET) == len(set(ROOM_ALPHABET)) == 25
    assert not set("0O1IL2Z5SBQ") & set(ROOM_ALPHABET)
    draws = [new_room_code() for _ in range(1000)]
    codes = set(draws)
    assert len(codes) >= 995  # 25**6 codes: 1000 draws repeat about 0.002 times on average
    assert all(len(code) == ROOM_LENGTH >= 6 and set(code) <= set(ROOM_ALPHABET) for code in codes)
    assert set("".join(codes)) == set(ROOM_ALPHABET)  # every character gets used


def test_typed_room_codes_are_cleaned_or_refused():
    assert clean_room_code(" ac-df 34 ") == "ACDF34"
    for bad in ("ACDF3", "ACDF340", "ACDFO4", "", None, "ACDF34'; --"):
        with pytest.raises(UnknownRoom, match="is not a room code: it has 6 letters and digits"):
            clean_room_code(bad)


def test_teacher_keys_are_compared_by_their_sha256():
    # SHA-256 of "abc", from FIPS 180-2's example
    assert hash_teacher_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    key = new_teacher_key()
    assert len(key) == 32 and key != new_teacher_key()
    stored = hashlib.sha256(key.encode()).hexdigest()
    assert teacher_key_matches(key, stored)
    assert not teacher_key_matches(key[:-1] + ("A" if key[-1] != "A" else "B"), stored)
    assert not teacher_key_matches("", stored) and not teacher_key_matches(None, stored)


def test_student_ids_are_anonymous_tokens():
    assert check_student("abcd-EF_12") == "abcd-EF_12"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", new_student_id())
    for bad in ("short", "x" * 65, "has space 123", "alice@example.org", None, 12345678):
        with pytest.raises(BadStudent, match="anonymous student id"):
            check_student(bad)


def test_rate_limit_allows_a_burst_then_one_answer_per_interval():
    now = [100.0]
    limiter = RateLimiter(burst=3, per_second=0.5, clock=lambda: now[0])
    for _ in range(3):
        limiter.take(("ROOM", "student-a"))
    with pytest.raises(TooFast, match="wait 2 s"):
        limiter.take(("ROOM", "student-a"))
    limiter.take(("ROOM", "student-b"))  # buckets are per student
    now[0] += 1.9
    with pytest.raises(TooFast):
        limiter.take(("ROOM", "student-a"))
    now[0] += 0.2  # 2.1 s after the burst: one token (0.5 per second) is back
    limiter.take(("ROOM", "student-a"))
    with pytest.raises(TooFast):
        limiter.take(("ROOM", "student-a"))


def test_rate_limit_forgets_idle_students():
    now = [0.0]
    limiter = RateLimiter(burst=2, per_second=1.0, max_keys=3, clock=lambda: now[0])
    for key in "abc":
        limiter.take(key)
    now[0] = 10.0  # all three buckets are full again
    limiter.take("d")
    assert set(limiter._buckets) == {"d"}


def test_results_list_every_option_and_sort_numbers():
    choice = summarise("ROOMXX", 2, CHOICE_QUESTION, {"9x9": 2, "7x7": 3}, closed=False)
    assert choice.as_json() == {"room": "ROOMXX", "step": 2, "kind": "choice", "answers": 5,
                                "counts": {"7x7": 3, "8x8": 0, "9x9": 2}, "closed": False}
    number = summarise("ROOMXX", 0, NUMBER_QUESTION, {"12": 1, "5": 2, "-1.5": 1}, closed=True)
    assert list(number.counts) == ["-1.5", "5", "12"]
    assert number.as_json()["values"] == [-1.5, 5.0, 5.0, 12.0]
    assert number.as_json()["correct"] == "5"


def test_histogram_bins_one_per_value_or_equal_widths():
    bins = number_bins([5, 5, 6, 9], correct=5)
    assert bins == [(5, 5), (6, 6), (9, 9)]
    assert bin_counts([5, 5, 6, 9], bins) == [2, 1, 1]
    assert number_bins([6], correct=5) == [(5, 5), (6, 6)]  # the right answer gets a bar even when nobody gave it
    values = list(range(21))  # 0..20: 21 distinct values into 4 bins of width 5
    bins = number_bins(values, correct=7, max_bins=4)
    assert bins == [(0, 5), (5, 10), (10, 15), (15, 20)]
    assert bin_counts(values, bins) == [5, 5, 5, 6]  # the last bin holds 15..20, its right edge included
    assert number_bins([]) == []


@pytest.mark.parametrize("setting, url", [
    ("postgresql://u:p@db.example:5432/lab", "postgresql+psycopg://u:p@db.example:5432/lab"),
    ("postgres://u@db/lab", "postgresql+psycopg://u@db/lab"),
    ("postgresql+psycopg://u@db/lab", "postgresql+psycopg://u@db/lab"),
    ("sqlite:////srv/lab.db", "sqlite:////srv/lab.db"),
    ("/srv/lab/poll.sqlite3", "sqlite:////srv/lab/poll.sqlite3"),
])
def test_lab_db_setting_becomes_a_url(setting, url):
    assert database_url(setting) == url


def test_lab_db_defaults_to_the_apps_data_folder(monkeypatch):
    monkeypatch.delenv("LAB_DB", raising=False)
    url = database_url()
    assert url.startswith("sqlite:///") and url.endswith("/.data/lab.sqlite3")
