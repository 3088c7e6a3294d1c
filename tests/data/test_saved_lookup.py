"""The per-user lookup kept in the index file (``zsrec.saved_lookup``), and made once however many
threads need it: a start from the file makes it from the file's arrays, equal to one made from the
picks, and never uses one saved for other picks."""

import dataclasses
import threading

import numpy as np
import pytest

from conftest import ScriptedBackend, own_copy, without_lookup
from zsrec import data as data_module
from zsrec.data import Interactions
from zsrec.errors import DataError
from zsrec.npz_files import write_npz
from zsrec.recommender import Recommender


def _start(ml100k, index, interactions=None):
    """A Recommender as a restart has it: its picks (these, or ML-100K's) without the lookup made."""
    data = dataclasses.replace(own_copy(ml100k), interactions=without_lookup(interactions or ml100k.interactions))
    return Recommender(data, backend=ScriptedBackend(lambda p: "[1]"), index=index, reasons="evidence")


def _lookup(rec):
    return {user: rows.tolist() for user, rows in rec.dataset.interactions._user_rows().items()}


def _refuse_making(monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("the lookup was made from the picks")
    for name in ("_rows_by_user", "_rows_by_user_sorting"):
        monkeypatch.setattr(data_module, name, refused)


def test_a_start_from_the_index_file_reads_the_lookup_and_makes_it_only_when_needed(ml100k, tmp_path, monkeypatch):
    index = tmp_path / "index.npz"
    built = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: "[1]"), index=index, reasons="evidence")
    with np.load(index) as f:
        assert {"users_digest", "users_text", "users_ends", "users_sizes", "users_rows"} <= set(f.files)
        assert f["users_rows"].dtype == np.int32
    rec = _start(ml100k, index)
    inter = rec.dataset.interactions
    assert inter._by_user is None and inter._saved is not None  # read, not made
    _refuse_making(monkeypatch)
    first = rec.recommend_for_user("196", n_history=5)  # one user: found by a scan, as before
    assert inter._by_user is None and inter._saved is not None
    assert rec.warm_up()["user_lookup"] >= 0
    assert _lookup(rec) == _lookup(built)  # the same users in the same order, each one's rows by time
    assert list(inter.user_ids) == list(built.dataset.interactions.user_ids)
    assert all(rows.dtype == np.int64 for rows in inter._user_rows().values())
    for user in ("196", "405", "1", "943"):
        assert [i.item_id for i in rec.recommend_for_user(user).items] == \
            [i.item_id for i in built.recommend_for_user(user).items]
    assert [i.item_id for i in first.items] == [i.item_id for i in built.recommend_for_user("196", n_history=5).items]


def test_picks_added_before_the_lookup_is_made_are_in_it(ml100k, tmp_path, monkeypatch):
    index = tmp_path / "index.npz"
    built = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: "[1]"), index=index, reasons="evidence")
    rec = _start(ml100k, index)
    picks = [{"user_id": "196", "item_id": "50"}, {"user_id": "newcomer", "item_id": "50"},
             {"user_id": "newcomer", "item_id": "181"}]
    _refuse_making(monkeypatch)
    for r in (rec, built):
        r.add_interactions(picks)
    assert _lookup(rec) == _lookup(built)
    assert rec.dataset.interactions.user_history("newcomer").tolist() == \
        [rec.dataset.catalog.index_of("50"), rec.dataset.catalog.index_of("181")]


def test_a_lookup_saved_for_other_picks_is_made_again_and_the_file_written_again(ml100k, tmp_path):
    index = tmp_path / "index.npz"
    Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: "[1]"), index=index, reasons="evidence")
    inter = ml100k.interactions
    later = Interactions(users=inter.users[:-10], items=inter.items[:-10], timestamps=inter.timestamps[:-10],
                         ratings=inter.ratings[:-10])  # the file was saved with ten picks more
    with pytest.warns(UserWarning, match="counted from other interactions"):
        rec = _start(ml100k, index, later)
    assert rec.dataset.interactions._saved is None  # not these picks' lookup
    fresh = Recommender(dataclasses.replace(own_copy(ml100k), interactions=without_lookup(later)),
                        backend=ScriptedBackend(lambda p: "[1]"), reasons="evidence")
    assert _lookup(rec) == _lookup(fresh)
    with np.load(index) as f:
        assert str(f["users_digest"]) == later.fingerprint() and int(f["users_sizes"].sum()) == len(later)
    assert _start(ml100k, index, later).dataset.interactions._saved is not None  # and read the next time


def test_a_file_without_the_lookup_is_read_and_written_again_with_it(ml100k, tmp_path):
    index = tmp_path / "index.npz"
    built = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: "[1]"), index=index, reasons="evidence")
    with np.load(index) as f:
        write_npz(index, {k: f[k] for k in f.files if not k.startswith("users_")})  # as an older zsrec wrote it
    rec = _start(ml100k, index)
    assert rec.dataset.interactions._saved is None and _lookup(rec) == _lookup(built)
    with np.load(index) as f:
        assert "users_rows" in f.files
    assert _start(ml100k, index).dataset.interactions._saved is not None


