"""``zsrec index FILE``: the shortlist's indexes, title search and user lookup built ahead of time (no model,
no user), read by ``zsrec rank`` / ``zsrec serve --index FILE`` with the same data and shortlist flags;
a file that holds them already is read and left as it is, and one whose parts do not fit says which."""

import json
import os
import warnings

from typer.testing import CliRunner

from zsrec.cli import app

runner = CliRunner()


def _run(args):
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_built_then_read_as_it_is_and_rank_reads_it(ml100k, tmp_path):
    path = tmp_path / "deploy" / "ml100k.npz"  # its folder is made
    code, out, err = _run(["index", str(path)])
    assert code == 0, err
    assert out.startswith(f"{path} built in ") and "written (" in out
    assert ("text index, co-occurrence, co-occurrence of first 10 picks, sitting co-occurrence, similar sittings, "
            "title search, user lookup (1,682 items, 100,000 picks;") in out
    os.utime(path, (1, 1))  # anything written again would move it
    code, out, err = _run(["index", str(path), "--format", "json"])
    assert code == 0, err
    report = json.loads(out)
    assert report["current"] and report["read"] and not report["written"] and report["rebuilt"] == []
    assert report["items"] == 1682 and report["picks"] == 100_000 and report["users"] == 943
    assert report["bytes"] == path.stat().st_size and "user lookup" in report["holds"]
    # zsrec rank with the same data and shortlist flags reads it and writes nothing, and ranks as without it
    args = ["rank", "--user", "7", "--fusion-weight", "0", "--reasons", "evidence", "--k", "5", "--format", "json"]
    code, with_file, err = _run([*args, "--index", str(path)])
    assert code == 0, err
    assert path.stat().st_mtime == 1
    assert json.loads(with_file)["index"] == {"path": str(path), "read": True, "rebuilt": [], "written": False,
                                              "current": True}  # what the start did to the file
    code, without, err = _run(args)
    assert "index" not in json.loads(without)
    assert [it["item_id"] for it in json.loads(with_file)["items"]] == [it["item_id"] for it in json.loads(without)["items"]]


def test_parts_that_do_not_fit_are_made_again_and_said(ml100k, tmp_path):
    path = tmp_path / "ml100k.npz"
    assert _run(["index", str(path)])[0] == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = _run(["index", str(path), "--cooccurrence-window", "3"])
    assert code == 0, err
    assert out.startswith(f"{path} written again in ")
    assert ("made again: co-occurrence (other settings); co-occurrence of first 10 picks (made again with the "
            "co-occurrence); sitting co-occurrence (made again with the co-occurrence); similar sittings (made "
            "again with the co-occurrence)") in out
    assert not [w for w in caught if "index file" in str(w.message)]  # the line above says it, once
    code, out, _ = _run(["index", str(path), "--cooccurrence-window", "3"])
    assert code == 0 and " is current for these data and settings: read in " in out
    # a setting only the ranking reads (how many similar sittings vote) needs nothing made again
    code, out, _ = _run(["index", str(path), "--cooccurrence-window", "3", "--sittings-neighbours", "7"])
    assert code == 0 and " is current " in out
    # the sittings off: the file holds more than needed, and nothing is made again
    code, out, _ = _run(["index", str(path), "--cooccurrence-window", "3", "--sittings-share", "0"])
    assert code == 0 and " is current " in out


def test_bad_places_and_files_are_one_line_errors(tmp_path):
    missing = ["--items", str(tmp_path / "items.csv"), "--interactions", str(tmp_path / "picks.csv")]
    code, _, err = _run(["index", str(tmp_path), *missing])  # a folder: said before the data is read
    assert code == 2 and "is a folder; zsrec index FILE names the file to write" in err and "items.csv" not in err
    code, _, err = _run(["index", str(tmp_path / "f.npz"), "--picks-log", str(tmp_path / "none.jsonl"), *missing])
    assert code == 2 and "--picks-log: no file at" in err
    code, _, err = _run(["index", str(tmp_path / "f.npz"), *missing])
    assert code == 2 and "items.csv" in err and not (tmp_path / "f.npz").exists()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an index")
    code, _, err = _run(["index", str(broken)])
    assert code == 2 and "broken.npz: cannot read index: not a .npz file" in err and "delete the file" in err
    assert broken.read_bytes() == b"not an index"  # a file it cannot read is not overwritten


