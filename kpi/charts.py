"""The KPI page's charts, drawn on the server as SVG: trend lines and the IVR funnel by
pygal, the hourly heat map of arrivals by hand (pygal has none).

The page shows each one as an <img> of a data: URL, so the Content-Security-Policy stays
strict: an SVG image runs no script and its styles touch nothing outside it. Every label
arrives already in the reader's language; the page prints each chart's figures in a
table beside it too.
"""
from __future__ import annotations

import base64
import re
import sys
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

import pygal
from pygal.style import Style

# pygal puts an importer for its map plugins (pygal.maps.*, unused here) on sys.meta_path
# that has no find_spec(): every later import that reaches it warns (ImportWarning, an
# error under the tests' filterwarnings). Without the map plugins it has nothing to do.
sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__module__ != "pygal"]

FONT = '"Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif'
STYLE = Style(font_family=FONT, background="white", plot_background="white", foreground="#333",
              foreground_strong="#111", foreground_subtle="#bbb", colors=("#1f6fb2", "#d9822b", "#3a9d5d", "#b23a48"),
              label_font_size=12, major_label_font_size=12, legend_font_size=12, title_font_size=14, value_font_size=11)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)  # pygal's tooltip config: an image runs no script anyway


def _render(chart) -> str:
    return _SCRIPT.sub("", chart.render(is_unicode=True))


def trend_lines(x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], percent: bool = True,
                width: int = 640, height: int = 280) -> str:
    """One line per series over the period's days; None leaves a gap (no calls that day)."""
    chart = pygal.Line(style=STYLE, width=width, height=height, js=[], show_dots=len(x_labels) <= 31, dots_size=2,
                       x_label_rotation=0 if len(x_labels) <= 10 else 45, legend_at_bottom=True, legend_box_size=10,
                       range=(0, 1) if percent else None, include_x_axis=not percent, margin=8, truncate_legend=-1,
                       show_minor_x_labels=False, x_labels_major_every=max(1, len(x_labels) // 10),
                       value_formatter=(lambda v: f"{v:.0%}") if percent else (lambda v: f"{v:.0f}"))
    chart.x_labels = list(x_labels)
    for name, values in series:
        chart.add(name, list(values))
    if percent:
        chart.y_labels = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    return _render(chart)


def funnel(labels: Sequence[str], reached: Sequence[int], hung_up: Sequence[int], names: tuple[str, str],
           width: int = 640, height: int = 300) -> str:
    """The IVR funnel: for each menu node, most reached first, the passes that reached it and those that hung up there."""
    chart = pygal.Bar(style=STYLE, width=width, height=height, js=[], legend_at_bottom=True, legend_box_size=10,
                      margin=8, truncate_label=-1, truncate_legend=-1, x_label_rotation=0 if len(labels) <= 6 else 30,
                      include_x_axis=True)
    chart.x_labels = list(labels)
    chart.add(names[0], list(reached))
    chart.add(names[1], list(hung_up))
    return _render(chart)


def heat_map(row_labels: Sequence[str], counts: Sequence[Sequence[int]], hour_label: str, cell: int = 24,
             label_width: int = 64) -> str:
    """Arrivals by day (rows) and local hour (24 columns): the darker, the more calls."""
    top = 22
    width = label_width + 24 * cell + 4
    height = top + len(row_labels) * cell + 4
    most = max((max(row) for row in counts if row), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'font-family={quoteattr(FONT)} font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    for hour in range(24):
        if hour % 3 == 0:
            parts.append(f'<text x="{label_width + hour * cell + cell / 2}" y="14" text-anchor="middle" fill="#333">{hour}</text>')
    parts.append(f'<text x="2" y="14" fill="#333">{escape(hour_label)}</text>')
    for index, (label, row) in enumerate(zip(row_labels, counts)):
        y = top + index * cell
        parts.append(f'<text x="2" y="{y + cell * 0.7:.1f}" fill="#333">{escape(label)}</text>')
        for hour, count in enumerate(row):
            shade = 0.06 + 0.94 * count / most if count else 0
            fill = f'fill="#1f6fb2" fill-opacity="{shade:.2f}"' if count else 'fill="#f3f3f3"'
            parts.append(f'<rect x="{label_width + hour * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" {fill}>'
                         f'<title>{escape(label)} {hour}:00 — {count}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def data_uri(svg: str) -> str:
    """The SVG as a data: URL for an <img> (the policy's img-src allows data:)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
