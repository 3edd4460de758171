"""The KPI page's charts, drawn on the server as SVG by this module: trend lines, the IVR
funnel's bars and the hourly heat map of arrivals.

Drawn by hand rather than by a chart library: a month's page draws three charts, and
pygal took some 60 ms for each, most of the page's time budget (B7). The page shows each
chart as an <img> of a data: URL, so the Content-Security-Policy stays strict: an SVG
image runs no script and its styles touch nothing outside it. Every label arrives
already in the reader's language; the page prints each chart's figures in a table
beside it too.
"""
from __future__ import annotations

import base64
import math
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

FONT = '"Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif'
COLOURS = ("#1f6fb2", "#d9822b", "#3a9d5d", "#b23a48")
TEXT = "#333"
GRID = "#d5dbe3"


class _Canvas:
    """An SVG drawing with a plot area, its y axis from 0 to `top` and a legend below."""

    def __init__(self, width: int, height: int, top: float, percent: bool, legend: Sequence[str]):
        self.width, self.height, self.top, self.percent = width, height, top or 1, percent
        self.left, self.right, self.upper = 46, width - 12, 10
        self.lower = height - (26 + 18 * math.ceil(len(legend) / 2))  # x labels, then the legend's rows
        self.parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
                      f'height="{height}" font-family={quoteattr(FONT)} font-size="11">',
                      f'<rect width="{width}" height="{height}" fill="white"/>']
        self._y_axis()
        self._legend(legend)

    def y(self, value: float) -> float:
        return self.lower - (self.lower - self.upper) * value / self.top

    def _y_axis(self) -> None:
        for tick in _ticks(self.top):
            y = self.y(tick)
            label = f"{tick:.0%}" if self.percent else f"{tick:g}"
            self.parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
                              f'<text x="{self.left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">{label}</text>')

    def _legend(self, names: Sequence[str]) -> None:
        for index, name in enumerate(names):
            x = self.left + (index % 2) * (self.right - self.left) / 2
            y = self.height - 18 * math.ceil(len(names) / 2) + 18 * (index // 2) + 4
            self.parts.append(f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{COLOURS[index % len(COLOURS)]}"/>'
                              f'<text x="{x + 14:.1f}" y="{y + 9}" fill="{TEXT}">{escape(name)}</text>')

    def x_labels(self, centres: Sequence[float], labels: Sequence[str]) -> None:
        every = max(1, math.ceil(len(labels) / 12))  # about twelve labels at most
        for index, (x, label) in enumerate(zip(centres, labels)):
            if index % every == 0:
                self.parts.append(f'<text x="{x:.1f}" y="{self.lower + 15}" text-anchor="middle" fill="{TEXT}">'
                                  f'{escape(label)}</text>')
        self.parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{self.lower}" y2="{self.lower}" stroke="{TEXT}"/>')

    def svg(self) -> str:
        return "".join(self.parts) + "</svg>"


def _ticks(top: float) -> list[float]:
    """Five or so round steps from 0 to `top` (which _nice_top made round)."""
    step = top / 5
    return [step * i for i in range(6)]


def _nice_top(most: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above `most`, times five steps' worth."""
    if most <= 0:
        return 5
    power = 10 ** math.floor(math.log10(most / 5))
    for factor in (1, 2, 5, 10):
        if factor * power * 5 >= most:
            return factor * power * 5
    return most


def trend_lines(x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], percent: bool = True,
                width: int = 640, height: int = 280) -> str:
    """One line per series over the period's days; None leaves a gap (nothing to divide that day)."""
    values = [v for _, vs in series for v in vs if v is not None]
    canvas = _Canvas(width, height, 1 if percent else _nice_top(max(values, default=0)), percent, [n for n, _ in series])
    count = max(1, len(x_labels))
    span = canvas.right - canvas.left
    centres = [canvas.left + span * (i + 0.5) / count for i in range(len(x_labels))]
    canvas.x_labels(centres, x_labels)
    for index, (name, points) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        run: list[str] = []
        for x, value, label in zip(centres, list(points) + [None] * (len(centres) - len(points)), x_labels):
            if value is None:
                _line(canvas, run, colour)
                run = []
                continue
            run.append(f"{x:.1f},{canvas.y(value):.1f}")
            shown = f"{value:.1%}" if percent else f"{value:g}"
            canvas.parts.append(f'<circle cx="{x:.1f}" cy="{canvas.y(value):.1f}" r="2.5" fill="{colour}">'
                                f'<title>{escape(name)} {escape(label)}: {shown}</title></circle>')
        _line(canvas, run, colour)
    return canvas.svg()


def _line(canvas: _Canvas, points: list[str], colour: str) -> None:
    if len(points) > 1:
        canvas.parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>')


def funnel(labels: Sequence[str], reached: Sequence[int], hung_up: Sequence[int], names: tuple[str, str],
           width: int = 640, height: int = 300) -> str:
    """The IVR funnel: for each menu node, most reached first, the passes that reached it and those that hung up there."""
    canvas = _Canvas(width, height, _nice_top(max(reached, default=0)), False, names)
    count = max(1, len(labels))
    slot = (canvas.right - canvas.left) / count
    bar = min(40, slot * 0.38)
    centres = [canvas.left + slot * (i + 0.5) for i in range(len(labels))]
    canvas.x_labels(centres, labels)
    for x, label, values in zip(centres, labels, zip(reached, hung_up)):
        for index, (name, value) in enumerate(zip(names, values)):
            left = x - bar + index * bar
            top = canvas.y(value)
            canvas.parts.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{bar - 2:.1f}" height="{canvas.lower - top:.1f}" '
                                f'fill="{COLOURS[index]}"><title>{escape(label)} {escape(name)}: {value}</title></rect>')
    return canvas.svg()


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
            parts.append(f'<text x="{label_width + hour * cell + cell / 2}" y="14" text-anchor="middle" fill="{TEXT}">{hour}</text>')
    parts.append(f'<text x="2" y="14" fill="{TEXT}">{escape(hour_label)}</text>')
    for index, (label, row) in enumerate(zip(row_labels, counts)):
        y = top + index * cell
        parts.append(f'<text x="2" y="{y + cell * 0.7:.1f}" fill="{TEXT}">{escape(label)}</text>')
        for hour, count in enumerate(row):
            shade = 0.06 + 0.94 * count / most if count else 0
            fill = f'fill="{COLOURS[0]}" fill-opacity="{shade:.2f}"' if count else 'fill="#f3f3f3"'
            parts.append(f'<rect x="{label_width + hour * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" {fill}>'
                         f'<title>{escape(label)} {hour}:00 — {count}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def data_uri(svg: str) -> str:
    """The SVG as a data: URL for an <img> (the policy's img-src allows data:)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
