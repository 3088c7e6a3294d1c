"""The shortlist studies, each run once at toy size so the scripts keep working; the numbers
are not checked here (benchmarks measure, tests do not time)."""

import json

import pytest

from zsrec.candidates import CandidateConfig
from zsrec.length_weights import by_length_text
from benchmark_runs import BENCH
from benchmark_runs import run_benchmark as _run

pytestmark = pytest.mark.model


def test_cooccurrence_variants_benchmark(tmp_path):
    _run(["cooccurrence_variants.py", "--folds", "2"], tmp_path)
    out = json.loads((tmp_path / "cooccurrence_variants.json").read_text())
    rows = {r["variant"]: r for r in out["rows"]}
    assert len(rows) == 24 and all(0 < r["recall20"]["5"] < 1 for r in rows.values())
    fused = out["shortlist_fused"]
    assert (fused[0]["signal"], fused[0]["share"]) == ("the shortlist without the session signal", 0.0)
    signals = {f["signal"] for f in fused[1:]}
    assert len(signals) == 7 and any(s.startswith("EASE") for s in signals)
    assert all(sorted(f["share"] for f in fused if f["signal"] == s) == [0.2, 0.35, 0.5, 1.0] for s in signals)
    assert fused[0]["p_vs_shipped"]["5"] is None and all(0 <= f["p_vs_shipped"]["5"] <= 1 for f in fused[1:])
    assert all(0 < f["recall20"]["5"] < 1 for f in fused)
    by_index = out["default_shortlist_by_index"]
    assert [r["index"] for r in by_index] == ["the shortlist without the session signal", "pairs picked within 60 s counted twice"]
    # the default shortlist on the shipped index is the same list as the fusion table's w = 0 row
    assert by_index[0]["recall20"]["5"] == pytest.approx(fused[0]["recall20"]["5"])
    assert by_index[0]["p_vs_shipped"]["5"] is None and 0 <= by_index[1]["p_vs_shipped"]["5"] <= 1
    # the dense reimplementation of the shipped signal agrees with the product's own index (up to how
    # ties among equal neighbour scores are broken: a case or two)
    shipped = rows["cosine, 100 neighbours (shipped)"]["recall20"]
    assert all(abs(shipped[n] - out["product_index_recall20"][n]) < 0.01 for n in shipped)
    # a one-pick history has one row: every way of combining rows keeps its order (ties aside)
    combined = [r for name, r in rows.items() if "history rows combined by" in name]
    assert len(combined) == 4
    assert all(abs(r["recall20"]["1"] - shipped["1"]) < 0.01 for r in combined)
    assert "| cosine, 100 neighbours (shipped) |" in (tmp_path / "cooccurrence_variants.md").read_text()


def test_session_signal_benchmark(tmp_path):
    _run(["session_signal.py", "--folds", "2", "--shares", "0.2", "--seconds", "60", "--decays", "0.5,0.8"], tmp_path)
    out = json.loads((tmp_path / "session_signal.json").read_text())
    assert out["validation_off"]["session_share"] == 0.0
    assert [(r["session_share"], r["session_decay"]) for r in out["validation"]] == [(0.2, 0.5), (0.2, 0.8)]
    assert out["chosen"]["session_share"] == 0.2 and out["criterion_lengths"] == [3, 5, 10]
    assert out["chosen"]["kept"] == (out["chosen"]["p_pooled"] < 0.05)
    test = out["test"]
    # the default row is the evaluation's own generator on the test users (quality-cooc.md)
    assert test["default"]["recall20"]["5"] == pytest.approx(0.41) and test["default"]["recall20"]["1"] == pytest.approx(0.625)
    # one-pick histories are left alone: the same figure with the signal on
    assert test["chosen"]["recall20"]["1"] == test["default"]["recall20"]["1"]
    assert all(0 <= test["chosen"]["p_vs_default"][n] <= 1 for n in ("3", "5", "10"))
    cost = out["cost_ml100k"]
    assert cost["off"]["session_pairs_kept"] == 0 < cost["on"]["session_pairs_kept"]
    assert cost["on"]["build_s"] > 0 and cost["on"]["shortlist_p50_ms"] > 0
    assert "## Test users (once)" in (tmp_path / "session_signal.md").read_text()


