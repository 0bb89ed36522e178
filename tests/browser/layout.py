"""What a student sees going wrong on a page, measured in the browser: clipped or cut text, words broken across
lines, a page that scrolls sideways, icons covering text, formulas KaTeX could not render.

`layout_problems(page, phone=...)` returns one readable line per problem (empty when the view is clean). The rules,
decided deliberately:

* **Cut text.** A visible element that holds text of its own (a table cell, a label, a caption, a button, a
  Markdown paragraph ...) must show all of it: its scroll width may exceed its box by at most `TOLERANCE_PX`. This
  catches cells cut to "37…" (Gradio's ellipsis) and labels clipped by `overflow: hidden`, and text spilling out
  of a box that is too narrow for it. Nor may any text run out of a box that hides its overflow (a prompt cut at
  the bottom of a low upload box): scrolling boxes are not that, their text can be scrolled to.
* **Tables that scroll.** A table's own scroller (Gradio's `.virtual-table-viewport`, a Markdown table's wrapper)
  may scroll sideways on the phone: a 7-column table cannot fit 390 px, and scrolling it is better than cutting
  every number. It is never allowed at 1366x768, where a teacher projects and a hidden column is a cut table.
  Any other element that clips its content sideways (`overflow` other than visible, scroll width beyond its box)
  is a problem at both sizes. Code (`pre`, code editors), text inputs and the tab bar scroll by design and are
  not checked.
* **Broken words.** No word of two or more characters may be split over lines (what a too-narrow column does:
  "0.5" drawn one character per line, "RandomResizedCro / p"). Words are split at spaces, hyphens, dashes and
  slashes, where breaking a line is normal typography.
* **Squeezed.** A short text (30 characters at most: a label, a button, a cell) stacked on three or more lines
  ("D steps per G step" in a four-line column), a button's short text (16 characters at most: "↓ Down") broken
  onto a second line, and a button (not a picture's thumbnail) stretched taller than it is wide.
* **The page.** On the phone nothing may scroll the page sideways: `document.scrollingElement.scrollWidth` must not
  exceed the viewport's width.
* **Charts.** No axis title or label that Vega shortened with "…", no chart text (a legend) outside the box
  that clips the chart, and no two labels written over each other.
* **Covered text.** The icon buttons Gradio draws over a picture or a table (download, fullscreen, share) and the
  component labels must not lie on top of text: a caption or a drop zone's "Drop Image Here".
* **Formulas.** No `.katex-error`: a formula KaTeX could not parse is shown as red source text.

Formulas (`.katex`), code and hidden elements are skipped by the text checks.
"""

from __future__ import annotations

from playwright.sync_api import Page

TOLERANCE_PX = 2
"""Sub-pixel rounding: a scroll width this much beyond the box is not a cut."""

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}

