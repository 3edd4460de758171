"""The 70% figures' trend as an SVG chart (pygal), drawn on the server.

Served as an image of its own: pygal's SVG carries its own <style>, which the console's
strict Content-Security-Policy would refuse inline in a page; as an <img> it runs no
script and needs nothing from outside (pygal's tooltip script is left out).
"""
from __future__ import annotations

import re
import sys

import pygal
from pygal.style import Style

from workforce.figures import GOAL, MEASURES, MonthFigures

# pygal adds an import hook for its map plugins (pygal.maps.*, unused here) that only has
# the find_module() Python 3.12 drops: every failed import anywhere after it warns
# ("PluginImportFixer.find_spec() not found"), an error under the tests' -W error.
sys.meta_path[:] = [hook for hook in sys.meta_path if not isinstance(hook, pygal.PluginImportFixer)]

_SCRIPT = re.compile(rb"<script\b.*?</script>", re.S)
STYLE = Style(font_family="'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif", background="white",
              plot_background="white", colors=("#1f6feb", "#2da44e", "#bf8700", "#cf222e"))


def trend_svg(trend: list[MonthFigures], names: dict, goal_name: str, title: str) -> bytes:
    """A line a figure (the city's ratio in %, a gap where a denominator is missing) and the goal."""
    top = max([100.0] + [ratio * 100 for figures in trend for f in figures.city.values()
                          if (ratio := f.ratio) is not None])
    chart = pygal.Line(style=STYLE, js=[], width=760, height=360, title=title, range=(0, top), include_x_axis=True,
                       value_formatter=lambda v: f"{v:.1f}%", x_label_rotation=0, legend_at_bottom=True,
                       show_minor_x_labels=True, truncate_legend=-1,
                       # One entry a row: the English names are long, and side by side they overlapped.
                       legend_at_bottom_columns=1)
    chart.x_labels = [f"{figures.month:%Y-%m}" for figures in trend]
    for measure in MEASURES:
        chart.add(str(names[measure]), [_percent(figures.city[measure].ratio) for figures in trend])
    chart.add(goal_name, [GOAL * 100] * len(trend), show_dots=False, stroke_style={"dasharray": "6, 4"})
    # pygal always writes its tooltips' configuration as a <script>: an image runs none,
    # and a chart that carries no code cannot be made to run any.
    return _SCRIPT.sub(b"", chart.render())


def _percent(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio * 100, 1)
