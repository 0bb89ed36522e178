"""The tabs as one lab: which tab and view a link opens, lazy first pictures, the address bar, and hand-offs.

Each tab module's `build()` returns a `TabUI`: its `View` class, the controls that hold the view's fields (in
field order), the outputs its `show(view)` fills, and optionally its uploads (which links cannot carry), its sub-tabs
and the hand-offs it starts. `connect` wires, once every tab is built (so build order never matters):

  * page load: `route` reads the query (``?tab=nms&iou=0.3``), selects that tab and sub-tab, sets its controls
    and computes its pictures (the other tabs compute theirs when first opened); unknown tabs and bad values
    become a notice at the top of the page, never an error page;
  * the address bar: every control change of a tab runs `demos.view.sync_js` in the browser (no round trip);
  * hand-offs: a button in one tab opens another tab in a view computed from the first tab's inputs
    (Detection -> NMS candidates, Augmentation -> the generalisation experiment).
"""

from __future__ import annotations

import json

from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Callable, Mapping, Sequence

import gradio as gr

from demos.view import PROJECTOR_JS, View, ViewValueError, copy_js, part_js, show_tab_js, sync_js

Outputs = Sequence[Any]


@dataclass
class Handoff:
    """A button that opens tab `target` in the view `make(*inputs)` returns.

    `make` may also return ``(view, extras)``: values for the target's `TabUI.inbox` components that a view
    cannot hold (candidates computed from an uploaded photo, say); the target's `receive` then shows them.
    """

    trigger: gr.Button
    target: str
    make: Callable[..., View | tuple[View, Mapping[str, Any]]]
    inputs: Sequence[gr.components.Component] = ()
    api_name: str | None = None


@dataclass
class TabUI:
    """What a tab's `build()` hands to the lab (see the module docstring)."""

    view: type[View]
    controls: Sequence[gr.components.Component]  # one per field of `view`, in field order
    outputs: Sequence[gr.components.Component]  # what `show` returns, in order
    show: Callable[[Any], Outputs]  # view -> the tab's pictures and numbers
    uploads: Sequence[gr.components.Component] = ()  # uploaded images (sub-tabs' too): a link says it cannot carry them
    parts: gr.Tabs | None = None  # sub-tabs whose ids are `view.PARTS`
    handoffs: Sequence[Handoff] = ()
    inbox: Mapping[str, gr.components.Component] = field(default_factory=dict)
    receive: Callable[[Any, Mapping[str, Any]], Outputs] | None = None  # (view, extras) -> outputs + inbox values
    loads: Sequence[Callable[[gr.Blocks], Any]] = ()  # each attaches a page-load event of its own to the app

    def __post_init__(self) -> None:
        fields = list(self.view.specs())
        if len(self.controls) != len(fields):
            raise ValueError(f"{self.view.__name__}: {len(fields)} fields {fields} but {len(self.controls)} controls")
        if bool(self.parts) != bool(self.view.PARTS):
            raise ValueError(f"{self.view.__name__}: sub-tabs and PARTS must come together")

    def current_view(self, *values: Any) -> View:
        """The view the controls hold now; a value no field accepts is a `gr.Error` naming it."""
        try:
            return self.view.from_values(*values)
        except ViewValueError as error:
            raise gr.Error(f"{error}.") from None


@dataclass(frozen=True)
class Route:
    """Where a link leads: a tab, its view and sub-tab, and what could not be used."""

    tab: str
    view: View
    part: str | None
    notices: tuple[str, ...] = ()


def route(query: Mapping[str, str], views: Mapping[str, type[View]]) -> Route:
    """The tab and view a link's query describes. The first of `views` when it names none; a notice (never an
    error) for an unknown tab or a bad value, which keep the first tab or the field's default."""
    first = next(iter(views))
    named = query.get("tab")
    if named is None and query.get("poll") and "lecture" in views:
        named = "lecture"  # a class poll's join link (?poll=ROOM) opens the lecture, where students answer
    if named is not None and named not in views:
        notice = (f"This link asks for a tab `{named}` that the lab does not have (its tabs: {', '.join(views)}); "
                  f"showing {views[first].TITLE} instead.")
        return Route(first, views[first](), None, (notice,))
    view_class = views[named or first]
    view, notices = view_class.from_query(query)
    part, part_notices = view_class.part_from_query(query)
    return Route(view_class.TAB, view, part, tuple(notices + part_notices))


