"""``Interactions.extend`` appends into spare rows its columns keep, so an add of a few picks does not
copy every pick; copies share those columns and never see each other's picks."""

import numpy as np
import pytest

from conftest import without_lookup
from zsrec.data import Interactions, first_seen_codes


def _rows(n, start=0):
    return [(f"u{i % 3}", i, float(i), float(i % 5)) for i in range(start, start + n)]


def _extend(inter, rows):
    users, items, stamps, ratings = zip(*rows)
    return inter.extend(list(users), list(items), list(stamps), list(ratings))


def _as_rows(inter):
    return list(zip(inter.users.tolist(), inter.items.tolist(), inter.timestamps.tolist(), inter.ratings.tolist()))


def test_appends_write_into_spare_rows_and_copies_never_see_each_others_picks():
    base = Interactions.from_rows(_rows(40))
    base.user_history("u1")  # the per-user lookup made: extend keeps it up to date
    first = base.copy()
    _extend(first, _rows(1, 40))  # columns of its own, with spare rows
    second = first.copy()
    assert list(_extend(second, _rows(2, 41))) == [41, 42]
    assert second.users.base is first.users.base and second.items.base is first.items.base  # appended in place
    # first's spare rows are second's now: a copy of first that appends grows columns of its own
    third = first.copy()
    _extend(third, [("u9", 7, 50.0, 1.0)])
    assert third.items.base is not second.items.base
    assert _as_rows(base) == _rows(40)
    assert _as_rows(first) == _rows(41)
    assert _as_rows(second) == _rows(43)
    assert _as_rows(third) == _rows(41) + [("u9", 7, 50.0, 1.0)]
    assert third.user_history("u9").tolist() == [7] and not second.has_user("u9")
    assert second.user_history("u1").tolist() == [i for i in range(43) if i % 3 == 1]
    # many appends past the spare rows, each from a copy as a Recommender's adds are: every pick kept
    grown, expected = second, _rows(43)
    for start in range(43, 343, 7):
        grown = grown.copy()
        _extend(grown, _rows(7, start))
        expected += _rows(7, start)
    assert _as_rows(grown) == expected and len(grown) == 344
    assert grown.items.dtype == np.int64 and grown.users.dtype == object
    assert grown.user_times("u2").tolist() == [float(i) for i in range(344) if i % 3 == 2]
    # a column set by hand is not the room's: the next append copies it rather than writing past the old one
    grown.items = grown.items + 1000
    before = grown.copy()
    _extend(grown, _rows(1, 344))
    moved = [(u, i + 1000, t, r) for u, i, t, r in expected]
    assert _as_rows(before) == moved and _as_rows(grown) == moved + _rows(1, 344)


@pytest.mark.parametrize("names", [["bo", "ann", "u10", "u9", "Zed", "u1"], ["bo", "ann", "u10", "u9", "Zed", "é", "u1"]],
                         ids=["ascii", "accented"])
def test_picks_by_user_give_each_users_rows_in_turn_and_the_lookup_orders_by_user_then_time(names):
    """What the evidence's user x item matrix is made from: each id once, each one's rows one after
    another, sorted ids first and users added since after them; read off the lookup user_history uses,
    which keeps each user's picks in time order (ties in file order), once it is made. ASCII ids are
    sorted as bytes."""
    rng = np.random.default_rng(0)
    rows = [(names[int(u)], int(i), float(t), np.nan)
            for u, i, t in zip(rng.integers(0, len(names), 300), rng.integers(0, 50, 300), rng.integers(0, 20, 300))]
    inter = Interactions.from_rows(rows)
    assert inter.picks_by_user() is None  # no lookup made yet: not made for this (see user_codes)
    assert inter.user_ids == sorted(set(names))  # made

    def each_users_rows(inter):
        ids, order, sizes = inter.picks_by_user()
        assert order.dtype == np.int64 and sizes.dtype == np.int64 and len(sizes) == len(ids)
        assert sorted(order.tolist()) == list(range(len(inter)))  # every row once
        return ids, {u: order[a:b].tolist() for u, a, b in zip(ids, np.cumsum(sizes) - sizes, np.cumsum(sizes))}

    ids, mine = each_users_rows(inter)
    assert ids == sorted(set(names))
    for name in names:  # by time, ties in file order: a stable sort of each user's rows by time
        want = sorted((r for r in range(len(rows)) if rows[r][0] == name), key=lambda r: rows[r][2])
        assert mine[name] == want
        assert inter.user_history(name).tolist() == [rows[r][1] for r in want]
    _extend(inter, [("new", 3, 30.0, np.nan), ("ann", 4, 31.0, np.nan)])
    ids, mine = each_users_rows(inter)
    assert ids == sorted(set(names)) + ["new"]
    assert mine["new"] == [300] and mine["ann"][-1] == 301
    empty = Interactions.from_rows([])
    assert empty.user_ids == [] and empty.picks_by_user()[0] == [] and len(empty.picks_by_user()[1]) == 0 == len(empty.picks_by_user()[2])