def test_similar_sittings_benchmark(tmp_path):
    _run(["similar_sittings.py", "--folds", "2", "--shares", "0.5", "--neighbours", "50,200"], tmp_path)
    out = json.loads((tmp_path / "similar_sittings.json").read_text())
    assert out["validation_off"]["sittings_share"] == 0.0
    # chosen on top of the shipped session signal
    assert out["validation_off"]["session_share"] == CandidateConfig().session_share > 0
    assert [(r["sittings_share"], r["sittings_neighbours"]) for r in out["validation"]] == [(0.5, 50), (0.5, 200)]
    assert out["chosen"]["kept"] == (out["chosen"]["p_pooled"] < 0.05) and out["criterion_lengths"] == [3, 5, 10]
    test = out["test"]
    # the row without them is the shortlist before them (session_signal.md's chosen row)
    assert test["without"]["recall20"]["5"] == pytest.approx(0.44) and test["without"]["recall20"]["1"] == pytest.approx(0.625)
    assert test["chosen"]["recall20"]["1"] == test["without"]["recall20"]["1"]
    assert all(0 <= test["chosen"]["p_vs_default"][n] <= 1 for n in ("3", "5", "10"))
    cost = out["cost_ml100k"]
    assert cost["off"]["sittings"] == 0 < cost["on"]["sittings"] and cost["on"]["shortlist_p50_ms"] > 0
    assert "## Test users (once)" in (tmp_path / "similar_sittings.md").read_text()


def test_sittings_variants_benchmark(tmp_path):
    _run(["sittings_variants.py", "--folds", "2", "--quick"], tmp_path)
    out = json.loads((tmp_path / "sittings_variants.json").read_text())
    # the variants' own scoring code gives the shipped lists with the shipped settings (checked in the run)
    assert out["rescored_equals_shipped"] is True
    shipped = out["scorings"][0]["name"]
    assert len(out["validation"]) == len(out["scorings"]) == 4 and out["best"] != shipped
    assert {"before", "next_sitting", "idf"} <= {k for s in out["scorings"][1:] for k, v in s.items()
                                                 if v != out["scorings"][0][k] and k != "name"}  # each code path
    val = out["validation"]
    # one-pick histories never use similar sittings: every scoring gives the same n = 1
    assert len({v["recall20"]["1"] for v in val.values()}) == 1
    assert all(0 <= v["p_pooled"] <= 1 for name, v in val.items() if name != shipped)
    assert out["best_beats_shipped"] == (val[out["best"]]["criterion"] > val[shipped]["criterion"]
                                         and val[out["best"]]["p_pooled"] < 0.05)
    # the shipped row on the test users is the evaluation's generator (benchmarks/results/quality-cooc.md)
    assert out["test"][shipped]["recall20"]["5"] == pytest.approx(0.47)
    assert "## Test users (once)" in (tmp_path / "sittings_variants.md").read_text()


def test_shortlist_ceiling_benchmark(tmp_path):
    _run(["shortlist_ceiling.py", "--quick"], tmp_path)
    out = json.loads((tmp_path / "shortlist_ceiling.json").read_text())
    # the run checked the recomposed shipped score and shortlists against the generator's own
    assert out["shipped_checked"] is True and out["length"] == 5
    assert out["test_cases"] == 200 and out["validation_cases"] == 743
    rows = out["rows"]
    assert out["settings"] == len(rows) == 32  # the quick grid, the shipped setting among them
    # the shipped row on the test users is the evaluation's generator (benchmarks/results/quality-cooc.md)
    assert out["shipped"]["test"] == pytest.approx(0.47) and out["shipped"]["validation"] == pytest.approx(0.505, abs=0.001)
    assert out["best_on_test"]["test"] == max(r["test"] for r in rows)
    assert out["chosen_on_validation"]["validation"] == max(r["validation"] for r in rows)
    assert out["settings_reaching_target_on_test"] == sum(r["test"] >= 0.5 for r in rows)
    best_val = sorted(rows, key=lambda r: -r["validation"])[:out["validation_best"]["settings"]]
    assert out["validation_best"]["mean_test"] == pytest.approx(sum(r["test"] for r in best_val) / len(best_val))
    # recent popularity off and the neighbour count held where similar sittings are off: nothing counted twice
    assert len({tuple(r["setting"]) for r in rows}) == len(rows)
    assert "| shipped |" in (tmp_path / "shortlist_ceiling.md").read_text()
    assert (tmp_path / "shortlist_ceiling.png").stat().st_size > 1000


