"""Writing call-log rows as CSV or XLSX, a chunk at a time (constant memory).

CSV goes out as it is written. XLSX is a zip that can only be finished at the end:
xlsxwriter in constant_memory mode writes each row to a temporary file as it comes, and
the finished workbook is then read back in chunks, so neither is ever held in memory.
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from typing import Any, Iterable, Iterator, Sequence

import xlsxwriter

CHUNK_ROWS = 1000
READ_BYTES = 64 * 1024
SHEET_ROWS = 1_048_576  # Excel's rows a worksheet, the header's included
_DIGIT = re.compile(r"\d")


def mask_number(number: str | None) -> str:
    """138****8000: the first three and last four characters of a number, the rest hidden.

    A short number keeps only its last four (or nothing); text that is no number
    ("anonymous") has nothing to hide.
    """
    if not number or not (number.isdigit() or _DIGIT.search(number)):
        return number or ""
    if len(number) >= 8:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    if len(number) > 4:
        return "*" * (len(number) - 4) + number[-4:]
    return "*" * len(number)


_FORMULA_STARTS = ("=", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, @, or +/- not starting a
    number) is prefixed with an apostrophe; a number like +8613800138000 is left alone."""
    if value is None:
        return ""
    if isinstance(value, str) and value and (value.startswith(_FORMULA_STARTS) or (
            value[0] in "+-" and not value[1:].replace(".", "", 1).isdigit())):
        return "'" + value
    return value


inert = _inert  # for the other exports (reports/)


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]], free_text: Sequence[int] = ()) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark, which Excel needs to read Chinese from a CSV.

    The columns named in `free_text` hold text from outside (a caller ID, a name): a
    value there that a spreadsheet would run as a formula is made inert.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode()
    buffer.seek(0), buffer.truncate()
    batch: list = []
    for row in rows:
        if free_text:
            row = list(row)
            for column in free_text:
                row[column] = _inert(row[column])
        batch.append(row)
        if len(batch) == CHUNK_ROWS:
            writer.writerows(batch)
            batch.clear()
            yield buffer.getvalue().encode()
            buffer.seek(0), buffer.truncate()
    writer.writerows(batch)
    if buffer.tell():
        yield buffer.getvalue().encode()


def xlsx_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str = "calls") -> Iterator[bytes]:
    handle, path = tempfile.mkstemp(suffix=".xlsx", prefix="hotline-export-")
    os.close(handle)
    try:
        workbook = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False,
                                              "strings_to_formulas": False, "strings_to_urls": False})
        bold = workbook.add_format({"bold": True})
        worksheet, line, sheets = None, SHEET_ROWS, 0
        for row in rows:
            if line == SHEET_ROWS:  # a sheet is full (xlsxwriter would drop the row silently): the next one
                sheets += 1
                worksheet = workbook.add_worksheet(sheet if sheets == 1 else f"{sheet} {sheets}")
                worksheet.write_row(0, 0, header, bold)
                line = 1
            worksheet.write_row(line, 0, ["" if value is None else value for value in row])
            line += 1
        if worksheet is None:
            workbook.add_worksheet(sheet).write_row(0, 0, header, bold)
        workbook.close()
        with open(path, "rb") as finished:
            while chunk := finished.read(READ_BYTES):
                yield chunk
    finally:
        os.unlink(path)
