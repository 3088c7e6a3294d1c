"""New picks counted in while a Recommender runs (``Recommender.add_interactions``): the data, every
shortlist index, popularity and the reasons' counts end as a rebuild from all the picks would have
them; a bad batch is refused whole, naming the record, and changes nothing."""

import json
import math

import numpy as np
import pytest

from conftest import ScriptedBackend, own_copy
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import CoOccurrenceConfig
from zsrec.data import Dataset, Interactions
from zsrec.errors import DataError, OptionError, UnknownItemError
from zsrec.evidence import sentence
from zsrec.recommender import Recommender

HELD_OUT = 3000


def _split(ds, held_out=HELD_OUT):
    """The data without its latest ``held_out`` picks, and those picks as records, oldest first."""
    inter = ds.interactions
    order = np.lexsort((np.arange(len(inter)), inter.timestamps))
    kept, late = np.sort(order[:-held_out]), order[-held_out:]
    before = Interactions(users=inter.users[kept], items=inter.items[kept], timestamps=inter.timestamps[kept],
                          ratings=inter.ratings[kept])
    records = [{"user_id": str(inter.users[r]), "item_id": int(ds.catalog.items[inter.items[r]].id),
                "timestamp": float(inter.timestamps[r]), "rating": float(inter.ratings[r])} for r in late]
    return Dataset(ds.name, ds.catalog, before), records


# No neighbour pruned and every pick counted: the indexes a rebuild makes are then exactly defined, and
# an add must reach them (pruning makes an add keep a pair a rebuild would drop, by design). Similar
# sittings are compared apart: the sittings are the same, but equally alike ones at the cut are told
# apart by their order, which an add (a user's new sittings come last) and a rebuild give differently.
UNPRUNED = CandidateConfig(cooccurrence=CoOccurrenceConfig(neighbours=5000, max_history=5000), sittings_share=0.0)


def _rec(ds, config=UNPRUNED):
    return Recommender(ds, backend=ScriptedBackend(lambda p: ""), candidates=config, reasons="evidence")


def _same_index(a, b):
    assert a.counts.shape == b.counts.shape
    assert (a.counts != b.counts).nnz == 0
    assert np.array_equal(a.item_counts, b.item_counts)
    assert abs(a.scores - b.scores).max() < 1e-9


def test_added_picks_end_as_a_rebuild_would_count_them(ml100k):
    before, records = _split(ml100k)
    grown, whole = _rec(before), _rec(ml100k)
    grown.ranker.evidence  # built before the add: counted into, not built again
    new_users = set(r["user_id"] for r in records) - set(before.interactions.user_ids)
    assert new_users, "the held-out picks should bring users the data did not hold"
    added = grown.add_interactions(records)
    assert (added.added, added.new_users, added.interactions) == (HELD_OUT, len(new_users), len(ml100k.interactions))
    assert added.users == len(set(r["user_id"] for r in records))

    data, full = grown.dataset.interactions, ml100k.interactions
    assert sorted(data.user_ids) == sorted(full.user_ids)
    for u in full.user_ids:
        assert data.user_history(u).tolist() == full.user_history(u).tolist()
        assert data.user_times(u).tolist() == full.user_times(u).tolist()
    gen, ref = grown.generator, whole.generator
    assert np.array_equal(gen.popularity_counts, ref.popularity_counts)
    _same_index(gen.cooccurrence, ref.cooccurrence)
    assert gen.first_picks.keys() == ref.first_picks.keys() and gen.first_picks
    for k in gen.first_picks:
        _same_index(gen.first_picks[k], ref.first_picks[k])
    _same_index(gen.session, ref.session)
    assert gen.sittings is None

    # every user's shortlist and every reason as a rebuild's (the new users and those who picked more)
    touched = sorted(set(r["user_id"] for r in records))
    others = [u for u in sorted(full.user_ids) if u not in touched][::20]
    for u in touched + others:
        mine, theirs = grown.prepare_user(u, n_history=5).prepared, whole.prepare_user(u, n_history=5).prepared
        assert mine.candidates.indices.tolist() == theirs.candidates.indices.tolist(), u
        assert np.allclose(mine.candidates.scores, theirs.candidates.scores, rtol=0, atol=1e-12)
        assert [sentence(f) for f in mine.facts] == [sentence(f) for f in theirs.facts]
    assert np.array_equal(grown.ranker.evidence.pickers, whole.ranker.evidence.pickers)
    assert np.array_equal(grown.ranker.evidence.pop_rank, whole.ranker.evidence.pop_rank)
    _same_title_search(grown, whole)


