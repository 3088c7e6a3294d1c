"""The session signal: pairs a user picked within some seconds of each other (one sitting), counted
from timestamps against a brute-force count, added without a rebuild, blended into the shortlist's
co-occurrence part for histories of two or more picks, saved with the index, on by default, and off
(with a warning saying why) where there are no timestamps to count sittings from."""

import itertools

import numpy as np
import pytest

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex
from zsrec.errors import OptionError
from zsrec.evaluation.protocol import EvalConfig
from zsrec.evaluation.session_tuning import tune_session


def _picks(ml100k, n_users=120):
    users = sorted(ml100k.interactions.user_ids, key=int)[:n_users]
    inter = ml100k.interactions
    return [inter.user_history(u).tolist() for u in users], [inter.user_times(u).tolist() for u in users]


def _brute(seqs, times, seconds, max_history=200):
    counts = {}
    for seq, ts in zip(seqs, times):
        seq, ts = seq[-max_history:], ts[-max_history:]
        for a, b in itertools.combinations(range(len(seq)), 2):
            if ts[b] - ts[a] <= seconds and seq[a] != seq[b]:
                for p in ((seq[a], seq[b]), (seq[b], seq[a])):
                    counts[p] = counts.get(p, 0) + 1
    return counts


def _as_dict(index):
    c = index.counts.tocoo()
    return {(int(r), int(k)): v for r, k, v in zip(c.row, c.col, c.data)}


@pytest.mark.parametrize("seconds", [0.5, 60, 3600])
def test_pairs_within_seconds_match_a_brute_force_count(ml100k, seconds):
    seqs, times = _picks(ml100k, 60)
    cfg = CoOccurrenceConfig(seconds=seconds, neighbours=5000, max_history=80)
    index = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), cfg, times)
    assert _as_dict(index) == _brute(seqs, times, seconds, max_history=80)
    assert index.counts.nnz > 0  # ML-100K users rate in bursts: there are pairs even within a second


def test_adding_timed_picks_equals_a_rebuild(ml100k):
    seqs, times = _picks(ml100k, 60)
    cfg = CoOccurrenceConfig(seconds=60, neighbours=5000, max_history=5000)  # nothing pruned or cut
    whole = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), cfg, times)
    half = [len(s) // 2 for s in seqs]
    grown = CoOccurrenceIndex.build([s[:h] for s, h in zip(seqs, half)], len(ml100k.catalog), cfg,
                                    [t[:h] for t, h in zip(times, half)])
    grown.add([s[h:] for s, h in zip(seqs, half)], [s[:h] for s, h in zip(seqs, half)],
              times=[t[h:] for t, h in zip(times, half)], tail_times=[t[:h] for t, h in zip(times, half)])
    assert _as_dict(grown) == _as_dict(whole)
    assert np.array_equal(grown.item_counts, whole.item_counts)
    with pytest.raises(OptionError, match="needs the new picks' times"):
        grown.add([[1, 2]], [[3]])
    with pytest.raises(OptionError, match="one timestamp per pick"):
        grown.add([[1, 2]], [[3]], times=[[1.0]], tail_times=[[0.0]])


def test_counting_by_seconds_needs_timestamps(ml100k):
    seqs, times = _picks(ml100k, 5)
    with pytest.raises(OptionError, match="needs each pick's timestamp"):
        CoOccurrenceIndex.build(seqs, len(ml100k.catalog), CoOccurrenceConfig(seconds=60))
    with pytest.raises(OptionError, match="one timestamp per pick"):
        CoOccurrenceIndex.build(seqs, len(ml100k.catalog), CoOccurrenceConfig(seconds=60), [t[:-1] for t in times])
    with pytest.raises(OptionError, match="seconds > 0"):
        CoOccurrenceConfig(seconds=0)
    for bad in ({"session_share": 1.5}, {"session_share": -0.1}, {"session_seconds": 0}, {"session_decay": 0}):
        with pytest.raises(OptionError):
            CandidateConfig(**bad)


def test_the_shortlist_blends_it_into_co_occurrence_for_two_or_more_picks(ml100k):
    # similar sittings (tests/shortlist/test_similar_sittings.py) off, to see this signal alone
    on = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(session_share=0.3, sittings_share=0.0))
    off = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(session_share=0.0, sittings_share=0.0))
    assert off.session is None and on.session is not None and on.session.config.seconds == 60
    history = [int(i) for i in ml100k.interactions.user_history("1")[:5]]
    # (1 - share) x co-occurrence + share x session, each scaled to a top of 1
    co = off.cooccurrence_scores(history)
    session = on.session.dense_scores(history, recency_decay=0.5)
    assert np.allclose(on.cooccurrence_scores(history), 0.7 * co + 0.3 * session / session.max())
    assert not np.allclose(on.cooccurrence_scores(history), co)
    # the shortlist follows the blended part, on the sparse path and the reference (dense) one alike
    fused = on.fused_scores(history)
    fused[history] = -np.inf
    expected = np.lexsort((np.arange(len(fused)), -fused))[:20]
    assert on.generate(history).indices.tolist() == expected.tolist()
    assert on.generate(history).indices.tolist() != off.generate(history).indices.tolist()
    # one pick: co-occurrence alone (the blend lost there on validation users)
    one = history[-1:]
    assert on.generate(one).indices.tolist() == off.generate(one).indices.tolist()