def link_bar(tab: str) -> None:
    """The Copy-link button at the top of a tab, its status line (read out by screen readers) and the note that
    appears when the view holds something a link cannot carry."""
    with gr.Row(elem_classes=["lab-link-bar"]):
        button = gr.Button("Copy link to this view", size="sm", scale=0, min_width=180,
                           elem_id=f"{tab}-copy-link")
        gr.HTML(f'<span id="{tab}-link-status" class="lab-link-status" role="status" aria-live="polite"></span>'
                f'<span id="{tab}-link-note" class="lab-link-note"></span>', padding=False)
    button.click(None, js=copy_js(tab))


def connect(demo: gr.Blocks, tabs: gr.Tabs, notice: gr.Markdown, built: Mapping[str, tuple[gr.Tab, TabUI]],
            projector: gr.Checkbox) -> None:
    """Wire the page load, the lazy first pictures, the address bar and the hand-offs of every built tab, and the
    projector toggle (``?projector=1``)."""
    views = {tab_id: ui.view for tab_id, (_, ui) in built.items()}
    uis = {tab_id: ui for tab_id, (_, ui) in built.items()}
    if not uis:
        return  # an app of tabs without views (a development build): nothing to route
    rendered = gr.State(frozenset())
    shown_tab = gr.Textbox(visible=False)  # the tab the link opened, for the address bar (see `show_tab_js`)
    parts = [ui.parts for ui in uis.values() if ui.parts is not None]
    every_control = list(chain.from_iterable(ui.controls for ui in uis.values()))
    every_output = list(chain.from_iterable(ui.outputs for ui in uis.values()))

    def restore(done: frozenset, request: gr.Request) -> list[Any]:
        query = dict(request.query_params) if request is not None else {}
        destination = route(query, views)
        notices = list(destination.notices)
        ui = uis[destination.tab]
        try:
            shown = ui.show(destination.view)
        except gr.Error as error:
            notices.append(f"This link's view could not be shown ({error.message}); showing the defaults.")
            destination = Route(destination.tab, ui.view(), None)
            shown = ui.show(destination.view)
        updates = Updates()
        if query.get("tab") is not None:  # a bare address already shows the first tab: a click made meanwhile stays
            updates.set(tabs, gr.Tabs(selected=destination.tab))
        updates.set(notice, gr.Markdown("\n\n".join(f"⚠️ {text}" for text in notices), visible=bool(notices)))
        updates.set(rendered, done | {destination.tab})
        updates.set(shown_tab, destination.tab)
        if query.get("projector", "").lower() in {"1", "true", "yes", "on"}:
            updates.set(projector, True)
        updates.set_all(ui.controls, destination.view.values())
        updates.set_all(ui.outputs, shown)
        if ui.parts is not None:
            updates.set(ui.parts, gr.Tabs(selected=destination.part or ui.view.PARTS[0]))
        return updates.values(restore_outputs)

    restore_outputs = unique([tabs, notice, rendered, shown_tab, projector, *every_control, *every_output, *parts])
    demo.load(restore, inputs=rendered, outputs=restore_outputs, api_visibility="private",
              show_progress="minimal").then(None, inputs=shown_tab, js="(tab) => { window.labView && window.labView.ready(tab); }")

    projector.change(None, inputs=projector, js=PROJECTOR_JS)
    for ui in uis.values():
        for attach in ui.loads:
            attach(demo)
    for tab_id, (tab_block, ui) in built.items():
        _connect_tab(tab_id, tab_block, ui, rendered)
    for ui in uis.values():
        for handoff in ui.handoffs:
            if handoff.target in uis:
                _connect_handoff(handoff, uis[handoff.target], tabs, rendered)
            else:  # an app built without the target tab (LAB_TABS): the button would lead nowhere
                handoff.trigger.visible = False