def test_new_picks_since_the_file_are_counted_again_and_said_once(tmp_path):
    items, events, path = tmp_path / "items.csv", tmp_path / "events.csv", tmp_path / "shop.npz"
    items.write_text("item_id,title,genres\n" + "".join(f"i{k},Product {k},Kind {k % 3}\n" for k in range(30)))
    rows = [f"u{u},i{(u * 7 + j) % 30},{1000 + j}\n" for u in range(20) for j in range(5)]
    events.write_text("user_id,item_id,timestamp\n" + "".join(rows))
    files = ["--items", str(items), "--interactions", str(events)]
    assert _run(["index", str(path), *files])[0] == 0
    with events.open("a") as f:
        f.write("u99,i1,2000\nu99,i2,2001\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = _run(["index", str(path), *files])
    assert code == 0, err
    assert "co-occurrence (counted from other interactions)" in out and "user lookup (other picks" in out
    assert "(30 items, 102 picks;" in out
    assert not [w for w in caught if "index file" in str(w.message)]  # said in the line, not again as a warning
    # zsrec rank on a file that no longer fits says the same in one line on stderr, once
    with events.open("a") as f:
        f.write("u99,i3,2002\n")
    rank = ["rank", *files, "--user", "u99", "--index", str(path), "--fusion-weight", "0", "--reasons", "evidence"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = _run(rank)
    assert code == 0, err
    assert f"index: {path} written again; made again: co-occurrence (counted from other interactions)" in err
    assert not [w for w in caught if "index file" in str(w.message)]
    code, out, err = _run([*rank, "--format", "json"])
    assert code == 0 and "index:" not in err and json.loads(out)["index"]["current"]


def test_check_says_whether_the_file_is_current_and_builds_and_writes_nothing(ml100k, tmp_path):
    path = tmp_path / "ml100k.npz"
    bad_data = ["--items", str(tmp_path / "items.csv"), "--interactions", str(tmp_path / "picks.csv")]
    code, out, err = _run(["index", str(path), "--check", *bad_data])  # no file: the data is not read
    assert code == 1 and out.strip() == f"no file at {path}: zsrec index {path} builds it", err
    assert not path.exists()
    assert _run(["index", str(path)])[0] == 0
    os.utime(path, (1, 1))
    code, out, err = _run(["index", str(path), "--check"])
    assert code == 0, err
    assert out.startswith(f"{path} is current for these data and settings: a start reads it and writes nothing (checked in ")
    code, out, err = _run(["index", str(path), "--check", "--session-seconds", "300"])
    assert code == 1, err
    assert (f"{path} is not current: a start would make again sitting co-occurrence (other settings); similar sittings "
            f"(other settings); zsrec index {path} writes it again (checked in ") in out and "nothing built or written" in out
    code, out, err = _run(["index", str(path), "--check", "--session-seconds", "300", "--format", "json"])
    answer = json.loads(out)
    assert code == 1 and answer["exists"] and not answer["current"] and len(answer["stale"]) == 2
    assert answer["items"] == 1682 and answer["picks"] == 100_000 and answer["check_seconds"] >= 0
    assert path.stat().st_mtime == 1  # nothing was written by any check
    # the start the check foretold makes exactly that again
    code, out, _ = _run(["index", str(path), "--session-seconds", "300"])
    assert code == 0 and "made again: sitting co-occurrence (other settings); similar sittings (other settings)" in out
    assert _run(["index", str(path), "--check", "--session-seconds", "300"])[0] == 0
    code, _, err = _run(["index", str(tmp_path), "--check"])
    assert code == 2 and "is a folder; zsrec index --check FILE names the file to check" in err
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an index")
    code, _, err = _run(["index", str(broken), "--check"])
    assert code == 2 and "cannot read index: not a .npz file" in err and broken.read_bytes() == b"not an index"