def test_more_signals_benchmark(tmp_path):
    _run(["more_signals.py", "--folds", "2", "--quick"], tmp_path)
    out = json.loads((tmp_path / "more_signals.json").read_text())
    # the run checked the recomposed shipped score and its hits against the generator's own scores and lists
    assert out["shipped_checked"] is True and out["test_cases"] == 200 and out["validation_cases"] == 743
    # the shipped row on the test users is the evaluation's generator (benchmarks/results/quality-cooc.md)
    assert out["shipped"]["test"] == pytest.approx(0.47)
    probes = {p["name"]: p for p in out["probes"]}
    assert out["demographics"] is True and len(probes) == 16  # recbole's copy of ML-100K has the users file
    assert [p["kind"] for p in out["probes"]].count("check") == 1
    for p in probes.values():
        assert p["chosen"]["validation"] == max(q["validation"] for q in p["per_param"])
        assert all(0 <= q["p_validation"] <= 1 and 0 <= q["p_test"] <= 1 for q in p["per_param"])
    # the recency-decay probe at the shipped decay is the shipped shortlist, and wins a tie with it
    decay = probes["co-occurrence recency decay"]
    at_shipped = next(q for q in decay["per_param"] if q["param"] == CandidateConfig().recency_decay)
    assert at_shipped["hits_as_shipped"] and at_shipped["test"] == out["shipped"]["test"]
    assert decay["chosen"]["param"] == CandidateConfig().recency_decay or decay["chosen"]["validation"] > at_shipped["validation"]
    signals = [p for p in out["probes"] if p["kind"] == "signal"]
    assert out["signals_reaching_target_on_test"] == sum(p["chosen"]["test"] >= 0.5 for p in signals)
    assert out["best_test_any_parameter"] == max(q["test"] for p in signals for q in p["per_param"])
    # every signal together: each step chosen on validation lifts it; the look-ahead check is never stacked
    stack = out["stacked"]
    assert stack  # the quick run stacks four (liked-together, rating weight, gender-and-age popularity, MMR)
    names = [q["name"] for q in stack]
    assert len(set(names)) == len(names) and set(names) <= {p["name"] for p in signals}
    rising = [out["shipped"]["validation"]] + [q["validation"] for q in stack]
    assert all(a < b for a, b in zip(rising, rising[1:]))
    assert all(0 <= q["p_validation"] <= 1 and 0 <= q["p_test"] <= 1 for q in stack)
    assert "diversified top 20 (MMR)" not in names[:-1]  # a list order ends the stack
    text = (tmp_path / "more_signals.md").read_text()
    assert "(check, not a signal)" in text and "| 0 | the shipped shortlist |" in text


def test_cooccurrence_scale_benchmark_toy(tmp_path):
    _run(["cooccurrence_scale.py", "--toy"], tmp_path)
    rows = json.loads((tmp_path / "cooccurrence_scale.json").read_text())["rows"]
    assert [r["catalog"] for r in rows] == ["ML-100K", "synthetic 5,000"]
    for r in rows:
        assert r["build_s"] > 0 and r["neighbours_kept"] > 0 and r["added_events"] >= 10_000
        # the opt-in session signal, measured after the default (its peak memory is the default's or more)
        assert r["session_pairs_kept"] > 0 and r["session_shortlist_p50_ms"] > 0
        assert r["session_peak_rss_mb"] >= r["peak_rss_mb"]
        # similar sittings on top: the shipped default, its sittings cut, timed and added to
        assert r["sittings"] > 0 and r["sittings_mb"] > 0 and r["default_shortlist_p50_ms"] > 0
        assert r["sittings_build_s"] > 0 and r["sittings_add_s"] > 0
        # then one more pick into each index
        assert r["add_one_s"] > 0 and r["session_add_one_s"] > 0 and r["sittings_add_one_s"] > 0
    text = (tmp_path / "cooccurrence_scale.md").read_text()
    assert "| ML-100K | " in text and "one pick s |" in text


