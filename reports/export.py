"""A report as CSV (one table after another) and XLSX (a sheet a section), for the bureau's
own spreadsheets. The words come from the caller (the console's, in the reader's
language); the figures from the same section objects the page and the PDF show."""
from __future__ import annotations

import csv
import io
from typing import Callable, Protocol

import xlsxwriter

from call_log.export import inert
from reports.model import DAYS, RATING, SECONDS, SHARE, Report, Section, Term

NUMBER_FORMATS = {SHARE: "0.0%", RATING: "0.00", SECONDS: "0.0", DAYS: "0.0"}
SHEET_NAME_MOST = 31  # Excel's limit
_SHEET_NAME_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


class Words(Protocol):
    def title(self, section: Section) -> str: ...
    def label(self, term: Term) -> str: ...
    def column(self, key: str) -> str: ...
    def note(self, term: Term) -> str: ...
    def report_title(self, report: Report) -> str: ...


def csv_bytes(report: Report, words: Words, shown: Callable[[object, str], str]) -> bytes:
    """UTF-8 with a byte-order mark (Excel needs it for Chinese); figures written as the page shows them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([words.report_title(report)])
    for section in report.sections:
        writer.writerow([])
        writer.writerow([words.title(section)])
        writer.writerow(["", *(words.column(column.key) for column in section.columns)])
        for row in section.rows:
            writer.writerow([inert(words.label(row.label)),
                             *(shown(figure, row.kind_of(column)) for figure, column in zip(row.figures, section.columns))])
        for note in section.notes:
            writer.writerow([words.note(note)])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode()


def xlsx_bytes(report: Report, words: Words) -> bytes:
    """A sheet a section, figures as numbers (shares as percentages) the bureau can add up."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False,
                                            "strings_to_formulas": False, "strings_to_urls": False})
    bold = workbook.add_format({"bold": True})
    formats = {kind: workbook.add_format({"num_format": pattern}) for kind, pattern in NUMBER_FORMATS.items()}
    bold_formats = {kind: workbook.add_format({"num_format": pattern, "bold": True}) for kind, pattern in NUMBER_FORMATS.items()}
    used: set[str] = set()
    for number, section in enumerate(report.sections, 1):
        sheet = workbook.add_worksheet(_sheet_name(f"{number} {words.title(section)}", used))
        sheet.write_row(0, 0, [words.title(section)], bold)
        sheet.write_row(1, 0, ["", *(words.column(column.key) for column in section.columns)], bold)
        sheet.set_column(0, 0, 24)
        sheet.set_column(1, len(section.columns), 14)
        for line, row in enumerate(section.rows, 2):
            sheet.write_string(line, 0, words.label(row.label), bold if row.total else None)
            for place, (figure, column) in enumerate(zip(row.figures, section.columns), 1):
                kind = row.kind_of(column)
                if figure is None:
                    sheet.write_blank(line, place, None)
                else:
                    style = (bold_formats if row.total else formats).get(kind, bold if row.total else None)
                    sheet.write_number(line, place, figure, style)
        for offset, note in enumerate(section.notes, len(section.rows) + 3):
            sheet.write_string(offset, 0, words.note(note))
    workbook.close()
    return buffer.getvalue()


def _sheet_name(name: str, used: set[str]) -> str:
    name = name.translate(_SHEET_NAME_FORBIDDEN)[:SHEET_NAME_MOST]
    while name in used:
        name = name[:SHEET_NAME_MOST - 1] + "_"
    used.add(name)
    return name