_CHECK = r"""
({phone, tolerance}) => {
  const problems = [];
  const root = document.querySelector('.gradio-container') || document.body;
  const SKIP = 'pre, code, textarea, input, select, .cm-editor, .katex, .katex-display, svg, [aria-hidden="true"], '
             + '.tab-container, .overflow-menu, .toast-wrap, .sizing-body, .drop-hint, .visually-hidden, .json-holder';
  const TABLE_SCROLLERS = '.virtual-table-viewport, .prose table, .katex-display';
  const visible = (e) => {
    if (!(e instanceof Element)) return false;
    const r = e.getBoundingClientRect();
    if (r.width <= 2 || r.height <= 2) return false;  // includes the 1-pixel labels kept for screen readers
    const s = getComputedStyle(e);
    if (s.visibility === 'hidden' || s.display === 'none' || Number(s.opacity) === 0) return false;
    if (s.clip && s.clip.startsWith('rect(')) return false;
    return e.checkVisibility ? e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) : true;
  };
  const name = (e) => {
    const id = e.closest('[id]');
    const where = id && id.id ? '#' + id.id : '';
    const label = e.closest('.block') && e.closest('.block').querySelector('[data-testid="block-info"], .label p, label span');
    const text = Array.from((e.innerText || e.textContent || '').trim().replace(/\s+/g, ' ')).slice(0, 60).join('');
    return `${e.tagName.toLowerCase()}${where ? ' in ' + where : ''}${label && label.innerText ? ' [' + Array.from(label.innerText.trim()).slice(0, 40).join('') + ']' : ''} "${text}"`;
  };
  // the part of an element's box its clipping ancestors (scrolled tables, collapsed boxes) let through
  const shown = (e) => {
    let r = e.getBoundingClientRect();
    let box = {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
    for (let a = e.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const c = a.getBoundingClientRect();
      box = {left: Math.max(box.left, c.left), top: Math.max(box.top, c.top),
             right: Math.min(box.right, c.right), bottom: Math.min(box.bottom, c.bottom)};
    }
    return box;
  };
  const ownText = (e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim().length > 0);
  const all = [...root.querySelectorAll('*')].filter((e) => !e.closest(SKIP) && visible(e));

  // cut text: an element holding text whose content is wider than its box
  for (const e of all) {
    if (!ownText(e)) continue;
    // an ellipsis shows at the first sub-pixel of overflow: no tolerance there
    const allowed = getComputedStyle(e).textOverflow === 'ellipsis' ? 0 : tolerance;
    if (e.scrollWidth > e.clientWidth + allowed && e.clientWidth > 0) {
      problems.push(`cut text: ${name(e)} needs ${e.scrollWidth}px, has ${e.clientWidth}px`);
    }
  }
  // text cut by a box that hides what overflows it (overflow hidden or clip: no scrollbar to reach the rest)
  const textRects = (e) => {  // the boxes of an element's own text (not of its padding, icons or children)
    const rects = [];
    for (const node of e.childNodes) {
      if (node.nodeType !== 3 || !node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      rects.push(...[...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0));
    }
    return rects;
  };
  const clipped = (e) => {
    const rects = textRects(e);
    if (!rects.length) return null;
    const r = {left: Math.min(...rects.map((q) => q.left)), right: Math.max(...rects.map((q) => q.right)),
               top: Math.min(...rects.map((q) => q.top)), bottom: Math.max(...rects.map((q) => q.bottom))};
    let x = true, y = true;  // still to check; a scroller on the way makes the rest of that axis reachable
    for (let a = e.parentElement; a && (x || y); a = a.parentElement) {
      const s = getComputedStyle(a);
      const hides = (v) => v === 'hidden' || v === 'clip';
      const c = a.getBoundingClientRect();
      if (c.width >= 3 && c.height >= 3) {  // not a visually hidden helper
        if (y && hides(s.overflowY) && (r.top < c.top - tolerance || r.bottom > c.bottom + tolerance)) return a;
        if (x && hides(s.overflowX) && (r.left < c.left - tolerance || r.right > c.right + tolerance)) return a;
      }
      if (s.overflowY === 'auto' || s.overflowY === 'scroll') y = false;
      if (s.overflowX === 'auto' || s.overflowX === 'scroll') x = false;
    }
    return null;
  };
  for (const e of all) {
    if (!ownText(e)) continue;
    const by = clipped(e);
    if (by) problems.push(`cut text: ${name(e)} runs out of a box that hides it (${by.className || by.tagName})`);
  }
  // sideways clipping or scrolling by any other element
  for (const e of all) {
    const s = getComputedStyle(e);
    if (s.overflowX === 'visible') continue;
    if (e.scrollWidth <= e.clientWidth + tolerance) continue;
    if (!(e.innerText || '').trim()) continue;  // pictures, sliders, empty boxes
    if (e.matches(TABLE_SCROLLERS)) {
      if (!phone) problems.push(`table scrolls sideways at ${window.innerWidth}px: ${name(e)} (${e.scrollWidth}px in ${e.clientWidth}px)`);
      continue;
    }
    if (ownText(e)) continue;  // reported above as cut text
    // what is really hidden: text whose box lies outside this element's box
    const box = e.getBoundingClientRect();
    const hidden = [...e.querySelectorAll('*')].filter((c) => ownText(c) && visible(c) && !c.closest(SKIP)).filter((c) => {
      const r = c.getBoundingClientRect();
      return r.right > box.right + tolerance || r.left < box.left - tolerance;
    });
    if (hidden.length) {
      problems.push(`clipped sideways: ${name(e)} hides ${hidden.slice(0, 3).map(name).join(', ')}`);
    }
  }
  // broken words
  const breaks = /[\s\-\u2010-\u2015\/\u00b7\u200b]+/;
  for (const e of all) {
    for (const node of e.childNodes) {
      if (node.nodeType !== 3) continue;
      const text = node.textContent;
      let offset = 0;
      for (const word of text.split(breaks)) {
        const start = text.indexOf(word, offset);
        offset = start + word.length;
        if (word.length < 2) continue;
        const range = document.createRange();
        range.setStart(node, start);
        range.setEnd(node, start + word.length);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (tops.size > 1) {
          problems.push(`word broken over ${tops.size} lines: "${word}" in ${name(e)}`);
          break;
        }
      }
    }
  }
  // squeezed: a short text (a label, a button, a cell) stacked into three or more lines, or a button stretched
  // into a tall narrow column
  for (const e of all) {
    const text = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
    if (!text || text.length > 30) continue;
    const tops = new Set();
    for (const node of e.childNodes) {
      if (node.nodeType !== 3 || !node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
    }
    const button = e.closest('button');
    if (tops.size >= 3 || (button && text.length <= 16 && tops.size >= 2)) {
      problems.push(`squeezed: "${text}" stacked on ${tops.size} lines in ${name(e)}`);
    }
  }
  for (const b of all.filter((e) => e.tagName === 'BUTTON' && (e.innerText || '').trim() && !e.querySelector('img'))) {
    const r = b.getBoundingClientRect();
    const line = parseFloat(getComputedStyle(b).lineHeight) || 20;
    if (r.height > 3 * line && r.height > r.width) {
      problems.push(`squeezed: button "${b.innerText.trim()}" is ${Math.round(r.width)}x${Math.round(r.height)}px`);
    }
  }
  // icons and labels on top of text
  const covers = [...root.querySelectorAll('.icon-button-wrapper, [data-testid="block-label"]')].filter(visible);
  const texts = all.filter((e) => ownText(e));
  for (const c of covers) {
    const a = c.getBoundingClientRect();
    for (const t of texts) {
      if (c.contains(t) || t.contains(c)) continue;
      const through = shown(t);
      const rects = [];
      for (const node of t.childNodes) {  // the text itself, not the icons beside it
        if (node.nodeType !== 3 || !node.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        rects.push(...range.getClientRects());
      }
      for (const r of rects) {
        const left = Math.max(a.left, r.left, through.left), right = Math.min(a.right, r.right, through.right);
        const top = Math.max(a.top, r.top, through.top), bottom = Math.min(a.bottom, r.bottom, through.bottom);
        const overlap = right - left > tolerance && bottom - top > tolerance;
        if (overlap) {
          problems.push(`covered text: ${name(t)} lies under ${c.getAttribute('data-testid') || c.className}`);
          break;
        }
      }
    }
  }
  // charts (Vega): an axis title or label Vega shortened with an ellipsis, or text outside the chart's box
  for (const t of root.querySelectorAll('.vega-embed svg text')) {
    if (!visible(t) || !(t.textContent || '').trim()) continue;
    const where = t.closest('.block');
    const label = where && where.querySelector('[data-testid="block-info"]');
    const chart = label ? `chart [${label.innerText.trim()}]` : 'chart';
    if (t.textContent.includes('\u2026')) problems.push(`cut text: ${chart} shortens "${t.textContent}"`);
    const r = t.getBoundingClientRect(), through = shown(t);
    if (through.bottom < r.bottom - tolerance || through.top > r.top + tolerance
        || through.right < r.right - tolerance || through.left > r.left + tolerance) {
      problems.push(`cut text: ${chart} shows only part of "${t.textContent}"`);
    }
  }
  // charts: axis labels written on top of each other (too many for the width)
  for (const svg of root.querySelectorAll('.vega-embed svg')) {
    // level labels only: the box of a slanted one is larger than its letters
    const level = (t) => !/rotate\((?!0\))/.test(t.getAttribute('transform') || '');
    const labels = [...svg.querySelectorAll('text')].filter((t) => visible(t) && (t.textContent || '').trim() && level(t));
    const boxes = labels.map((t) => t.getBoundingClientRect());
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i], b = boxes[j];
        if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > tolerance
            && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > tolerance) {
          problems.push(`overlapping chart text: "${labels[i].textContent}" and "${labels[j].textContent}"`);
        }
      }
    }
  }
  // the page itself
  const page = document.scrollingElement.scrollWidth;
  if (phone && page > window.innerWidth) {
    problems.push(`the page scrolls sideways: ${page}px wide in a ${window.innerWidth}px viewport`);
  }
  for (const e of document.querySelectorAll('.katex-error')) {
    problems.push(`KaTeX error: ${e.getAttribute('title') || ''} in "${(e.textContent || '').slice(0, 80)}"`);
  }
  return [...new Set(problems)];
}
"""


def layout_problems(page: Page, *, phone: bool) -> list[str]:
    """Every layout problem of the page as it is now shown (see the module docstring for the rules)."""
    return page.evaluate(_CHECK, {"phone": phone, "tolerance": TOLERANCE_PX})


def katex_errors(page: Page) -> list[str]:
    """The formulas KaTeX failed to render anywhere in the page (hidden tabs included)."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.katex-error')].map(e => (e.getAttribute('title') || '') + ' :: '"
        " + (e.textContent || '').slice(0, 120))"
    )
