"""ISO 8601 times read a column at a time, for the bulk read of an events file (zsrec/bulk_ratings.py).

Logs exported from databases, analytics tools and pandas stamp events as ``2024-03-01 10:00:00`` or
``2024-03-01T10:00:00.123Z`` more often than as epoch seconds. The row reader reads each with
``datetime.fromisoformat`` (zsrec.row_reading.parse_timestamp): 10M events with ids in text took 50 s
row by row with dates, 32 s with epoch seconds. Here a block's times are read together from a table
of their bytes: 8.4 s in bulk with dates, 5.6 s with epoch seconds (benchmarks/load_own_logs.py).

Only the shapes such tools write are read here, each to the double the row reader gives:
``YYYY-MM-DD``, then optionally ``T`` or a space and ``HH:MM``, ``:SS`` and ``.`` with 1 to 6 digits,
then optionally ``Z``, ``+HH``, ``+HHMM`` or ``+HH:MM`` (or ``-``). A time without a zone is UTC, as
the row reader reads it. Any other shape, or a date or time that does not exist (February 30th, hour
24, year 0), gives None and the file goes row by row, where the row reader reads it or names the
line. ``fromisoformat`` reads more (``20240301``, ``2024-W09``, a comma before the fraction, seven
digits of it); those files are read row by row, as before.
"""

from __future__ import annotations

import numpy as np

LONGEST = len("2024-03-01T10:00:00.123456+05:30")
_MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_EXACT_MICROSECONDS = 1 << 53  # below this a count of microseconds is an exact double: one rounding, as Python's


def iso_seconds(table: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
    """Seconds since 1970 (float64) of each row of ``table`` (uint8, one time's bytes a row, zeros past
    its ``lengths``), as ``datetime.fromisoformat(t).timestamp()`` reads it (UTC where it has no zone);
    None where one is not in a shape read here, or is no real date or time."""
    n = len(table)
    if not n or int(lengths.max()) > LONGEST or int(lengths.min()) < 10:
        return None
    padded = np.zeros((n, LONGEST + 8), dtype=np.uint8)  # room to look past the longest's end
    padded[:, :table.shape[1]] = table
    digit = padded - np.uint8(48)  # a digit's value; any other byte is 10 or more
    rows = np.arange(n)

    def at(where: np.ndarray | int) -> np.ndarray:
        return padded[rows, where] if isinstance(where, np.ndarray) else padded[:, where]

    def number(first: np.ndarray | int, count: int) -> np.ndarray:
        """The ``count`` digits from ``first`` as a number, -1 for a row where one is not a digit."""
        value = np.zeros(n, dtype=np.int64)
        ok = np.ones(n, dtype=bool)
        for k in range(count):
            d = digit[rows, first + k] if isinstance(first, np.ndarray) else digit[:, first + k]
            ok &= d < 10
            value = value * 10 + d
        return np.where(ok, value, -1)

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    if not (np.all(at(4) == ord("-")) and np.all(at(7) == ord("-")) and np.all(year >= 1)
            and np.all((month >= 1) & (month <= 12)) and np.all(day >= 1)):
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if not np.all(day <= _MONTH_DAYS[month] - ((month == 2) & ~leap)):
        return None

    timed = lengths > 10  # a date alone is its midnight
    hour, minute = number(11, 2), number(14, 2)
    if not np.all(~timed | (np.isin(at(10), (ord("T"), ord(" "))) & (at(13) == ord(":"))
                            & (hour >= 0) & (hour <= 23) & (minute >= 0) & (minute <= 59))):
        return None
    hour, minute = np.where(timed, hour, 0), np.where(timed, minute, 0)
    place = np.where(timed, 16, 10)  # each row's next byte to read

    with_seconds = timed & (at(place) == ord(":"))
    second = number(place + 1, 2)
    if not np.all(~with_seconds | ((second >= 0) & (second <= 59))):
        return None
    second = np.where(with_seconds, second, 0)
    place = place + 3 * with_seconds

    with_fraction = with_seconds & (at(place) == ord("."))
    micro = np.zeros(n, dtype=np.int64)
    running = with_fraction.copy()  # still reading the fraction's digits
    fraction_digits = np.zeros(n, dtype=np.int64)
    for k in range(1, 7):  # a seventh digit (fromisoformat drops it) is left where the zone would be: no such time is read
        d = digit[rows, place + k]
        running &= d < 10
        micro = np.where(running, micro * 10 + d, micro)
        fraction_digits += running
    if np.any(with_fraction & (fraction_digits == 0)):
        return None
    micro *= 10 ** (6 - fraction_digits)  # ".5" is 500000 microseconds
    place = place + (1 + fraction_digits) * with_fraction

    zone = at(place)
    utc = zone == ord("Z")
    signed = np.isin(zone, (ord("+"), ord("-")))
    offset_hours = number(place + 1, 2)
    colon = at(place + 3) == ord(":")
    offset_minutes = np.where(colon, number(place + 4, 2), number(place + 3, 2))
    hours_only = ~colon & (at(place + 3) == 0)
    end = np.where(utc, place + 1,
                   np.where(signed, np.where(hours_only, place + 3, place + np.where(colon, 6, 5)), place))
    offset_minutes = np.where(hours_only, 0, offset_minutes)
    if not (np.all(end == lengths) and np.all(~signed | ((offset_hours >= 0) & (offset_hours <= 23)
                                                          & (offset_minutes >= 0) & (offset_minutes <= 59)))):
        return None
    offset = np.where(signed, (offset_hours * 3600 + offset_minutes * 60) * np.where(zone == ord("-"), -1, 1), 0)

    seconds = _days_since_1970(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    micros = seconds * 1_000_000 + micro
    if np.any(np.abs(micros) >= _EXACT_MICROSECONDS):
        return None  # before 1686 or after 2254: Python divides the exact count, a double of it would round twice
    return micros.astype(np.float64) / 1e6


def _days_since_1970(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days from 1970-01-01 to each date of the proleptic Gregorian calendar (Python's), counted in
    eras of 400 years from March, so that a leap day falls at a year's end."""
    y = year - (month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def iso_seconds_of(texts: list[str], chunk: int = 1 << 16) -> np.ndarray | None:
    """``iso_seconds`` of Python strings (a JSON file's or a DataFrame's times), ``chunk`` at a time
    (10M at once held 2 GB of temporaries); None where one is not ASCII, or not read here."""
    parts = []
    for start in range(0, len(texts), chunk):
        some = texts[start:start + chunk]
        try:
            table = np.array(some, dtype="S")
        except UnicodeEncodeError:
            return None
        lengths = np.fromiter(map(len, some), dtype=np.int64, count=len(some))  # a NUL at the end counts
        read = iso_seconds(table.view(np.uint8).reshape(len(some), table.dtype.itemsize), lengths)
        if read is None:
            return None
        parts.append(read)
    return np.concatenate(parts) if parts else None