def test_load_data_benchmark_toy(tmp_path):
    """The GroupLens-layout folders it writes load whole (every rating and movie), quoted titles and all,
    and ``zsrec rank --index`` ranks from them."""
    # run from a copy of the checkout, as from a worktree of another commit: it must time the copy's code
    import shutil
    import subprocess
    import sys

    checkout = tmp_path / "checkout"
    for part in ("zsrec", "prompts", "benchmarks"):
        shutil.copytree(BENCH.parent / part, checkout / part, ignore=shutil.ignore_patterns("results", "__pycache__"))
    proc = subprocess.run([sys.executable, "load_data.py", "--toy", "--out", str(tmp_path)], cwd=checkout / "benchmarks",
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "load_data.json").read_text())["rows"]
    assert [r["ratings"] for r in rows] == [3000, 30000]
    for r in rows:
        assert r["movies_loaded"] == r["movies"] and r["users_loaded"] == r["users"]
        assert r["zsrec_from"] == str(checkout.resolve())  # the copy's code, not the one pip installed
        assert r["load_s"] > 0 and r["indexes_s"] > 0 and r["shortlist_ms"] > 0 and r["dataset_mb"] >= 0
        # the ratings read in bulk and row by row, each in its own process: the same columns
        assert r["load_rows_s"] > 0 and r["load_same"] is True and len(r["load_digest"]) == 16
    # `zsrec rank --index` as a user runs it, at the first size: the next run read what the first wrote
    assert rows[0]["rank_same"] is True and rows[0]["rank_next_read_file"] is True
    assert rows[0]["rank_first_s"] > 0 and rows[0]["rank_next_s"] > 0
    assert rows[0]["index_file_mb"] > 0 and "rank_same" not in rows[1]
    assert 0 < rows[0]["rank_next_model_load_s"] + rows[0]["rank_next_ranking_s"] < rows[0]["rank_next_s"]
    assert "| 30,000 | " in (tmp_path / "load_data.md").read_text()


def test_load_own_logs_benchmark_toy(tmp_path):
    """The same picks with ids as numbers and in text, times as dates, as CSV and JSON Lines files
    and as DataFrames: each read in bulk (and but for numbers also a row at a time), all to the same
    columns (the script stops otherwise)."""
    pytest.importorskip("pandas")
    _run(["load_own_logs.py", "--toy"], tmp_path)
    rows = json.loads((tmp_path / "load_own_logs.json").read_text())["rows"]
    assert [r["size"] for r in rows] == [3000, 30000]
    loads = ["file_numbers_bulk", "file_text_bulk", "file_text_rows", "file_dates_bulk", "file_dates_rows",
             "file_json_bulk", "file_json_rows", "frame_numbers_bulk", "frame_numbers_rows",
             "frame_text_bulk", "frame_text_rows", "frame_dates_bulk", "frame_dates_rows"]
    for r in rows:
        assert [r[k]["in_bulk"] for k in loads] == [k.endswith("bulk") for k in loads]
        assert len({r[k]["digest"] for k in loads}) == 1
        assert all(r[k]["ratings"] == r["size"] and r[k]["load_s"] > 0 and r[k]["peak_mb"] > 0 for k in loads)
        assert r["json_mb"] > r["dates_mb"] > r["text_mb"] > r["numbers_mb"] > 0
    text = (tmp_path / "load_own_logs.md").read_text()
    assert "| 30,000 | 5,196 | " in text and "| 30,000 | text | " in text and "| 30,000 | text, times as text (dates) | " in text