def _connect_tab(tab_id: str, tab_block: gr.Tab, ui: TabUI, rendered: gr.State) -> None:
    outputs = unique([rendered, *ui.outputs])

    def first_pictures(done: frozenset, *values: Any) -> list[Any]:
        """A tab's pictures when it is opened for the first time in this page (later: unchanged).

        Gradio also reports the first tab as selected when the page mounts, before the page load (`restore`) has
        drawn anything: that is not a student's click, and the page load draws the tab the address names.
        """
        if tab_id in done or not done:
            return [gr.skip()] * len(outputs)
        updates = Updates()
        updates.set(rendered, done | {tab_id})
        updates.set_all(ui.outputs, ui.show(ui.current_view(*values)))
        return updates.values(outputs)

    tab_block.select(None, js=show_tab_js(tab_id))  # first: the address bar names the tab before the request leaves
    tab_block.select(first_pictures, inputs=[rendered, *ui.controls], outputs=outputs,
                     api_visibility="private", show_progress="minimal").then(
        None, js=f"() => {{ window.labView && window.labView.drawn({json.dumps(tab_id)}); }}")
    inputs = [*ui.controls, *ui.uploads]
    triggers = [control.change for control in inputs]
    gr.on(triggers, None, inputs=inputs, js=sync_js(ui.view, len(ui.uploads)))
    if ui.parts is not None:
        for part in ui.parts.children:
            if isinstance(part, gr.Tab) and part.id in ui.view.PARTS:
                part.select(None, js=part_js(ui.view, part.id))


def _connect_handoff(handoff: Handoff, target: TabUI, tabs: gr.Tabs, rendered: gr.State) -> None:
    inbox = list(target.inbox.values())

    outputs = unique([tabs, rendered, *target.controls, *target.outputs, *inbox])

    def send(done: frozenset, *values: Any) -> list[Any]:
        made = handoff.make(*values)
        view, extras = made if isinstance(made, tuple) else (made, {})
        updates = Updates()
        updates.set(tabs, gr.Tabs(selected=target.view.TAB))
        updates.set(rendered, done | {target.view.TAB})
        updates.set_all(target.controls, view.values())
        if extras:
            if target.receive is None:
                raise TypeError(f"the {target.view.TITLE} tab receives no extras")
            updates.set_all([*target.outputs, *inbox], target.receive(view, extras))
        else:
            updates.set_all(target.outputs, target.show(view))
        return updates.values(outputs)

    handoff.trigger.click(
        send, inputs=[rendered, *handoff.inputs], outputs=outputs,
        api_name=handoff.api_name, api_visibility="private" if handoff.api_name is None else "public",
    ).then(None, js=show_tab_js(target.view.TAB))


def unique(components: Sequence[Any]) -> list[Any]:
    """`components` without repeats, in order (a control that a tab's `show` also updates appears once)."""
    seen: set[int] = set()
    return [c for c in components if not (id(c) in seen or seen.add(id(c)))]


class Updates:
    """Values for an event's outputs, by component; a later value for the same component wins, and the
    components given none are left as they are (`gr.skip()`)."""

    def __init__(self) -> None:
        self._values: dict[int, Any] = {}

    def set(self, component: Any, value: Any) -> None:
        self._values[id(component)] = value

    def set_all(self, components: Sequence[Any], values: Sequence[Any]) -> None:
        values = list(values)
        if len(values) != len(components):
            raise ValueError(f"{len(components)} components but {len(values)} values")
        for component, value in zip(components, values):
            self.set(component, value)

    def values(self, outputs: Sequence[Any]) -> list[Any]:
        return [self._values.get(id(c), gr.skip()) for c in outputs]
