"""demos.view and demos.router: a tab's state to and from a link, routing, and the notices for bad links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import parse_qsl

import pytest

from demos import router
from demos.view import RESERVED_KEYS, View, ViewValueError, format_value, param


@dataclass(frozen=True)
class SampleView(View):
    PARTS: ClassVar[tuple[str, ...]] = ("first", "second")

    iou: float = param(0.5, low=0.0, high=1.0, label="IoU threshold")
    seed: int = param(0, low=0, high=2**31 - 1)
    aware: bool = param(False)
    source: str = param("book", choices=("book", "clutter"))
    text: str = param("0 1\n2 3", max_length=20)

    def validate(self) -> None:
        if self.source == "book" and self.seed > 1000:
            raise ViewValueError("the book's example has no seed above 1000")


@dataclass(frozen=True)
class OtherView(View):
    size: int = param(4, low=1, high=8)


def test_tab_id_and_title_come_from_the_module():
    assert SampleView.TAB == "test_view"  # the last part of `tests.test_view`
    assert SampleView.TITLE == "test_view"  # this module has no TITLE


def test_defaults_make_a_bare_link_and_changes_only_their_keys():
    assert SampleView().query() == ""
    assert SampleView().link() == "?tab=test_view"
    view = SampleView(iou=0.3, aware=True)
    assert view.query() == "iou=0.3&aware=1"
    assert dict(parse_qsl(SampleView(text="1 2\n3 4").query())) == {"text": "1 2\n3 4"}


@pytest.mark.parametrize("view", [
    SampleView(),
    SampleView(iou=0.125, seed=7, aware=True, source="clutter", text="5;6"),
    SampleView(iou=1.0, seed=2**31 - 1, source="clutter"),
    SampleView(iou=0.0, text=""),
])
def test_a_link_round_trips_to_the_same_view(view):
    restored, notices = SampleView.from_query(dict(parse_qsl(view.query(), keep_blank_values=True)))
    assert restored == view and notices == []


def test_floats_are_written_with_six_significant_digits_and_no_trailing_zero():
    spec = SampleView.specs()["iou"]
    assert format_value(spec, 0.5) == "0.5"
    assert format_value(spec, 1.0) == "1"
    assert format_value(spec, 1 / 3) == "0.333333"
    assert format_value(SampleView.specs()["aware"], True) == "1"


@pytest.mark.parametrize("query, field, default_shown, fragment", [
    ({"iou": "abc"}, "iou", "0.5", "IoU threshold is a number between 0 and 1, not 'abc'"),
    ({"iou": "1.5"}, "iou", "0.5", "IoU threshold must be between 0 and 1, not '1.5'"),
    ({"iou": "nan"}, "iou", "0.5", "not 'nan'"),
    ({"seed": "2.5"}, "seed", "0", "seed is a whole number"),
    ({"seed": "-1"}, "seed", "0", "seed must be between 0 and 2147483647"),
    ({"aware": "maybe"}, "aware", "0", "aware is true or false"),
    ({"source": "mine"}, "source", "book", "source is one of book, clutter"),
    ({"text": "x" * 21}, "text", "0 1\n2 3", "at most 20 characters"),
    ({"text": "a\x08b"}, "text", "0 1\n2 3", "control characters"),
])
def test_a_bad_value_keeps_the_default_and_names_the_parameter(query, field, default_shown, fragment):
    view, notices = SampleView.from_query(query)
    assert getattr(view, field) == getattr(SampleView(), field)
    assert len(notices) == 1
    assert f"`{field}=" in notices[0] and fragment in notices[0] and f"Showing the default, {default_shown}" in notices[0]


def test_other_values_of_a_link_survive_one_bad_value():
    view, notices = SampleView.from_query({"iou": "0.25", "seed": "x", "source": "clutter"})
    assert (view.iou, view.seed, view.source) == (0.25, 0, "clutter") and len(notices) == 1


def test_unknown_keys_are_named_and_ignored_and_the_labs_keys_are_not_the_tabs():
    view, notices = SampleView.from_query({"bogus": "1", "tab": "test_view", "projector": "1", "poll": "ABCDEF"})
    assert view == SampleView()
    assert len(notices) == 1 and "`bogus`" in notices[0] and "iou, seed, aware, source, text" in notices[0]
    assert {"tab", "part", "projector", "poll"} == RESERVED_KEYS


def test_settings_that_do_not_fit_together_fall_back_to_the_defaults_with_a_notice():
    view, notices = SampleView.from_query({"seed": "5000", "iou": "0.2"})
    assert view == SampleView()
    assert len(notices) == 1 and "the book's example has no seed above 1000" in notices[0]


def test_parts():
    assert SampleView.part_from_query({"part": "second"}) == ("second", [])
    assert SampleView.part_from_query({}) == (None, [])
    part, notices = SampleView.part_from_query({"part": "third"})
    assert part is None and "`part='third'`" in notices[0] and "first, second" in notices[0]
    part, notices = OtherView.part_from_query({"part": "x"})
    assert part is None and "no sub-tabs" in notices[0]


def test_from_values_reads_controls_in_field_order_and_names_a_bad_value():
    view = SampleView.from_values(0.7, 3.0, True, "clutter", "1")
    assert view == SampleView(iou=0.7, seed=3, aware=True, source="clutter", text="1")
    assert view.values() == (0.7, 3, True, "clutter", "1")
    with pytest.raises(ViewValueError, match="IoU threshold must be between 0 and 1"):
        SampleView.from_values(2.0, 3, True, "clutter", "1")
    with pytest.raises(TypeError):
        SampleView.from_values(0.7)


def test_param_refuses_a_default_outside_its_choices_and_other_types():
    with pytest.raises(ValueError):
        param("x", choices=("a", "b"))
    with pytest.raises(TypeError):
        param([1, 2])


# --- routing ----------------------------------------------------------------------------------------------

VIEWS = {"test_view": SampleView, "other": OtherView}


def test_route_without_a_tab_opens_the_first_with_its_defaults():
    destination = router.route({}, VIEWS)
    assert (destination.tab, destination.view, destination.part, destination.notices) == (
        "test_view", SampleView(), None, ())


def test_route_reads_the_named_tab_its_fields_and_part():
    OtherView.TAB = "other"  # this module defines both views; a real tab's id comes from its module
    destination = router.route({"tab": "test_view", "iou": "0.2", "part": "second"}, VIEWS)
    assert destination.view == SampleView(iou=0.2) and destination.part == "second" and not destination.notices


def test_an_unknown_tab_opens_the_first_with_a_notice_naming_it():
    destination = router.route({"tab": "nosuch", "iou": "0.2"}, VIEWS)
    assert destination.tab == "test_view" and destination.view == SampleView()
    assert len(destination.notices) == 1 and "`nosuch`" in destination.notices[0]


def test_updates_leave_unset_components_alone_and_the_last_value_wins():
    import gradio as gr

    a, b, c = object(), object(), object()
    updates = router.Updates()
    updates.set(a, 1)
    updates.set_all([b, a], [2, 3])
    assert updates.values([a, b, c]) == [3, 2, gr.skip()]
    assert router.unique([a, b, a, c, b]) == [a, b, c]
    with pytest.raises(ValueError):
        updates.set_all([a], [1, 2])


@dataclass(frozen=True)
class AlwaysView(View):
    ALWAYS: ClassVar[tuple[str, ...]] = ("step",)

    step: int = param(1, low=1, high=9)
    variant: int = param(0, low=0, high=9)


def test_fields_a_link_always_writes():
    assert AlwaysView().query() == "step=1"
    assert AlwaysView(variant=2).query() == "step=1&variant=2"