def test_split_spread_benchmark(tmp_path):
    _run(["split_spread.py", "--seeds", "2"], tmp_path)
    out = json.loads((tmp_path / "split_spread.json").read_text())
    assert [d["seed"] for d in out["per_seed"]] == [0, 1]
    # the reports' draw: the same figures as the seed-0 evaluation (benchmarks/results/quality-cooc.md)
    seed0 = out["per_seed"][0]["recall20"]
    assert seed0["shortlist"]["5"] == pytest.approx(0.47) and seed0["EASE"]["5"] == pytest.approx(0.42)
    assert seed0["ItemKNN"]["5"] == pytest.approx(0.39)
    # without similar sittings: as similar_sittings.md measured it; one-pick histories never use them
    assert seed0["shortlist without sittings"]["5"] == pytest.approx(0.44)
    assert seed0["shortlist without sittings"]["1"] == seed0["shortlist"]["1"]
    s = out["summary"]["shortlist"]["5"]
    assert s["seed0"] == seed0["shortlist"]["5"] and s["min"] <= s["mean"] <= s["max"] and 0 <= s["draws_at_target"] <= 2
    ties = out["target_in_same_second"]
    assert all(0 < ties[who][n] < 1 for who in ("seed0_test_users", "all_users") for n in ("1", "3", "5", "10"))
    assert "| shortlist | 5 |" in (tmp_path / "split_spread.md").read_text()
    assert (tmp_path / "split_spread.png").stat().st_size > 1000


def test_shortlist_weights_benchmark_toy(tmp_path):
    proc = _run(["shortlist_weights.py", "--toy"], tmp_path)
    # every shortlist measured as configured, none with a sitting signal dropped
    assert "session signal" not in proc.stderr and "similar sittings" not in proc.stderr
    out = json.loads((tmp_path / "shortlist_weights.json").read_text())
    assert len(out["validation"]) == 5 and len(out["signals"]) == 2
    assert out["validation_users"] == 20 and out["test_users"] == 20
    report = (tmp_path / "shortlist_weights.md").read_text()
    assert "chosen on validation" in report and "stage 2's weights alone" in report and "## Stage 3" in report
    assert out["by_length"] and out["folds"] == 1
    shipped = out["test_shipped_default"]
    assert shipped["cooccurrence_weight"] == CandidateConfig().cooccurrence_weight and shipped["by_length"]
    assert "the shipped default" in report
    assert (tmp_path / "shortlist_weights.png").is_file()


def test_learned_fusion_benchmark_toy(tmp_path):
    _run(["learned_fusion.py", "--toy", "--folds", "2"], tmp_path)
    out = json.loads((tmp_path / "learned_fusion.json").read_text())
    assert len(out["tried"]) == 1 and out["chosen"] == out["tried"][0]["setting"]
    assert out["validation_cases_per_n"] == 20 and out["test_cases_per_n"] == 20
    for part in ("validation", "test"):
        for order in ("shortlist", "reranked"):
            assert set(out[part][order]["recall20"]) == {"1", "3", "5", "10"}
            assert all(0 <= v <= 1 for v in out[part][order]["recall20"].values())
    # the shortlist's own order on the test users is the evaluation's generator: at most its top 100 holds more
    assert all(out["test"]["shortlist"]["recall20"][n] <= out["test_recall_at_100"][n] for n in ("1", "3", "5", "10"))
    assert abs(sum(out["importance_gain"].values()) - 1) < 1e-6
    assert "## Test users, measured once" in (tmp_path / "learned_fusion.md").read_text()