def _same_title_search(a, b):
    """Title search as a build with the same popularity: its lookups and the search box's order."""
    for table in ("_exact", "_norm", "_norm_noyear"):
        assert getattr(a.matcher, table) == getattr(b.matcher, table), table
    for array in ("_order", "_posting"):
        assert np.array_equal(getattr(a.matcher, array), getattr(b.matcher, array)), array


def test_added_picks_join_the_sittings_a_rebuild_would_cut(ml100k):
    before, records = _split(ml100k)
    grown, whole = _rec(before, CandidateConfig()), _rec(ml100k, CandidateConfig())
    grown.add_interactions(records)

    def as_sets(index):
        return sorted((str(index.users[index.owners[r]]), index.ends[r], tuple(index.members[r].indices.tolist()))
                      for r in range(index.n_sittings))
    assert as_sets(grown.generator.sittings) == as_sets(whole.generator.sittings)
    # The default prunes each item's neighbours to 100: a pair dropped before starts again from its
    # new count, and a rebuild ranks every pair afresh, so the shortlists differ a little (measured in
    # benchmarks/add_interactions.py); the lists of those who picked more hold mostly the same items.
    users = sorted(set(r["user_id"] for r in records))
    shared = [len(set(grown.prepare_user(u, n_history=5).prepared.candidates.indices.tolist())
                  & set(whole.prepare_user(u, n_history=5).prepared.candidates.indices.tolist())) for u in users]
    assert np.mean(shared) >= 18 and min(shared) >= 14


def test_evidence_built_after_the_add_counts_the_new_picks(ml100k):
    before, records = _split(ml100k, 500)
    grown = _rec(before)
    grown.add_interactions(records)  # the evidence index is not built yet: it is counted from the data later
    user = records[-1]["user_id"]
    mine = grown.prepare_user(user, n_history=3).prepared.facts
    theirs = _rec(ml100k).prepare_user(user, n_history=3).prepared.facts
    assert [sentence(f) for f in mine] == [sentence(f) for f in theirs]


def test_a_new_user_becomes_a_known_user_and_a_filter_reads_the_new_counts(ml100k):
    rec = _rec(own_copy(ml100k), CandidateConfig())
    western = rec.prepare([], only_genres=["Western"], k=3).prepared
    top = western.candidates.indices[0]
    rest = western.candidates.indices[1]
    # a crowd of new users picks the second most popular western, enough to make it the first
    gap = int(rec.generator.popularity_counts[top] - rec.generator.popularity_counts[rest]) + 1
    rec.add_interactions([{"user_id": f"crowd{i}", "item_id": ml100k.catalog.items[rest].title} for i in range(gap)])
    again = rec.prepare([], only_genres=["Western"], k=3).prepared
    assert again.candidates.indices[0] == rest
    fact = again.facts[0][-1]
    assert (fact.rank, fact.of, fact.among) == (1, 27, "Western items")
    assert fact.count == int(ml100k.interactions.item_counts(len(ml100k.catalog))[rest]) + gap

    stamp = float(ml100k.interactions.timestamps.max()) + 10
    rec.add_interactions([{"user_id": "ann", "item_id": "Toy Story (1995)", "timestamp": stamp},
                          {"user_id": "ann", "item_id": "fargo (1996)", "timestamp": stamp + 30},
                          {"user_id": "ann", "item_id": 174, "timestamp": stamp + 20}])  # out of order: sorted
    assert [ml100k.catalog.items[i].title for i in rec.dataset.interactions.user_history("ann")] == [
        "Toy Story (1995)", "Raiders of the Lost Ark (1981)", "Fargo (1996)"]
    ann = rec.prepare_user("ann", k=3).prepared
    assert not {0, 173, 99} & set(ann.candidates.indices.tolist())  # what ann picked is not recommended


class _CountsInPlace:
    """A lent generator that counts new picks only in place (no ``count_picks``)."""

    def __init__(self, generator):
        self._generator = generator

    def __getattr__(self, name):
        if name == "count_picks":
            raise AttributeError(name)
        return getattr(self._generator, name)