def test_the_session_index_needs_timestamps_and_is_saved_with_the_index(ml100k, tmp_path):
    seqs, times = _picks(ml100k, 200)
    config = CandidateConfig(session_share=0.2, sittings_share=0.0)
    with pytest.warns(UserWarning, match="session signal .* is off .* without sequence_times"):
        untimed = CandidateGenerator(ml100k.catalog, config=config, sequences=seqs)
    assert untimed.session is None and "sequence_times" in untimed.session_off
    off = CandidateGenerator(ml100k.catalog, config=CandidateConfig(session_share=0.0, sittings_share=0.0), sequences=seqs)
    assert untimed.generate(seqs[0][:4]).indices.tolist() == off.generate(seqs[0][:4]).indices.tolist()
    gen = CandidateGenerator(ml100k.catalog, config=config, sequences=seqs, sequence_times=times)
    history = seqs[0][:4]
    path = tmp_path / "index.npz"
    gen.save_index(path)
    loaded = CandidateGenerator.with_saved_index(path, ml100k.catalog, config=config,
                                                 popularity=gen.popularity_counts)
    assert loaded.session is not None and not loaded.index_file_stale
    assert loaded.generate(history).indices.tolist() == gen.generate(history).indices.tolist()
    # another sitting length: that part is counted afresh from the interactions, and worth saving again
    other = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions,
                                                CandidateConfig(session_share=0.2, session_seconds=300))
    assert other.session.config.seconds == 300 and other.index_file_stale


def test_the_tuner_chooses_it_on_validation_users_and_keeps_it_only_beyond_noise(ml100k):
    config = EvalConfig(history_lens=(1, 3, 5))
    tuning = tune_session(ml100k, config, shares=(0.2, 0.9), seconds=(60,), decays=(0.5,), folds=2)
    assert [t.session_share for t in tuning.trials] == [0.2, 0.9] and tuning.lengths == (3, 5)
    assert tuning.best == max(tuning.trials, key=lambda t: t.criterion)
    assert tuning.off.p_pooled is None and all(0 <= t.p_pooled <= 1 for t in tuning.trials)
    # one-pick histories are left alone: the same figures with any share
    assert all(t.recall[1] == tuning.off.recall[1] for t in tuning.trials)
    base = CandidateConfig()
    chosen = tuning.config(base)
    assert chosen.session_share == (tuning.best.session_share if tuning.kept else 0.0)
    assert tuning.kept == (tuning.best.criterion > tuning.off.criterion and tuning.best.p_pooled < 0.05)
    with pytest.raises(OptionError, match="above 0"):
        tune_session(ml100k, config, shares=(0.0,), folds=2)
    with pytest.raises(OptionError, match="two or more picks"):
        tune_session(ml100k, EvalConfig(history_lens=(1,)), shares=(0.2,), seconds=(60,), decays=(0.5,), folds=2)


def test_it_is_on_by_default_and_off_where_the_data_has_no_timestamps(ml100k, tmp_path):
    from zsrec.defaults import SHORTLIST_SESSION_SHARE
    from zsrec.loaders import load_table

    assert CandidateConfig().session_share == SHORTLIST_SESSION_SHARE > 0 and CandidateConfig().uses_session
    default = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    assert default.session is not None and default.session_off is None
    # rows without timestamps keep file order: an order, not a clock, so there are no sittings to count
    (tmp_path / "items.csv").write_text("item_id,title\n" + "".join(f"i{k},Item {k}\n" for k in range(6)))
    (tmp_path / "events.csv").write_text("user_id,item_id\n" + "".join(
        f"u{u},i{(u + k) % 6}\n" for u in range(8) for k in range(4)))
    data = load_table(tmp_path / "items.csv", tmp_path / "events.csv")
    assert not data.interactions.timed and data.interactions.times_for(["u1"]) is None
    with pytest.warns(UserWarning, match="have no timestamps"):
        gen = CandidateGenerator(data.catalog, data.interactions)
    assert gen.session is None and gen.cooccurrence is not None and "no timestamps" in gen.session_off
    assert len(gen.generate([0, 1]).indices) > 0
    with pytest.raises(OptionError, match="no timestamps"):
        tune_session(data, EvalConfig(history_lens=(2,), n_test_users=2, n_validation_users=2), folds=2)
    # one timestamped row is not enough: the others have none
    (tmp_path / "mixed.csv").write_text("user_id,item_id,timestamp\nu1,i1,5\nu1,i2,\nu2,i3,\n")
    assert not load_table(tmp_path / "items.csv", tmp_path / "mixed.csv").interactions.timed
