"""Every view is a link: a tab's state as one typed value, and its conversion to and from the URL query.

A tab declares its state once, as a frozen dataclass whose fields are made by `param` (a default, bounds or
choices, a label for messages). The tab builds its controls from those defaults, its pictures from a value of
the class (`show(view)`), and the address bar follows the controls:

    @dataclass(frozen=True)
    class NmsView(View):
        iou: float = param(0.5, low=0.0, high=1.0, label="IoU threshold")
        seed: int = param(0, low=0, high=2**31 - 1)

    NmsView.from_query({"iou": "0.3"})  ->  (NmsView(iou=0.3, seed=0), [])
    NmsView(iou=0.3).query()            ->  "iou=0.3"      (defaults are left out: links stay short)

The query of the whole lab is ``?tab=<id>&<the tab's fields that differ from their defaults>``. A bad value or
an unknown key never fails: the field keeps its default and a notice names the parameter (`from_query`).

In the browser, `SCRIPT` (put in the page's <head> by `app.py`) keeps the address bar in step with the controls
without a round trip to the server: each tab's controls send their values to ``labView.sync`` (see
`sync_js`), which writes ``history.replaceState`` and, inside a Hugging Face Space, posts the query to the
Space's page so that its own URL follows (the message documented at
https://huggingface.co/docs/hub/spaces-handle-url-parameters).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Mapping, Sequence, TypeVar

ParamKind = Literal["int", "float", "bool", "choice", "text"]

RESERVED_KEYS: frozenset[str] = frozenset({"tab", "part", "projector", "poll"})
"""Query keys that belong to the lab, not to a tab's fields: ``tab`` (which tab), ``part`` (which of its sub-tabs),
``projector`` (large type for a room) and ``poll`` (a class poll's room code)."""

MAX_TEXT_LENGTH = 400
"""Longest text a link carries for one field (a pipeline or a matrix); longer values keep the default."""

V = TypeVar("V", bound="View")


@dataclass(frozen=True)
class ParamSpec:
    """How one field of a view is written in a link, checked, and named in messages."""

    kind: ParamKind
    label: str = ""  # how messages name it ("IoU threshold"); the field name when empty
    low: float | None = None  # inclusive bounds of a number
    high: float | None = None
    choices: tuple[str, ...] = ()  # the allowed values of a "choice"
    max_length: int = MAX_TEXT_LENGTH  # of a "text"
    digits: int = 6  # significant digits of a float in a link


def param(default: Any, *, low: float | None = None, high: float | None = None,
          choices: Sequence[str] | None = None, label: str = "", max_length: int = MAX_TEXT_LENGTH,
          digits: int = 6) -> Any:
    """A field of a `View`: its default and how it is checked. The kind follows the default's type
    (bool, int, float, str); a str with `choices` is a choice."""
    if isinstance(default, bool):
        kind: ParamKind = "bool"
    elif isinstance(default, int):
        kind = "int"
    elif isinstance(default, float):
        kind = "float"
    elif isinstance(default, str):
        kind = "choice" if choices is not None else "text"
    else:
        raise TypeError(f"a view field holds a bool, int, float or str, not {type(default).__name__}")
    spec = ParamSpec(kind, label, low, high, tuple(choices or ()), max_length, digits)
    if kind == "choice" and default not in spec.choices:
        raise ValueError(f"default {default!r} is not among the choices {spec.choices}")
    return field(default=default, metadata={"view": spec})


class ViewValueError(ValueError):
    """A value that a field does not accept; the message names the field and what it accepts."""


@dataclass(frozen=True)
class View:
    """Base of every tab's state. Subclasses are frozen dataclasses of `param` fields and set `TAB`."""

    TAB: ClassVar[str] = ""
    """The tab's id: the last part of its module's name (``demos.nms`` -> ``"nms"``), set when the class is made,
    so that the order list `demos.TAB_MODULES` is the one place a tab id is written."""
    TITLE: ClassVar[str] = ""
    """How notices name the tab: its module's `TITLE` ("NMS")."""
    ALWAYS: ClassVar[tuple[str, ...]] = ()
    """Fields a link writes even at their defaults (the lecture's ``step`` and ``variant``: a step's address says
    which numbers the class saw)."""
    PARTS: ClassVar[tuple[str, ...]] = ()
    """Ids of the tab's sub-tabs, the first shown by default (the link's ``part=``); () without sub-tabs."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        import sys

        module = cls.__module__
        cls.TAB = module.rsplit(".", 1)[-1]
        cls.TITLE = getattr(sys.modules.get(module), "TITLE", cls.TAB)

    # --- description ------------------------------------------------------------------------------------

    @classmethod
    def specs(cls) -> dict[str, ParamSpec]:
        """Field name -> its spec, in declaration order (the order of the tab's controls in `values`)."""
        return {f.name: f.metadata["view"] for f in dataclasses.fields(cls)}

    @classmethod
    def defaults(cls: type[V]) -> V:
        return cls()

    @classmethod
    def describe(cls, name: str) -> str:
        spec = cls.specs()[name]
        return spec.label or name

    # --- one value --------------------------------------------------------------------------------------

    @classmethod
    def coerce(cls, name: str, value: Any) -> Any:
        """`value` (a control's value or a link's text) as field `name` holds it; ViewValueError otherwise."""
        spec = cls.specs()[name]
        what = cls.describe(name)
        if spec.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ViewValueError(f"{what} is true or false (1 or 0), not {_shown(value)}")
        if spec.kind in ("int", "float"):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            bounds = _bounds(spec)
            if not math.isfinite(number) or (spec.kind == "int" and number != int(number)):
                kind = "a whole number" if spec.kind == "int" else "a number"
                raise ViewValueError(f"{what} is {kind}{bounds}, not {_shown(value)}")
            if (spec.low is not None and number < spec.low) or (spec.high is not None and number > spec.high):
                raise ViewValueError(f"{what} must be{bounds or ' in range'}, not {_shown(value)}")
            return int(number) if spec.kind == "int" else number
        text = "" if value is None else str(value)
        if spec.kind == "choice":
            if text not in spec.choices:
                raise ViewValueError(f"{what} is one of {', '.join(spec.choices)}; not {_shown(value)}")
            return text
        if len(text) > spec.max_length:
            raise ViewValueError(f"{what} is at most {spec.max_length} characters long in a link")
        if any(ord(c) < 32 and c not in "\n\t" for c in text):
            raise ViewValueError(f"{what} contains control characters")
        return text

    @classmethod
    def from_values(cls: type[V], *values: Any) -> V:
        """The view held by the tab's controls (their values in field order). Raises ViewValueError."""
        names = list(cls.specs())
        if len(values) != len(names):
            raise TypeError(f"{cls.__name__} has {len(names)} fields, got {len(values)} values")
        return cls(**{name: cls.coerce(name, value) for name, value in zip(names, values)})

    def values(self) -> tuple[Any, ...]:
        """The fields in declaration order: what the tab's controls show."""
        return tuple(getattr(self, name) for name in self.specs())

    def replace(self: V, **changes: Any) -> V:
        return dataclasses.replace(self, **{k: type(self).coerce(k, v) for k, v in changes.items()})

    # --- links ------------------------------------------------------------------------------------------

    @classmethod
    def part_from_query(cls, query: Mapping[str, str]) -> tuple[str | None, list[str]]:
        """The sub-tab a link names (None: the first), and a notice when it names none of `PARTS`."""
        part = query.get("part")
        if part is None or part == "":
            return None, []
        if part in cls.PARTS:
            return part, []
        if not cls.PARTS:
            return None, [f"The {cls.TITLE} tab has no sub-tabs; the link's `part={_shown(part, 30)}` was ignored."]
        return None, [f"The link's `part={_shown(part, 30)}` is not a sub-tab of the {cls.TITLE} tab "
                      f"({', '.join(cls.PARTS)}); showing {cls.PARTS[0]}."]

    @classmethod
    def from_query(cls: type[V], query: Mapping[str, str]) -> tuple[V, list[str]]:
        """The view a link describes, and a notice for every key or value it could not use.

        Keys of the whole lab (`RESERVED_KEYS`) are not the tab's fields and are ignored here.
        """
        specs = cls.specs()
        values: dict[str, Any] = {}
        notices: list[str] = []
        for key, text in query.items():
            if key in RESERVED_KEYS:
                continue
            if key not in specs:
                notices.append(f"The link's parameter `{key}` is not a setting of the {cls.TITLE} tab "
                               f"(its settings: {', '.join(specs)}); it was ignored.")
                continue
            try:
                values[key] = cls.coerce(key, text)
            except ViewValueError as error:
                default = getattr(cls(), key)
                notices.append(f"The link's `{key}={_shown(text, 40)}` was not used: {error}. "
                               f"Showing the default, {format_value(specs[key], default)}.")
        view = cls(**values)
        try:
            view.validate()
        except ViewValueError as error:
            notices.append(f"The link's settings do not fit together ({error}); showing the defaults.")
            view = cls()
        return view, notices

    def validate(self) -> None:
        """Checks across fields (a subclass overrides it); raises ViewValueError."""

    def query(self) -> str:
        """``key=value&...`` for the fields that differ from their defaults (no ``tab=``), in field order."""
        from urllib.parse import urlencode

        default = type(self)()
        pairs = [(name, format_value(spec, getattr(self, name))) for name, spec in self.specs().items()
                 if name in self.ALWAYS
                 or format_value(spec, getattr(self, name)) != format_value(spec, getattr(default, name))]
        return urlencode(pairs)

    def link(self) -> str:
        """The relative link that opens this view: ``?tab=<id>&...``."""
        rest = self.query()
        return f"?tab={self.TAB}" + (f"&{rest}" if rest else "")


def format_value(spec: ParamSpec, value: Any) -> str:
    """How a link writes a value: bools as 1/0, floats with `spec.digits` significant digits, no trailing .0.

    The browser writes the same text (`SCRIPT`'s ``fmt``), so a link made here equals the address bar's.
    """
    if spec.kind == "bool":
        return "1" if value else "0"
    if spec.kind == "float":
        number = float(f"{float(value):.{spec.digits}g}")
        return str(int(number)) if number == int(number) and abs(number) < 1e15 else repr(number)
    if spec.kind == "int":
        return str(int(value))
    return str(value)


def _bounds(spec: ParamSpec) -> str:
    def shown(bound: float) -> str:
        return str(int(bound)) if spec.kind == "int" else f"{bound:g}"

    if spec.low is not None and spec.high is not None:
        return f" between {shown(spec.low)} and {shown(spec.high)}"
    if spec.low is not None:
        return f" of at least {shown(spec.low)}"
    if spec.high is not None:
        return f" of at most {shown(spec.high)}"
    return ""


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= limit else text[: limit - 1] + "…'"


# --- the browser side ---------------------------------------------------------------------------------------


def sync_spec(view: type[View], uploads: int = 0) -> dict[str, Any]:
    """What `labView.sync` needs to know of a tab: its id, field names, kinds, defaults as link text, and how many
    uploads follow the fields among the values."""
    default = view()
    fields = [{"key": name, "kind": spec.kind, "default": format_value(spec, getattr(default, name)),
               "digits": spec.digits, "always": name in view.ALWAYS} for name, spec in view.specs().items()]
    return {"tab": view.TAB, "fields": fields, "uploads": uploads}


def sync_js(view: type[View], uploads: int = 0) -> str:
    """The `js=` of an event whose inputs are the tab's controls (in field order), then its `uploads` uploads: it
    writes the address bar in the browser and returns nothing (an event with ``fn=None`` never reaches the
    server); while an upload holds a file, the tab says that its link cannot carry it."""
    return f"(...values) => {{ window.labView && window.labView.sync({json.dumps(sync_spec(view, uploads))}, values); }}"


def part_js(view: type[View], part: str) -> str:
    """The `js=` of a sub-tab's select event: the link's ``part=`` follows the sub-tab shown (none for the first)."""
    shown = None if part == view.PARTS[0] else part
    return f"() => {{ window.labView && window.labView.setPart({json.dumps(view.TAB)}, {json.dumps(shown)}); }}"


PROJECTOR_JS = "(on) => { window.labView && window.labView.projector(on); }"
"""The `js=` of the projector toggle's change event: large type for a room (``?projector=1``)."""


def copy_js(tab: str) -> str:
    """The `js=` of a tab's Copy-link button."""
    return f"() => {{ window.labView && window.labView.copy({json.dumps(tab)}); }}"


def show_tab_js(tab: str) -> str:
    """The `js=` of a tab's select event: the address bar shows that tab's view."""
    return f"() => {{ window.labView && window.labView.show({json.dumps(tab)}); }}"


def script(tab_ids: Sequence[str], space_id: str | None = None) -> str:
    """The <script> for the page's <head>: `labView` keeps each tab's query and writes the address bar.

    `tab_ids` are the lab's tabs in order: the first is shown when the address names none or an unknown one (as
    the server's `demos.router.route` decides). `space_id` ("owner/name", from the SPACE_ID
    variable Hugging Face sets) makes Copy link give the Space's own address (huggingface.co/spaces/owner/name?...)
    instead of the embedded app's.
    """
    code = _SCRIPT.replace("__SPACE_ID__", json.dumps(space_id)).replace("__TAB_IDS__", json.dumps(list(tab_ids)))
    return "<script>\n" + code + "\n</script>"


_SCRIPT = r"""
window.labView = (() => {
  const spaceId = __SPACE_ID__;
  const queries = {};   // tab id -> {key: text} of the fields that differ from their defaults
  const parts = {};     // tab id -> the sub-tab shown
  const uploads = {};   // tab id -> true while an uploaded file is part of the view
  const tabIds = __TAB_IDS__;
  const named = new URLSearchParams(location.search).get("tab");
  let current = tabIds.includes(named) ? named : tabIds[0];
  let loaded = false;   // until the page load has restored the link's view, tab selections are Gradio's own
  const fmt = (kind, value, digits) => {
    if (kind === "bool") return value ? "1" : "0";
    if (kind === "float") {
      const n = Number(Number(value).toPrecision(digits || 6));
      return String(n);
    }
    if (kind === "int") return String(Math.round(Number(value)));
    return value == null ? "" : String(value);
  };
  const queryOf = (tab) => {
    const params = new URLSearchParams();
    if (tab) params.set("tab", tab);
    const keep = new URLSearchParams(location.search);
    for (const key of ["projector", "poll"]) if (keep.has(key)) params.set(key, keep.get(key));
    for (const [key, text] of Object.entries(queries[tab] || {})) params.set(key, text);
    if (parts[tab]) params.set("part", parts[tab]);
    return params.toString();
  };
  const write = (tab) => {
    current = tab;
    const query = queryOf(tab);
    history.replaceState(history.state, "", query ? "?" + query : location.pathname);
    if (window.parent !== window) {
      window.parent.postMessage({queryString: query ? "?" + query : "", hash: location.hash}, "https://huggingface.co");
    }
    const note = document.getElementById(tab + "-link-note");
    if (note) {
      note.textContent = uploads[tab]
        ? "Your uploaded image is not part of the link: the link opens these settings on the default picture."
        : "";
    }
  };
  const link = (tab) => {
    const query = queryOf(tab || current);
    const base = spaceId && window.parent !== window
      ? "https://huggingface.co/spaces/" + spaceId
      : location.origin + location.pathname;
    return base + (query ? "?" + query : "");
  };
  return {
    sync(spec, values) {
      const query = {};
      spec.fields.forEach((field, i) => {
        const text = fmt(field.kind, values[i], field.digits);
        if (field.always || text !== field.default) query[field.key] = text;
      });
      queries[spec.tab] = query;
      if (spec.uploads) {
        uploads[spec.tab] = values.slice(spec.fields.length, spec.fields.length + spec.uploads)
          .some((upload) => upload !== null && upload !== undefined && upload !== "");
      }
      if (loaded && current === spec.tab) write(spec.tab);
    },
    setPart(tab, part) { parts[tab] = part; if (loaded && current === tab) write(tab); },
    projector(on) {
      document.body.classList.toggle("lab-projector", Boolean(on));
      const params = new URLSearchParams(location.search);
      if (on) params.set("projector", "1"); else params.delete("projector");
      const query = params.toString();
      history.replaceState(history.state, "", query ? "?" + query : location.pathname);
      if (window.parent !== window) {
        window.parent.postMessage({queryString: query ? "?" + query : "", hash: location.hash}, "https://huggingface.co");
      }
    },
    show(tab) { if (loaded) write(tab); },
    ready(tab) { loaded = true; write(tab); document.body.dataset.labView = "ready"; this.drawn(tab); },
    // the tabs whose first pictures are drawn, in <body data-lab-drawn="tab ...">: what tests and tools wait for
    drawn(tab) {
      const tabs = new Set((document.body.dataset.labDrawn || "").split(" ").filter(Boolean));
      tabs.add(tab);
      document.body.dataset.labDrawn = [...tabs].join(" ");
    },
    link,
    async copy(tab) {
      const url = link(tab);
      const status = document.getElementById(tab + "-link-status");
      try {
        await navigator.clipboard.writeText(url);
        if (status) status.textContent = "Link copied: " + url;
      } catch (error) {
        if (status) status.textContent = "Copy this link: " + url;
      }
    },
  };
})();
"""