@pytest.mark.parametrize("names", [["bo", "ann", "u10", "u9", "Zed", "u1"], ["bo", "ann", "u10", "u9", "Zed", "é", "u1"]],
                         ids=["ascii", "accented"])
def test_user_codes_number_each_id_in_the_order_first_seen(names):
    """What the evidence's user x item matrix is made from: each id once, in the order first seen,
    and each pick's place among them; after an add, the new picks and users too."""
    rng = np.random.default_rng(0)
    rows = [(names[int(u)], int(i), float(t), np.nan)
            for u, i, t in zip(rng.integers(0, len(names), 300), rng.integers(0, 50, 300), rng.integers(0, 20, 300))]
    inter = Interactions.from_rows(rows)
    for _ in range(2):
        ids, codes = first_seen_codes(inter.users)
        assert ids == list(dict.fromkeys(inter.users.tolist())) and codes.dtype == np.int64
        assert [ids[c] for c in codes.tolist()] == inter.users.tolist()
        _extend(inter, [("new", 3, 30.0, np.nan), ("ann", 4, 31.0, np.nan)])
    assert ids[-1] == "new" and len(codes) == 302
    none = first_seen_codes(Interactions.from_rows([]).users)
    assert none[0] == [] and len(none[1]) == 0


@pytest.mark.parametrize("shape", ["in time order", "users in turn", "no order", "ties and NaN times"])
def test_the_first_user_asked_is_found_by_a_scan_with_the_rows_the_lookup_gives(shape):
    """``zsrec rank --index FILE --user U`` asks about one user: a scan of the picks finds them, with
    the rows the lookup of every user gives (by time, ties in file order, a NaN time last), and the
    lookup is not made. A second user makes it; so does a user the scan does not find."""
    from zsrec.data import _rows_by_user
    from zsrec.errors import UnknownUserError

    rng = np.random.default_rng(3)
    n = 3000
    names = [f"u{i}" for i in rng.integers(0, 40, n)]
    stamps = np.sort(rng.integers(0, 500, n)).astype(np.float64)
    if shape == "users in turn":
        order = np.argsort(names, kind="stable")
        names, stamps = [names[i] for i in order], stamps[order]
    elif shape == "no order":
        stamps = rng.permutation(stamps)
    elif shape == "ties and NaN times":
        stamps = rng.integers(0, 5, n).astype(np.float64)
        stamps[rng.random(n) < 0.05] = np.nan
    inter = Interactions.from_rows([(u, int(i), float(t), float(r)) for u, i, t, r in
                                    zip(names, rng.integers(0, 90, n), stamps, rng.integers(1, 6, n))])
    want = _rows_by_user(inter.users, inter.timestamps)
    for user in ["u0", "u17", "u39"]:
        alone = without_lookup(inter)
        rows = want[user]
        assert alone.user_history(user).tolist() == inter.items[rows].tolist()
        assert np.array_equal(alone.user_times(user), inter.timestamps[rows], equal_nan=True)
        assert alone.user_ratings(user).tolist() == inter.ratings[rows].tolist()
        assert alone._by_user is None  # found by the scan; asked again, remembered
        assert alone.user_history(user).tolist() == inter.items[rows].tolist() and alone._by_user is None
        other = "u5" if user != "u5" else "u6"
        assert alone.user_history(other).tolist() == inter.items[want[other]].tolist()
        assert alone._by_user is not None  # a second user: the lookup, for every later one
        assert alone.user_history(user).tolist() == inter.items[rows].tolist()
    unknown = without_lookup(inter)
    with pytest.raises(UnknownUserError, match=r"unknown user id 'nobody' \(40 users in the data\)"):
        unknown.user_history("nobody")


