"""The overview's charts as SVG drawn on the server by pygal, inlined into the page under its CSP.

pygal (a well-kept pure-Python library, pinned in setup.cfg) draws lines, bars and stacked bars (its
Funnel is not used, see `funnel`). Its output is made fit for the console by an XML filter: no <script>
(pygal always adds its config as one, and tooltips need its JS from a CDN, turned off with `js=[]`), no
comments, no style
attributes, the page's nonce on its one <style> element (CSS it inlines from its own package), and
`role="img"` with a <title> naming the chart; colours are the page's CSS variables, so dark mode
follows the page. Every chart also has its numbers as a table beside it (the template's <details>),
so nothing is told by colour alone. pygal has no heat map: the engagement grid and the cohorts are
drawn by the template (`overview.html`) as SVG rectangles and a shaded table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pygal
from pygal.style import Style

# Series colours: the console's --chart-N variables (light and dark values in _console.css).
COLOURS = tuple(f"var(--chart-{n})" for n in range(1, 7))
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="var(--text)",
    foreground_strong="var(--text)",
    foreground_subtle="var(--line)",
    guide_stroke_color="var(--line)",
    major_guide_stroke_color="var(--line)",
    colors=COLOURS,
    font_family="inherit",
    label_font_family="inherit",
    major_label_font_family="inherit",
    value_font_family="inherit",
    value_label_font_family="inherit",
    title_font_family="inherit",
    legend_font_family="inherit",
    no_data_font_family="inherit",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    value_font_size=13,
    title_font_size=16,
    no_data_font_size=20,
    opacity="0.85",
    opacity_hover="0.85",
    transition="none",
    value_colors=("var(--text)",),
)


def _fit_for_page(nonce: str, label: str) -> Callable[[Any], Any]:
    """An XML filter: what the CSP would block goes, the page's nonce goes on the style, the chart is named."""

    def fit(root: Any) -> Any:
        for parent in list(root.iter()):
            for child in list(parent):
                tag = child.tag if isinstance(child.tag, str) else ""  # a comment's tag is not a string
                if (
                    not tag
                    or tag.rsplit("}", 1)[-1] in ("script", "desc")
                    or "tooltip" in (child.get("class") or "").split()
                ):
                    parent.remove(child)
        for element in root.iter():
            element.attrib.pop("style", None)
            if isinstance(element.tag, str) and element.tag.endswith("style"):
                element.set("nonce", nonce)
        root.set("role", "img")
        root.set("aria-label", label)
        root.set("focusable", "false")
        return root

    return fit


def _chart(kind: type, nonce: str, label: str, **options: Any) -> Any:
    chart = kind(
        style=STYLE,
        js=[],
        css=["file://style.css", "file://graph.css"],
        disable_xml_declaration=True,
        explicit_size=False,
        width=options.pop("width", 720),
        height=options.pop("height", 340),
        legend_at_bottom=True,
        legend_at_bottom_columns=options.pop("legend_columns", None),
        truncate_legend=-1,
        truncate_label=-1,
        print_values=options.pop("print_values", True),
        print_zeroes=False,
        show_minor_x_labels=True,
        margin=12,
        **options,
    )
    chart.add_xml_filter(_fit_for_page(nonce, label))
    return chart


def render(chart: Any) -> str:
    """The SVG as text to inline (pygal's own markup, escaped by lxml/ElementTree)."""
    return chart.render(is_unicode=True)


def nps_split(label: str, names: Sequence[str], counts: Sequence[int], nonce: str) -> str:
    """Promoters, passives, detractors as one stacked bar, each part with its count."""
    chart = _chart(pygal.HorizontalStackedBar, nonce, label, height=150, show_y_labels=False, show_legend=False)
    for name, count in zip(names, counts, strict=True):
        chart.add(f"{name} {count:,}", [count or None])
    chart.x_labels = [""]
    return render(chart)


def line(
    label: str,
    months: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    nonce: str,
    *,
    marked: tuple[str, Sequence[float | None]] | None = None,
    secondary: tuple[str, Sequence[float | None]] | None = None,
    value_formatter: Callable[[float], str] | None = None,
) -> str:
    """A month-by-month line; `marked` is drawn over it, thick and dashed (the improving streak)."""
    options: dict[str, Any] = {"x_label_rotation": 30 if len(months) > 8 else 0}
    if value_formatter:
        options["value_formatter"] = value_formatter
    chart = _chart(pygal.Line, nonce, label, dots_size=4, **options)
    chart.x_labels = list(months)
    for name, values in series:
        chart.add(name, list(values))
    if marked is not None:
        chart.add(marked[0], list(marked[1]), stroke_style={"width": 6, "dasharray": "10,5"}, dots_size=7)
    if secondary is not None and any(value is not None for value in secondary[1]):  # pygal needs a value there
        chart.add(secondary[0], list(secondary[1]), secondary=True, stroke_style={"dasharray": "3,3"})
    return render(chart)


def funnel(label: str, steps: Sequence[tuple[str, int]], nonce: str) -> str:
    """Customers per stage, widest first (first purchase, second, loyal), as bars: pygal's own Funnel draws the
    first step from a point, which reads as "almost nobody"."""
    chart = _chart(pygal.HorizontalBar, nonce, label, height=90 + 50 * len(steps), show_legend=False)
    chart.x_labels = [name for name, _ in reversed(steps)]
    chart.add(label, [count for _, count in reversed(steps)])
    return render(chart)


def stacked_bars(
    label: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], nonce: str, *, horizontal: bool
) -> str:
    """Counts per label, split by series (touchpoints per rule and status; customers per stage per month)."""
    kind = pygal.HorizontalStackedBar if horizontal else pygal.StackedBar
    height = max(220, 70 + 34 * len(labels)) if horizontal else 340
    options: dict[str, Any] = {} if horizontal else {"x_label_rotation": 30 if len(labels) > 8 else 0}
    chart = _chart(kind, nonce, label, height=height, **options)
    chart.x_labels = list(labels)
    for name, values in series:
        chart.add(name, [value or None for value in values])
    return render(chart)


def differences(
    label: str, rows: Sequence[tuple[str, float | None, float | None, float | None]], nonce: str, series_name: str
) -> str:
    """Each rule's difference against its holdout (points) with its 95% interval as whiskers."""
    chart = _chart(
        pygal.HorizontalBar,
        nonce,
        label,
        height=max(200, 70 + 40 * len(rows)),
        value_formatter=lambda value: f"{value:+.1f}",
    )
    chart.x_labels = [name for name, *_ in rows]
    values = []
    for _, difference, low, high in rows:
        if difference is None:
            values.append(None)
        elif low is None or high is None:
            values.append(difference * 100)
        else:
            values.append({"value": difference * 100, "ci": {"low": low * 100, "high": high * 100}})
    chart.add(series_name, values)
    return render(chart)