@pytest.mark.parametrize("where", ["aside", "in place"])
def test_title_search_follows_the_picks_as_a_restart_would(ml100k, where):
    """"Shall We Dance?" typed without a year means the more picked film: the 1996 one (46 picks)
    until a crowd picks the 1937 one (17). The search box lists them in the new order too, as a
    Recommender built over the grown data does, whether the generator counts picks aside or (a lent
    one without ``count_picks``) in place."""
    data = own_copy(ml100k)
    generator = CandidateGenerator(data.catalog, data.interactions, CandidateConfig())
    if where == "in place":
        generator = _CountsInPlace(generator)
    rec = Recommender(data, backend=ScriptedBackend(lambda p: ""), generator=generator, reasons="evidence")
    new, old = data.catalog.index_of("251"), data.catalog.index_of("1286")
    assert rec.resolve_history(["Shall We Dance?"])[0] == [new]
    assert rec.matcher.search("shall we dance", 2) == [new, old]
    rec.add_interactions([{"user_id": f"fan{i}", "item_id": "1286"} for i in range(30)])
    assert rec.generator.popularity_counts[old] == 47
    assert rec.resolve_history(["Shall We Dance?"])[0] == [old]
    assert rec.matcher.search("shall we dance", 2) == [old, new]
    restarted = Recommender(Dataset(data.name, data.catalog, rec.dataset.interactions),
                            backend=ScriptedBackend(lambda p: ""), reasons="evidence")
    _same_title_search(rec, restarted)


def test_a_bad_batch_is_refused_whole_and_changes_nothing(ml100k):
    rec = _rec(own_copy(ml100k), CandidateConfig())
    n, pop = len(rec.dataset.interactions), rec.generator.popularity_counts.copy()
    co = rec.generator.cooccurrence.counts.copy()
    good = {"user_id": "bob", "item_id": "Fargo (1996)"}
    with pytest.raises(UnknownItemError, match="Raiders of the Lost Ark"):
        rec.add_interactions([good, {"user_id": "bob", "item_id": "Raiders of the Lost Arc"}])
    with pytest.raises(DataError, match=r"interactions\[1\]: timestamp 'yesterday'"):
        rec.add_interactions([good, {"user_id": "bob", "item_id": 1, "timestamp": "yesterday"}])
    with pytest.raises(DataError, match=r"interactions\[0\]: no user id"):
        rec.add_interactions([{"user_id": " ", "item_id": 1}])
    with pytest.raises(DataError, match="no column 'user_id'"):
        rec.add_interactions([{"user": "bob", "item_id": 1}])
    old = float(rec.dataset.interactions.user_times("1").max())
    with pytest.raises(DataError, match=r"interactions\[1\]: user '1'.s pick at .* is older than their latest"):
        rec.add_interactions([good, {"user_id": "1", "item_id": 1, "timestamp": old - 1}])
    assert len(rec.dataset.interactions) == n and not rec.dataset.interactions.has_user("bob")
    assert np.array_equal(rec.generator.popularity_counts, pop)
    assert (rec.generator.cooccurrence.counts != co).nnz == 0
    assert rec.add_interactions([]).added == 0


def test_picks_from_a_dataframe_with_its_own_columns(ml100k):
    pd = pytest.importorskip("pandas")
    rec = _rec(own_copy(ml100k), CandidateConfig())
    when = pd.Timestamp("2026-12-05 10:00:00")
    frame = pd.DataFrame({"who": ["zoe", "zoe"], "sku": [50, 181], "at": [when, when + pd.Timedelta(seconds=40)],
                          "stars": [5, None]})
    added = rec.add_interactions(frame, columns={"user_id": "who", "item_id": "sku", "timestamp": "at", "rating": "stars"})
    assert (added.added, added.users, added.new_users) == (2, 1, 1)
    data = rec.dataset.interactions
    assert data.user_history("zoe").tolist() == [49, 180]
    assert data.user_times("zoe").tolist() == [when.timestamp(), when.timestamp() + 40]
    assert data.user_ratings("zoe")[0] == 5 and math.isnan(data.user_ratings("zoe")[1])
    # both picks fall in one sitting: the session signal pairs them
    assert rec.generator.session.counts[49, 180] >= 1


def test_data_without_timestamps_keeps_the_order_given(tmp_path):
    from zsrec.loaders import load_records
    shop = load_records([{"item_id": s, "title": f"Shoe {s}"} for s in "abcd"],
                        [{"user_id": u, "item_id": i} for u, i in [("1", "a"), ("1", "b"), ("2", "a"), ("2", "c")]])
    assert not shop.interactions.timed
    with pytest.warns(UserWarning, match="no timestamps"):  # the session signal and sittings are off, said so
        rec = _rec(shop, CandidateConfig(n_candidates=3))
    rec.add_interactions([{"user_id": "3", "item_id": "d"}, {"user_id": "3", "item_id": "a"}])
    assert rec.dataset.interactions.user_history("3").tolist() == [3, 0]
    assert rec.generator.popularity_counts.tolist() == [3, 1, 1, 1]
    with pytest.raises(DataError, match="no timestamps"):
        rec.add_interactions([{"user_id": "3", "item_id": "b", "timestamp": 5}])