@pytest.mark.parametrize("damage", ["sizes", "rows", "ends"])
def test_a_saved_lookup_that_does_not_fit_is_an_error_naming_the_file(ml100k, tmp_path, damage):
    index = tmp_path / "index.npz"
    Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: "[1]"), index=index, reasons="evidence")
    with np.load(index) as f:
        arrays = {k: f[k] for k in f.files}
    if damage == "sizes":
        arrays["users_sizes"] = arrays["users_sizes"] + np.eye(1, len(arrays["users_sizes"]), dtype=np.int64)[0]
    elif damage == "rows":
        arrays["users_rows"] = arrays["users_rows"][:-1]
    else:
        arrays["users_ends"] = arrays["users_ends"][::-1].copy()
    write_npz(index, arrays)
    with pytest.raises(DataError, match="per-user lookup does not fit") as error:
        _start(ml100k, index)
    assert str(index) in str(error.value) and "delete the file" in str(error.value)


def test_ids_of_any_text_come_back_as_they_were(tmp_path):
    """Ids with separators, accents and other scripts: the file keeps each one's length, not a separator."""
    from zsrec import saved_lookup

    ids = ["a\nb", "", "zoë", "東京", "x|y", "a\nb ", "1"]
    users = np.array([ids[i % len(ids)] for i in range(40)], dtype=object)
    inter = Interactions(users=users, items=np.arange(40) % 7, timestamps=np.arange(40.0)[::-1].copy(),
                         ratings=np.full(40, np.nan))
    arrays = saved_lookup.lookup_arrays(inter)
    write_npz(tmp_path / "f.npz", arrays)
    again = Interactions(users=users, items=inter.items, timestamps=inter.timestamps, ratings=inter.ratings)
    assert saved_lookup.read(tmp_path / "f.npz", again) is None
    made = {k: v.tolist() for k, v in inter._user_rows().items()}
    assert {k: v.tolist() for k, v in again._user_rows().items()} == made and sorted(made) == sorted(set(ids))
    other = Interactions(users=users, items=inter.items, timestamps=inter.timestamps + 1, ratings=inter.ratings)
    assert saved_lookup.read(tmp_path / "f.npz", other) == "other picks" and other._saved is None


def _picks(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return Interactions(users=np.array([f"u{k}" for k in rng.integers(0, 50, n)], dtype=object),
                        items=rng.integers(0, 30, n), timestamps=np.sort(rng.random(n)), ratings=np.full(n, np.nan))


def test_threads_that_need_the_lookup_at_once_make_it_once(monkeypatch):
    inter = _picks()
    made = []
    real = data_module._rows_by_user
    gate = threading.Barrier(4, timeout=10)

    def slow(*args):
        made.append(1)
        return real(*args)
    monkeypatch.setattr(data_module, "_rows_by_user", slow)

    def ask():
        gate.wait()
        assert inter.has_user("u3")
    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert made == [1]


def test_picks_appended_while_the_lookup_is_made_are_in_it(monkeypatch):
    """Without the lock, the lookup made from the picks before an append was put in place after it,
    and held none of the appended picks."""
    inter = _picks()
    started, go = threading.Event(), threading.Event()
    real = data_module._rows_by_user

    def held(*args):
        started.set()
        go.wait(10)
        return real(*args)
    monkeypatch.setattr(data_module, "_rows_by_user", held)
    maker = threading.Thread(target=inter.index_users)
    maker.start()
    assert started.wait(10)
    appender = threading.Thread(target=inter.extend, args=(["late"], [5], [2.0], [np.nan]))
    appender.start()
    appender.join(0.2)  # it waits for the making
    go.set()
    maker.join(10)
    appender.join(10)
    assert inter.user_history("late").tolist() == [5] and len(inter.user_history("u3")) > 0


def test_the_digest_is_taken_again_once_picks_are_appended():
    inter = _picks()
    before = inter.fingerprint()
    assert inter.fingerprint() == before
    inter.extend(["late"], [5], [2.0], [np.nan])
    fresh = Interactions(users=inter.users.copy(), items=inter.items.copy(), timestamps=inter.timestamps.copy(),
                         ratings=inter.ratings.copy())
    assert inter.fingerprint() == fresh.fingerprint() != before


def test_a_read_lookup_is_made_before_an_append_and_shared_by_copies(tmp_path, monkeypatch):
    from zsrec import saved_lookup

    inter = _picks()
    write_npz(tmp_path / "f.npz", saved_lookup.lookup_arrays(inter))
    made = {k: v.tolist() for k, v in inter._user_rows().items()}
    again = Interactions(users=inter.users, items=inter.items, timestamps=inter.timestamps, ratings=inter.ratings)
    assert saved_lookup.read(tmp_path / "f.npz", again) is None
    copy = again.copy()
    _refuse_making(monkeypatch)
    assert {k: v.tolist() for k, v in copy._user_rows().items()} == made  # the copy makes it from the file too
    again.extend(["u3", "late"], [5, 6], [2.0, 2.0], [np.nan, np.nan])  # the file's lookup lacks these
    assert again.user_history("late").tolist() == [6] and again.user_history("u3").tolist()[-1] == 5
    assert len(again.user_history("u3")) == len(made["u3"]) + 1 and not copy.has_user("late")


def test_the_digest_is_taken_again_for_columns_put_in_place():
    inter = _picks()
    before = inter.fingerprint()
    inter.timestamps = inter.timestamps + 1.0
    assert inter.fingerprint() != before
