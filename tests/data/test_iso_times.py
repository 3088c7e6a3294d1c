"""ISO 8601 times read a column at a time give the double ``datetime.fromisoformat`` gives, or None.

Random times in the shapes read in bulk, and near misses (a day or hour out of range, a stray byte,
a byte dropped), one at a time and as whole columns, against the row reader's own reading."""

import random
from datetime import datetime, timezone

import numpy as np

from zsrec.iso_times import iso_seconds


def row_reader(text: str) -> float | None:
    """As zsrec.row_reading.parse_timestamp reads a time that is no number."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def table(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    data = [t.encode("ascii") for t in texts]
    rows = np.zeros((len(data), max(map(len, data))), dtype=np.uint8)
    for k, d in enumerate(data):
        rows[k, :len(d)] = np.frombuffer(d, dtype=np.uint8)
    return rows, np.array([len(d) for d in data])


def random_time(rng: random.Random, near_misses: bool) -> str:
    """A time in a shape read in bulk; with ``near_misses``, fields out of range and stray bytes too."""
    year = rng.choice([rng.randint(0, 9999) if near_misses else 2100, rng.randint(1700, 2250), 2000, 1900, 2024])
    month = rng.randint(0, 13) if near_misses and rng.random() < 0.3 else rng.randint(1, 12)
    day = rng.choice([rng.randint(0, 32), 29, 30, 31] if near_misses else [1, 9, 10, 28])
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if rng.random() < 0.85:
        text += rng.choice("TT ") + f"{rng.randint(0, 24 if near_misses else 23):02d}"
        text += f":{rng.randint(0, 60 if near_misses else 59):02d}"
        if rng.random() < 0.8:
            text += f":{rng.randint(0, 60 if near_misses else 59):02d}"
            if rng.random() < 0.5:
                text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
        zone = rng.random()
        if zone < 0.25:
            text += "Z"
        elif zone < 0.6:
            text += rng.choice("+-") + f"{rng.randint(0, 24 if near_misses else 23):02d}"
            text += rng.choice([":", ""]) + f"{rng.randint(0, 59):02d}"
        elif zone < 0.7:
            text += rng.choice("+-") + f"{rng.randint(0, 23):02d}"
    if near_misses and rng.random() < 0.1:
        at = rng.randrange(len(text))
        text = text[:at] + rng.choice(["", "0", ":", "-", "T", " ", "Z", "x", ".", "+"]) + text[at + 1:]
    return text


def test_one_at_a_time_each_read_is_the_row_readers():
    rng = random.Random(0)
    read = 0
    for _ in range(3000):
        text = random_time(rng, near_misses=True)
        got = iso_seconds(*table([text]))
        if got is not None:
            read += 1
            assert repr(float(got[0])) == repr(row_reader(text)), text
    assert read > 800  # most near misses are left to the rows; many times are still read


def test_a_column_of_mixed_shapes_is_read_whole():
    rng = random.Random(1)
    texts = [random_time(rng, near_misses=False) for _ in range(5000)]
    got = iso_seconds(*table(texts))
    assert got is not None and got.tolist() == [row_reader(t) for t in texts]


def test_one_time_the_rows_would_not_read_leaves_the_whole_column_to_them():
    good = ["2024-03-01T10:00:00Z"] * 3
    assert iso_seconds(*table(good)) is not None
    for bad in ("2024-02-30", "2024-03-01T10:00:00+24:00", "2024-03-01 10:00:60", "2024-3-01"):
        assert row_reader(bad) is None and iso_seconds(*table(good + [bad])) is None, bad


def test_strings_are_read_in_chunks_to_the_same_seconds():
    """A DataFrame's or a JSON file's times, a chunk at a time: one bad time in a later chunk leaves
    them all to the rows; a time not ASCII is no time read here."""
    from zsrec.iso_times import iso_seconds_of

    rng = random.Random(2)
    texts = [random_time(rng, near_misses=False) for _ in range(1000)]
    whole = iso_seconds_of(texts, chunk=len(texts))
    assert whole is not None and whole.tolist() == [row_reader(t) for t in texts]
    assert iso_seconds_of(texts, chunk=7).tolist() == whole.tolist()
    assert iso_seconds_of(texts + ["2024-02-30"], chunk=7) is None
    assert iso_seconds_of(texts + ["２０２４-03-01"], chunk=7) is None
    assert iso_seconds_of(["2024-03-01\x00"]) is None  # a NUL is no padding