def test_the_user_found_by_the_scan_is_found_again_after_an_add_with_the_new_picks():
    """An add may give the remembered user more picks: it is scanned for again."""
    inter = without_lookup(Interactions.from_rows(_rows(30)))
    assert inter.user_history("u1").tolist() == list(range(1, 30, 3)) and inter._by_user is None
    _extend(inter, [("u1", 99, 100.0, 5.0), ("u2", 98, 101.0, 5.0)])
    assert inter.user_history("u1").tolist() == list(range(1, 30, 3)) + [99]
    assert inter.user_history("u2").tolist() == list(range(2, 30, 3)) + [98]


def test_ids_made_in_code_as_numbers_are_found_by_the_lookup():
    """The scan compares text; ids held as numbers (made in code, not read from a file) are found
    by their text through the lookup, as before."""
    users = np.empty(6, dtype=object)
    users[:] = [7, 8, 7, 8, 7, 9]
    inter = Interactions(users=users, items=np.arange(6), timestamps=np.arange(6.0), ratings=np.full(6, np.nan))
    assert inter.user_history("7").tolist() == [0, 2, 4] and inter._by_user is not None
    numbers = Interactions(users=np.array([7, 8, 7]), items=np.arange(3), timestamps=np.arange(3.0),
                           ratings=np.full(3, np.nan))
    assert numbers.user_history("7").tolist() == [0, 2]


@pytest.mark.parametrize("kind", ["ascii", "accented", "not strings"])
def test_the_per_user_lookup_groups_each_users_picks_by_time_ties_in_file_order(kind):
    """The lookup numbers the ids with a dict and sorts one integer per pick; ids that are not all
    strings take one sort of (id, time, row). Either way: the ids in sorted order, each user's rows
    by time with ties in file order (many ties here), as a brute force gives."""
    from zsrec.data import _rows_by_user, _rows_by_user_sorting

    rng = np.random.default_rng(5)
    names = {"ascii": ["u10", "u9", "Zed", "ann", "u1", "b"], "accented": ["é", "e", "ann", "Ω", "zz", "éa"],
             "not strings": [10, 9, 100, "9a", 1, 2]}[kind]
    users = np.empty(2000, dtype=object)
    users[:] = [names[i] for i in rng.integers(0, len(names), 2000)]
    stamps = rng.integers(0, 30, 2000).astype(np.float64)
    want = {}
    for row in sorted(range(2000), key=lambda r: (str(users[r]), stamps[r], r)):
        want.setdefault(str(users[row]), []).append(row)
    for group in (_rows_by_user, _rows_by_user_sorting):
        got = group(users, stamps)
        assert list(got) == list(want) and all(got[k].tolist() == want[k] for k in want)
    assert _rows_by_user(users[:0], stamps[:0]) == {}


def _brute_force_groups(users, stamps):
    """Each user's rows sorted by (time, row), NaN times last, the users in sorted order."""
    want = {}
    key = [(np.isnan(t), 0.0 if np.isnan(t) else t, r) for r, t in enumerate(stamps.tolist())]
    for row in sorted(range(len(users)), key=lambda r: (users[r], key[r])):
        want.setdefault(users[row], []).append(row)
    return want


def _log(names, stamps):
    users = np.empty(len(names), dtype=object)
    users[:] = list(names)
    return users, np.asarray(stamps, dtype=np.float64)