def test_a_lent_generator_that_cannot_count_is_named_before_anything_changes(ml100k):
    class Fixed:  # a caller's own shortlist, as tests/prompts/test_injection.py lends one
        config = CandidateConfig()
        popularity_counts = np.zeros(len(ml100k.catalog))

        def generate(self, history, exclude=(), n=None):
            raise AssertionError("not asked")

    data = own_copy(ml100k)
    rec = Recommender(data, backend=ScriptedBackend(lambda p: ""), generator=Fixed())
    with pytest.raises(OptionError, match=r"lent shortlist generator \(Fixed\) cannot count new picks"):
        rec.add_interactions([{"user_id": "ann", "item_id": 1}])
    assert len(data.interactions) == len(ml100k.interactions)


def test_a_picks_log_keeps_the_picks_and_a_restart_counts_them_as_a_rebuild(ml100k, tmp_path):
    log = tmp_path / "picks.jsonl"
    before, records = _split(ml100k)
    running = Recommender(before, backend=ScriptedBackend(lambda p: ""), picks_log=log, reasons="evidence")
    running.add_interactions(records[:1000])
    running.add_interactions(records[1000:])
    lines = log.read_text().splitlines()
    assert len(lines) == HELD_OUT
    assert json.loads(lines[0]) == {**records[0], "item_id": str(records[0]["item_id"])}
    # a restart on the data without the picks and the log: exactly a rebuild from all the picks, even
    # with the default's pruning (the picks join the data before anything is counted)
    fresh, _ = _split(ml100k)
    restarted = Recommender(fresh, backend=ScriptedBackend(lambda p: ""), picks_log=log, reasons="evidence")
    assert len(fresh.interactions) == len(ml100k.interactions) - HELD_OUT  # the caller's data is left as it was
    whole = _rec(ml100k, CandidateConfig())
    gen, ref = restarted.generator, whole.generator
    assert np.array_equal(gen.popularity_counts, ref.popularity_counts)
    for a, b in [(gen.cooccurrence, ref.cooccurrence), (gen.session, ref.session),
                 *((gen.first_picks[k], ref.first_picks[k]) for k in ref.first_picks)]:
        assert (a.counts != b.counts).nnz == 0
    for u in sorted(set(r["user_id"] for r in records)):
        mine, theirs = restarted.prepare_user(u, n_history=5).prepared, whole.prepare_user(u, n_history=5).prepared
        assert mine.candidates.indices.tolist() == theirs.candidates.indices.tolist()
        assert [sentence(f) for f in mine.facts] == [sentence(f) for f in theirs.facts]
    assert "picks from" in restarted.dataset.source


def test_a_broken_picks_log(ml100k, tmp_path):
    log = tmp_path / "picks.jsonl"
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), picks_log=log)
    rec.add_interactions([{"user_id": "ann", "item_id": 1}, {"user_id": "ann", "item_id": 50}])
    with open(log, "a") as f:  # the process died while writing a pick
        f.write('{"user_id": "ann", "item_id": "10')
    written = log.read_text()
    with pytest.warns(UserWarning, match=r"picks.jsonl:3: this line is cut off"):
        again = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), picks_log=log)
    assert again.dataset.interactions.user_history("ann").tolist() == [0, 49]
    assert log.read_text() == written  # reading never changes the log: a running service may be writing it
    again.add_interactions([{"user_id": "ann", "item_id": 100}])  # starts a line of its own
    assert len(log.read_text().splitlines()) == 4
    with pytest.warns(UserWarning, match="cut off"):
        third = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), picks_log=log)
    assert third.dataset.interactions.user_history("ann").tolist() == [0, 49, 99]
    whole = [line for line in log.read_text().splitlines() if line.endswith("}")]  # the cut-off line mended away
    log.write_text("\n".join(whole + ['{"user_id": "bo", "item_id": "99999", "timestamp": 1}']) + "\n")
    with pytest.raises(DataError, match=r"picks.jsonl:4: item id '99999' is not in the catalog"):
        Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), picks_log=log)
    log.write_text('{"user_id": "bo"}\n')
    with pytest.raises(DataError, match=r"picks.jsonl:1: not a logged pick"):
        Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), picks_log=log)
    # a log that cannot be written: the batch is refused and nothing is counted
    with pytest.raises(DataError, match="cannot read the picks log"):
        Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), picks_log=tmp_path)  # a folder
    (tmp_path / "a-file").write_text("")
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), picks_log=tmp_path / "a-file" / "picks.jsonl")
    with pytest.raises(DataError, match="cannot write the picks log"):
        rec.add_interactions([{"user_id": "ann", "item_id": 1}])
    assert not rec.dataset.interactions.has_user("ann")
    with pytest.raises(OptionError, match="generator or picks_log"):
        Recommender(own_copy(ml100k), generator=rec.generator, picks_log=log)
