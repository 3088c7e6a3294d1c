"""``check_index_file`` (``zsrec index --check``) says what a start from an index file would make again,
from the file's settings and digests, building and writing nothing: each case here is checked against
what a Recommender started from a copy of the same file then made again (``index_report.rebuilt``)."""

import dataclasses
import shutil
import warnings

import numpy as np
import pytest

from zsrec import CandidateConfig, CandidateGenerator, Catalog, Interactions, Item, Recommender, check_index_file
from zsrec.candidate_file import parts_for
from zsrec.cooccurrence import CoOccurrenceConfig
from zsrec.errors import DataError

NO_MODEL = {"reasons": "evidence", "fusion_weight": 0.0}


def _start(data, path, cfg=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the index file's warnings: the report says the same
        return Recommender(data, candidates=cfg, index=path, **NO_MODEL, **kwargs)


def _checked_then_started(data, base, tmp_path, cfg=None, **kwargs):
    """The check's answer, and what a start from a copy of the same file made again; the check wrote nothing."""
    path = tmp_path / "copy.npz"
    shutil.copyfile(base, path)
    before = path.read_bytes()
    found = check_index_file(path, data, cfg, **kwargs)
    assert path.read_bytes() == before
    report = _start(data, path, cfg, **kwargs).index_report
    assert report.read and found.exists
    return found, report


@pytest.fixture(scope="module")
def built(ml100k, tmp_path_factory):
    path = tmp_path_factory.mktemp("index") / "ml100k.npz"
    _start(ml100k, path)
    return path


@pytest.mark.parametrize("cfg, stale", [
    (None, ()),
    (CandidateConfig(sittings_share=0.0, session_share=0.0), ()),  # the file holds more than needed
    (CandidateConfig(sittings_neighbours=7), ()),  # read by the ranking alone
    (CandidateConfig(cooccurrence=CoOccurrenceConfig(window=3)),
     ("co-occurrence (other settings)", "co-occurrence of first 10 picks (made again with the co-occurrence)",
      "sitting co-occurrence (made again with the co-occurrence)", "similar sittings (made again with the co-occurrence)")),
    (CandidateConfig(session_seconds=300.0), ("sitting co-occurrence (other settings)", "similar sittings (other settings)")),
    (CandidateConfig(by_length="1:0/0.3/0.7+first5"), ("co-occurrence of first 5 picks (not in the file)",)),
])
def test_settings_the_check_tells_apart_as_the_start_does(ml100k, built, tmp_path, cfg, stale):
    found, report = _checked_then_started(ml100k, built, tmp_path, cfg)
    assert found.stale == report.rebuilt == stale
    assert found.current == report.current == (not stale)
    assert (found.items, found.picks, found.users) == (1682, 100_000, 943)


def test_new_picks_and_new_items_are_told_as_the_start_tells_them(ml100k, built, tmp_path):
    inter = ml100k.interactions
    later = Interactions(users=np.concatenate([inter.users, np.array(["new"] * 2, dtype=object)]),
                         items=np.concatenate([inter.items, [49, 99]]),
                         timestamps=np.concatenate([inter.timestamps, [inter.timestamps.max() + 1] * 2]),
                         ratings=np.concatenate([inter.ratings, [5.0, 4.0]]))
    found, report = _checked_then_started(dataclasses.replace(ml100k, interactions=later), built, tmp_path)
    assert found.stale == report.rebuilt
    assert found.stale == ("co-occurrence (counted from other interactions)",
                           "co-occurrence of first 10 picks (counted from other interactions)",
                           "sitting co-occurrence (counted from other interactions)",
                           "similar sittings (counted from other interactions)", "user lookup (other picks)")
    grown = dataclasses.replace(ml100k, catalog=ml100k.catalog.with_items([Item("new-1", "A New Film (2026)", {})]))
    found, report = _checked_then_started(grown, built, tmp_path)
    assert found.stale == report.rebuilt and found.items == 1683
    assert found.stale[0] == "text index (the catalog grew since)" and found.stale[-1] == "title search (other titles)"


def test_a_file_without_title_search_or_lookup_says_not_in_the_file(ml100k, tmp_path):
    bare = tmp_path / "bare.npz"
    CandidateGenerator(ml100k.catalog, ml100k.interactions).save_index(bare)  # the generator's indexes alone
    found, report = _checked_then_started(ml100k, bare, tmp_path)
    assert found.stale == report.rebuilt == ("title search (not in the file)", "user lookup (not in the file)")


def test_the_picks_log_joins_the_data_first_as_the_start_joins_it(ml100k, tmp_path):
    from tests.conftest import own_copy

    path, log = tmp_path / "f.npz", tmp_path / "picks.jsonl"
    rec = _start(own_copy(ml100k), path, picks_log=log)
    rec.add_interactions([{"user_id": "943", "item_id": "50"}])  # kept in the log, not in the file
    found = check_index_file(path, ml100k, picks_log=log)
    assert found.picks == 100_001 and "user lookup (other picks)" in found.stale
    assert not check_index_file(path, ml100k).stale  # without the log, the file fits the data as read
    assert check_index_file(path, ml100k, picks_log=log).stale == _start(ml100k, path, picks_log=log).index_report.rebuilt
    assert check_index_file(path, ml100k, picks_log=log).current  # the start wrote it again


def test_another_catalog_and_an_unreadable_file_are_the_starts_errors(ml100k, built, tmp_path):
    renamed = dataclasses.replace(ml100k, catalog=Catalog(
        [Item(it.id, it.title + " (cut)" if it.id == "1" else it.title, it.fields) for it in ml100k.catalog.items]))
    for ask in (lambda: check_index_file(built, renamed), lambda: _start(renamed, built)):
        with pytest.raises(DataError, match="built for another catalog of 1682 items"):
            ask()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an index")
    with pytest.raises(DataError, match="not a .npz file"):
        check_index_file(broken, ml100k)
    assert not check_index_file(tmp_path / "none.npz", ml100k).exists


@pytest.mark.parametrize("timed", [True, False])
@pytest.mark.parametrize("cfg", [CandidateConfig(), CandidateConfig(cooccurrence_weight=0.0, by_length=()),
                                 CandidateConfig(session_share=0.0), CandidateConfig(sittings_share=0.0),
                                 CandidateConfig(by_length="1:0/0.3/0.7+first5,3:0.2/0.2/0.6+first3")])
def test_the_parts_a_check_expects_are_those_a_generator_holds(cfg, timed):
    """``parts_for`` foretells ``saved_parts`` without building: untimed data has no sittings to cut."""
    catalog = Catalog([Item(f"i{k}", f"Item {k}", {"genres": f"g{k % 3}"}) for k in range(12)])
    rows = [(f"u{u}", (u * 5 + j) % 12, 100.0 * j, 4.0) for u in range(10) for j in range(6)]
    inter = Interactions.from_rows(rows, timed=timed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a signal off for want of timestamps
        gen = CandidateGenerator(catalog, inter, cfg)
    assert parts_for(cfg, inter) == [(name, key) for name, key, _ in gen.saved_parts()]


def test_a_start_from_the_file_and_a_check_each_take_the_catalogs_digest_once(ml100k, built, tmp_path, monkeypatch):
    """A digest of every item's text is 1.1-1.4 s at 1M items: the check of the file's fit and the
    generator's check of the text index it is lent share one."""
    calls = []
    real = Catalog.fingerprint
    monkeypatch.setattr(Catalog, "fingerprint", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    path = tmp_path / "copy.npz"
    shutil.copyfile(built, path)
    assert _start(ml100k, path).index_report.current and len(calls) == 1
    calls.clear()
    assert check_index_file(path, ml100k).current and len(calls) == 1