def test_early_picks_benchmark_toy(tmp_path):
    _run(["early_picks.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "early_picks.json").read_text())
    rows = out["rows"]
    assert [r["first_picks"] for r in rows[:3]] == [None, 10, 30] and len(rows) == 4
    assert set(rows[0]["test"]) == {"1", "3", "5", "10"} and out["folds"] == 2
    assert "| first 10 |" in (tmp_path / "early_picks.md").read_text()
    # the shipped shortlist: its one-pick entry on its own index (as counting first 10 picks everywhere
    # does at one pick); longer histories on the last-200 index with the session signal and similar
    # sittings, which the study rows leave off
    assert rows[3]["by_length"] == by_length_text(CandidateConfig().by_length) and "+first" in rows[3]["by_length"]
    assert rows[3]["test"]["1"] == rows[1]["test"]["1"]
    assert rows[3]["test"]["5"] != rows[0]["test"]["5"] or rows[3]["test"]["10"] != rows[0]["test"]["10"]
    assert "session signal and similar sittings on" in (tmp_path / "early_picks.md").read_text()


def test_title_search_benchmark_toy(tmp_path):
    """The search box's index against the old scan: the same titles for every keystroke compared."""
    _run(["title_search.py", "--toy"], tmp_path)
    (row,) = json.loads((tmp_path / "title_search.json").read_text())["rows"]
    assert row["titles"] == 2000 and row["same_titles"] == row["scanned_keystrokes"] == 20
    assert row["found_any"] == row["keystrokes"] > 0  # every prefix of a real title finds it
    assert row["suggestions"]["p50_ms"] > 0 and row["suggestions_every_title"]["p50_ms"] > 0
    assert "| 2,000 |" in (tmp_path / "title_search.md").read_text()


def test_filtered_shortlist_benchmark_toy(tmp_path):
    """Filters against the unfiltered shortlist: both ways of applying one give the same lists, and
    they are the unfiltered order with the other items left out; so are lists without hidden items."""
    _run(["filtered_shortlist.py", "--toy"], tmp_path)
    sizes = json.loads((tmp_path / "filtered_shortlist.json").read_text())["sizes"]
    assert [s["items"] for s in sizes] == [1682, 30000]
    for size in sizes:
        assert len(size["rows"]) == 8 and size["unfiltered"]["p50_ms"] > 0
        for row in size["rows"]:
            assert row["same_as_other"] == size["users"] and row["same_as_whole_order"] == row["checked"] == 10
        assert [h["items"] for h in size["hidden"]] == [size["items"] // 100, size["items"] // 10, 1000]
        for row in size["hidden"]:  # hidden items: never shown, the rest in the whole order
            assert row["none_hidden"] == size["users"] and row["same_as_whole_order"] == row["checked"] == 10
    ways = {r["way"] for s in sizes for r in s["rows"]}
    assert ways == {"item by item", "widened"}  # the 30,000-item catalog's 90% filter is widened
    text = (tmp_path / "filtered_shortlist.md").read_text()
    assert "| genre " in text and "| the 1,000 most picked |" in text


def test_add_interactions_benchmark_toy(tmp_path):
    """Adds of picks and of items timed batch by batch against a restart, and the shortlists stale,
    added and rebuilt."""
    _run(["add_interactions.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "add_interactions-toy.json").read_text())
    (cost,) = out["cost"]
    assert cost["items"] == 1682 and cost["rebuild_s"] > 0
    assert [r["batch"] for r in cost["rows"]] == [1, 10, 100, 1000, 10000]
    assert cost["interactions_after"] == cost["interactions"]  # every held-out pick added back
    assert [r["batch"] for r in cost["item_rows"]] == [1, 10, 100, 1000]
    assert cost["items_after"] == cost["items"] + cost["items_added"] == 1682 + 5 + 30 + 300 + 1000
    (part,) = out["parts"]  # one item's text index and title search, built whole and grown: equal to the bit
    assert part["items"] == 1682 and part["text_same"] and part["titles_same"] and part["titles_reordered_same"]
    assert part["text_whole_s"] > 0 and part["text_grown_s"] > 0 and part["titles_grown_s"] > 0
    q = out["quality"]
    assert q["users"] == 20 and set(q["recall_at_20"]) == {"stale", "added", "rebuilt"}
    assert 0 <= q["mean_shared_items"] <= 20
    text = (tmp_path / "add_interactions-toy.md").read_text()
    assert "| ML-100K |" in text and "| title search: whole s |" in text


def test_start_up_benchmark_toy(tmp_path):
    """A start building every index, and one from the file it wrote: the same lists from both, and
    the parts of the second timed apart."""
    _run(["start_up.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "start_up-toy.json").read_text())
    assert out["command"] == "python benchmarks/start_up.py --toy"
    (size, row), = out["results"].items()
    assert size == "ml-100k" and row["same_lists"] and row["file_mb"] > 0
    for start in (row["built"], row["from_file"]):
        assert start["start_s"] > 0 and start["first_request_s"] > 0 and start["request_p50_ms"] > 0
        # the peak started again once the data was made: above the data's, at least what the start kept
        assert start["peak_started_again"] and start["data_mb"] > 0 and start["peak_above_data_mb"] >= start["rss_mb"] - 1
        assert start["peak_rss_mb"] == pytest.approx(start["data_mb"] + start["peak_above_data_mb"])
    assert all(row["from_file"][part] > 0 for part in ("index_file_s", "title_search_s", "evidence_s", "first_user_s",
                                                        "user_lookup_s", "evidence_no_lookup_s", "first_facts_s"))
    assert "| ml-100k |" in (tmp_path / "start_up-toy.md").read_text()


def test_first_requests_benchmark_toy(tmp_path):
    """A service's first requests from the index file: made on first need and warmed up, by this code and the
    --before checkout (this one, here), all to the same items and reasons."""
    root = BENCH.parent
    _run(["first_requests.py", "--toy", "--before", str(root)], tmp_path)
    out = json.loads((tmp_path / "first_requests-toy.json").read_text())
    assert out["command"] == f"python benchmarks/first_requests.py --toy --before {root}"
    (size, rows), = out["results"].items()
    assert size == "ml-100k" and rows["same_lists"]
    ways = ("before", "before_warm", "cold", "warm")
    assert [way for way in ways if way in rows] == list(ways)
    for way in ways:
        assert len(rows[way]["request_ms"]) == 14 and min(rows[way]["request_ms"]) > 0 and rows[way]["llm_reasons"] > 0
        assert rows[way]["differing"]["items"] == 0
    for way in ("warm", "before_warm"):
        assert list(rows[way]["warm_parts"]) == ["user_lookup", "evidence", "genres", "reason_checker"]
    assert rows["cold"]["warm_parts"] == rows["before"]["warm_parts"] == {}
    assert "| ml-100k | warm |" in (tmp_path / "first_requests-toy.md").read_text()


def test_user_lookup_benchmark_toy(tmp_path):
    """The per-user lookup against the way it was made before, on the log in six orders: the same
    groups from both, every time."""
    _run(["user_lookup.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "user_lookup-toy.json").read_text())
    assert out["command"] == "python benchmarks/user_lookup.py --toy" and out["log"]["picks"] == 100_000
    assert len(out["rows"]) == 6 and all(row["same_groups"] for row in out["rows"])
    assert all(s > 0 for row in out["rows"] for way in ("this code", "before") for s in row[way]["seconds"])
    assert "| in no order |" in (tmp_path / "user_lookup-toy.md").read_text()


def test_new_items_benchmark_toy(tmp_path):
    _run(["new_items.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "new_items.json").read_text())
    q = out["quality"]
    assert q["slots"] == [0, 2] and q["queries"] == [0, 10] and q["chosen_query"] in (0, 10)
    for part in (q["validation"], q["test"]):
        none, two = part["0/0"], part[f"2/{q['chosen_query']}"]
        assert none["new_target"]["cases"] == two["new_target"]["cases"] > 0
        # a slot only adds new items (one already listed keeps its place) and only drops others
        assert two["new_target"]["mean"] >= none["new_target"]["mean"]
        assert two["others"]["mean"] <= none["others"]["mean"]
        assert 0 < part["2/random"]["new_target"]["mean"] < 1
    (row,) = out["timing"]
    assert row["new_items"] > 0 and row["slots_filled_mean"] == 2 and row["slots_p50_ms"] > 0
    assert "| 2 |" in (tmp_path / "new_items.md").read_text()


def test_load_catalog_benchmark_toy(tmp_path):
    """A short and a long catalog as CSV files and DataFrames (the long one also as JSON Lines and a
    list of dicts), read in bulk and row by row, all to the same items (the script stops otherwise)."""
    pytest.importorskip("pandas")
    _run(["load_catalog.py", "--toy"], tmp_path)
    rows = json.loads((tmp_path / "load_catalog.json").read_text())["rows"]
    assert [r["size"] for r in rows] == [2000, 20000]
    loads = [k for k in rows[0] if k.startswith(("short_", "long_"))]
    assert len(loads) == 12 and not any(k.endswith("_before") for k in loads)  # no --before given
    for r in rows:
        assert [r[k]["in_bulk"] for k in loads] == [k.endswith("_bulk") for k in loads]
        for catalog in ("short", "long"):
            assert len({(r[k]["digest"], r[k]["fingerprint"]) for k in loads if k.startswith(catalog)}) == 1
        assert all(r[k]["items"] == r["size"] and r[k]["load_s"] > 0 for k in loads)
        assert r["long.jsonl_mb"] > r["long.csv_mb"] > r["short.csv_mb"] > 0
    text = (tmp_path / "load_catalog.md").read_text()
    assert "| 20,000 | long | DataFrame | " in text and "before: not measured" in text


def test_bad_model_benchmark_toy(tmp_path):
    """A model path with a typo: zsrec rank and zsrec serve both exit 2 with the path's error, and the
    Python API raises it while the Recommender is made, as the benchmark records them."""
    _run(["bad_model.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "bad_model-toy.json").read_text())
    assert out["command"] == "python benchmarks/bad_model.py --toy"
    assert [(r["catalog"], r["command"], r["code"]) for r in out["rows"]] == [
        ("ml-100k", "rank", "this"), ("ml-100k", "serve", "this"), ("ml-100k", "python", "this")]
    for row in out["rows"]:
        assert "GGUF file not found" in row["said"]
    assert [r["exit"] for r in out["rows"]] == [2, 2, 0]  # (the Python run catches its ModelLoadError)
    assert out["rows"][1]["ready_s"] is None and out["rows"][1]["exited_after_s"] > 0
    api = out["rows"][2]
    assert api["step"] == "making the Recommender" and 0 < api["raised_s"] < api["seconds"]
    text = (tmp_path / "bad_model-toy.md").read_text()
    assert "| ML-100K | `zsrec serve` | this |" in text
    assert f"| ML-100K | Python API | this | at making the Recommender, raised {api['raised_s']} s into the script: " \
           "GGUF file not found" in text


def test_index_command_benchmark_toy(tmp_path):
    """zsrec index builds the file, finds it current the second time, and zsrec serve starts with and
    without it, as the benchmark records them."""
    _run(["index_command.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "index_command-toy.json").read_text())
    assert out["command"] == "python benchmarks/index_command.py --toy"
    (row,) = out["rows"]
    assert row["catalog"] == "ml-100k" and row["build"]["written"] and not row["build"]["current"]
    assert row["again"]["current"] and not row["again"]["written"] and row["again"]["file_mb"] == row["build"]["file_mb"]
    assert row["build"]["items"] == 1682 and row["build"]["picks"] == 100_000 and row["build"]["peak_mb"] > 0
    assert [len(s) for s in row["serve_ready_s"].values()] == [1, 1] and all(s[0] > 0 for s in row["serve_ready_s"].values())
    assert "| ML-100K | " in (tmp_path / "index_command-toy.md").read_text()
    # --check on the current file (exit 0) and on flags it no longer fits (exit 1, nothing written), and the
    # write those flags then make: the parts the check named
    assert row["check"]["exit"] == 0 and row["check"]["current"] and row["check"]["stale"] == []
    assert row["check_stale"]["exit"] == 1 and len(row["check_stale"]["stale"]) == 4
    assert row["stale"]["rebuilt"] == row["check_stale"]["stale"] and row["stale"]["written"]


def test_index_build_benchmark_toy(tmp_path):
    """The text index and the two co-occurrence indexes built by this code and by a --before checkout (this
    one, here), each in a process of its own: the same index, and time and memory for each."""
    root = BENCH.parent
    for index, name in (("text", "text_index_build"), ("cooccurrence", "cooccurrence_build"), ("sitting", "sitting_build")):
        _run(["index_build.py", "--index", index, "--toy", "--before", str(root)], tmp_path)
        out = json.loads((tmp_path / f"{name}-toy.json").read_text())
        flag = "" if index == "text" else f" --index {index}"
        assert out["command"] == f"python benchmarks/index_build.py{flag} --toy --before {root}"
        (row,) = out["rows"]
        assert row["items"] == 2000 and row["same_index"] and set(row["runs"]) == {"this code", "before"}
        for (run,) in row["runs"].values():
            assert run["seconds"] >= 0 and run["peak_above_data_mb"] >= 0 and run["postings"] > 2000
            assert (run["words"] is None) == (index != "text")
        assert "| 2,000 | " in (tmp_path / f"{name}-toy.md").read_text()