_SHAPES = {
    # (user per row, time per row, the way _rows_by_user should take: "in order", "few late", "every pick")
    "a log in time order": ("ababcabcca", [1, 2, 2, 3, 4, 5, 5, 6, 7, 7], "in order"),
    "users in turn, each in time order": ("aaabbbbcc", [5, 6, 6, 1, 2, 3, 3, 0, 9], "in order"),
    "one user late where no neighbour shows it": ("abcdefgh" * 6, list(range(24)) + [-5] + list(range(25, 48)),
                                                   "few late"),
    "every user late, no neighbour shows it": ("abab", [3, 4, 1, 2], "every pick"),
    "neighbours out of order": ("aabb", [2, 1, 4, 3], "every pick"),
    "a NaN time among in-order picks": ("abcdefgh" * 6, list(range(8)) + [float("nan")] + list(range(9, 48)),
                                        "few late"),
    "ties and NaN between neighbours": ("aaab", [1, float("nan"), 1, 0], "every pick"),
}


@pytest.mark.parametrize("shape", list(_SHAPES))
def test_the_per_user_lookup_puts_each_users_picks_in_time_order_whichever_order_the_log_is_in(shape, monkeypatch):
    """The lookup sorts by time only what is out of order: a log whose users' picks are already in
    time order is grouped by user alone, a few users out of order (picks logged late) are sorted on
    their own, and a log out of order next to itself or for many users is sorted whole. Each way
    gives the brute force's groups (NaN last, ties in file order), and takes the way meant for it."""
    from zsrec import data

    names, stamps, way = _SHAPES[shape]
    users, stamps = _log(names, stamps)
    ways = []
    put_in_time, argsort = data._put_in_time, np.argsort
    monkeypatch.setattr(data, "_put_in_time", lambda *args: (ways.append("few late"), put_in_time(*args))[1])
    monkeypatch.setattr(np, "argsort", lambda a, **kw: (ways.append("every pick" if len(a) == len(users) else "part"),
                                                         argsort(a, **kw))[1])
    got = data._rows_by_user(users, stamps)
    want = _brute_force_groups(users, stamps)
    assert list(got) == list(want) and all(got[k].tolist() == want[k] for k in want)
    assert (ways[0] if ways else "in order") == way


def test_the_per_user_lookup_matches_a_brute_force_on_logs_nearly_in_time_order():
    """Random logs in time order (users interleaved, many ties), some picks then moved later in the
    file (logged late), some times made NaN: each of the three ways is taken, and every log's groups
    are the brute force's."""
    from zsrec import data

    rng = np.random.default_rng(11)
    taken = {"few late": 0, "in order": 0, "every pick": 0}
    put_in_time = data._put_in_time
    for _ in range(300):
        n = int(rng.integers(1, 120))
        names = [f"u{i}" for i in rng.integers(0, int(rng.integers(1, 30)), n)]
        stamps = np.sort(rng.integers(0, 40, n)).astype(np.float64)
        place = np.arange(n, dtype=np.float64)
        place[rng.random(n) < rng.choice([0.0, 0.01, 0.05, 0.3])] += rng.integers(1, 60)
        order = np.argsort(place, kind="stable")
        stamps = stamps[order]
        stamps[rng.random(n) < rng.choice([0.0, 0.0, 0.02])] = np.nan
        users, stamps = _log([names[i] for i in order], stamps)
        calls = []
        data._put_in_time = lambda *args: (calls.append(1), put_in_time(*args))[1]
        try:
            got = data._rows_by_user(users, stamps)
        finally:
            data._put_in_time = put_in_time
        want = _brute_force_groups(users, stamps)
        assert list(got) == list(want) and all(got[k].tolist() == want[k] for k in want)
        late = any(got[k].tolist() != sorted(got[k].tolist()) for k in got)
        taken["few late" if calls else "every pick" if late else "in order"] += 1
    assert all(count >= 10 for count in taken.values()), taken


@pytest.mark.parametrize("ids", [["ann", "bo", "é"], [1, 2, 3]], ids=["strings", "not strings"])
def test_the_fingerprint_digests_the_ids_as_text_as_saved_index_files_do(ids):
    """A saved index file holds this digest; it must not change, or every file saved before would be
    counted again on load."""
    import hashlib

    inter = Interactions.from_rows([(ids[i % 3], i, float(i), np.nan) for i in range(7)])
    digest = hashlib.sha256("\x1f".join(str(u) for u in inter.users).encode())
    digest.update(inter.items.tobytes())
    digest.update(inter.timestamps.tobytes())
    digest.update(b"timed")
    assert inter.fingerprint() == digest.hexdigest()
