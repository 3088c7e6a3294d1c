"""POST /v1/interactions on a real `zsrec serve` over 127.0.0.1: new picks are counted in while it
runs (a new user becomes known, popularity in reasons moves), a bad batch is refused whole, and a
service started with --no-accept-interactions refuses them."""

from __future__ import annotations

import json
import urllib.request

import pytest

from zsrec.serving.launch import ServeProcess, post_json

pytestmark = pytest.mark.model
KEY = "picks-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _metric(url: str, series: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
    return 0.0


def _popularity_text(url: str, item: int) -> str:
    status, body, _ = post_json(url + "/v1/recommend", {"history": [], "allow_empty": True, "only": [item], "k": 1}, AUTH)
    assert status == 200, body
    return body["items"][0]["reason"]


def test_new_picks_are_counted_in_while_the_service_runs(tmp_path):
    with ServeProcess(["--mode", "score", "--reasons", "evidence", "--api-key", KEY], tmp_path / "log") as server:
        url = server.url
        status, body, _ = post_json(url + "/v1/recommend", {"user": "zz-new"}, AUTH)
        assert status == 422 and "unknown user id 'zz-new'" in body["detail"]
        assert "(1 pick)" in _popularity_text(url, 1682)  # Scream of Stone: one pick in ML-100K

        picks = [{"user_id": "zz-new", "item_id": "Fargo (1996)", "timestamp": "2026-12-05T10:00:00Z"},
                 {"user_id": "zz-new", "item_id": 50, "timestamp": 1796464860},  # a JSON number: Star Wars' id
                 {"user_id": "zz-new", "item_id": "toy story (1995)", "timestamp": "2026-12-05T10:02:00+00:00"},
                 {"user_id": "zz-other", "item_id": 1682, "rating": 4},
                 {"user_id": 7, "item_id": 1682}]  # a known user, by a number
        assert post_json(url + "/v1/interactions", {"interactions": picks})[0] == 401
        status, added, _ = post_json(url + "/v1/interactions", {"interactions": picks}, AUTH)
        assert status == 200, added
        assert (added["added"], added["users"], added["new_users"], added["interactions"]) == (5, 3, 2, 100_005)

        status, known, _ = post_json(url + "/v1/recommend", {"user": "zz-new", "k": 5}, AUTH)
        assert status == 200, known
        assert [h["title"] for h in known["history"]] == ["Fargo (1996)", "Star Wars (1977)", "Toy Story (1995)"]
        assert not {"100", "50", "1"} & {it["item_id"] for it in known["items"]}
        assert "(3 picks)" in _popularity_text(url, 1682)  # the reasons count the new picks

        # a bad record refuses the whole batch: nothing of it is counted
        bad = [{"user_id": "zz-late", "item_id": "Fargo (1996)"}, {"user_id": "zz-late", "item_id": "Fargoo Plonk"}]
        status, refused, _ = post_json(url + "/v1/interactions", {"interactions": bad}, AUTH)
        assert status == 422 and "Fargoo Plonk" in refused["detail"]
        older = [{"user_id": "zz-new", "item_id": 181, "timestamp": "2020-01-01"}]
        status, refused, _ = post_json(url + "/v1/interactions", {"interactions": older}, AUTH)
        assert status == 422 and "older than their latest one" in refused["detail"]
        for body in ({"interactions": []}, {"interactions": [{"user_id": "a"}]},
                     {"interactions": [{"user_id": "a", "item_id": 1, "colour": "red"}]}, {"picks": []}):
            assert post_json(url + "/v1/interactions", body, AUTH)[0] == 422, body
        status, again, _ = post_json(url + "/v1/interactions", {"interactions": [bad[0]]}, AUTH)
        assert status == 200 and again["interactions"] == 100_006
        assert _metric(url, "zsrec_interactions_added_total") == 6
        assert _metric(url, 'zsrec_requests_total{route="/v1/interactions",code="422"}') >= 6

        # new items: named, searched, filtered to and picked from the next request on
        new = [{"item_id": "zz-film", "title": "Galactic Rebels (2026)", "genres": ["Sci-Fi", "Space Opera"],
                "plot": "rebels fight an empire"}, {"item_id": 9001, "title": "Quiet Harbour (2026)"}]
        assert post_json(url + "/v1/items", {"items": new})[0] == 401
        status, added, _ = post_json(url + "/v1/items", {"items": new}, AUTH)
        assert status == 200 and (added["added"], added["items"]) == (2, 1684), added
        with urllib.request.urlopen(urllib.request.Request(url + "/v1/items?q=galactic%20reb", headers=AUTH)) as r:
            assert [it["item_id"] for it in json.loads(r.read())["items"]] == ["zz-film"]
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["Star Wars (1977)"], "only_genres": ["space opera"],
                                                            "k": 1}, AUTH)
        assert status == 200 and body["items"][0]["item_id"] == "zz-film", body
        assert "not picked by anyone yet (of 1684)" in body["items"][0]["reason"]
        status, body, _ = post_json(url + "/v1/interactions", {"interactions": [{"user_id": "zz-new", "item_id": "9001"}]}, AUTH)
        assert status == 200, body
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["galactic rebels"], "k": 3}, AUTH)
        assert status == 200 and body["history"][0]["item_id"] == "zz-film"
        status, refused, _ = post_json(url + "/v1/items", {"items": [{"item_id": "zz-film"}]}, AUTH)
        assert status == 422 and "already in the catalog" in refused["detail"]
        for body in ({"items": []}, {"items": [{"title": "no id"}]}, {"things": []}):
            assert post_json(url + "/v1/items", body, AUTH)[0] == 422, body
        assert _metric(url, "zsrec_items_added_total") == 2

        # items hidden: recommended to no one, still named in a history; then shown again
        status, hid, _ = post_json(url + "/v1/items/hide", {"items": ["zz-film", 181]}, AUTH)
        assert status == 200 and hid == {"changed": 2, "hidden": 2}, hid
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["Star Wars (1977)"], "k": 10}, AUTH)
        assert status == 200 and "181" not in [it["item_id"] for it in body["items"]], body
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["Return of the Jedi (1983)"], "k": 3}, AUTH)
        assert status == 200 and body["history"][0]["item_id"] == "181"
        with urllib.request.urlopen(urllib.request.Request(url + "/v1/items/hidden", headers=AUTH)) as r:
            assert json.loads(r.read()) == {"items": ["zz-film", "181"]}
        assert _metric(url, "zsrec_items_hidden") == 2
        status, refused, _ = post_json(url + "/v1/items/hide", {"items": ["181", "Star Warz"]}, AUTH)
        assert status == 422 and "Star Warz" in refused["detail"]
        assert post_json(url + "/v1/items/show", {"items": [181]}, AUTH)[1] == {"changed": 1, "hidden": 1}
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["Star Wars (1977)"], "k": 10}, AUTH)
        assert "181" in [it["item_id"] for it in body["items"]]
        assert post_json(url + "/v1/items/hide", {"items": []}, AUTH)[0] == 422

        status, spec = 200, json.loads(urllib.request.urlopen(url + "/openapi.json", timeout=30).read())
        assert "/v1/interactions" in spec["paths"] and "post" in spec["paths"]["/v1/items"]


def test_a_service_can_refuse_new_picks(tmp_path):
    # one candidate needs no model: the service is ready at once
    with ServeProcess(["--n-candidates", "1", "--k", "1", "--no-accept-interactions", "--no-warm"],
                      tmp_path / "log") as server:
        assert "zsrec serving" in server.tail() and "made ahead" not in server.tail()  # --no-warm: on first need
        status, body, _ = post_json(server.url + "/v1/interactions",
                                    {"interactions": [{"user_id": "a", "item_id": 1}]})
        assert status == 403 and "--no-accept-interactions" in body["detail"]
        status, body, _ = post_json(server.url + "/v1/items", {"items": [{"item_id": "n1"}]})
        assert status == 403 and "new items" in body["detail"]
        status, body, _ = post_json(server.url + "/v1/items/hide", {"items": ["50"]})
        assert status == 403 and "changes to its items" in body["detail"]
        status, body, _ = post_json(server.url + "/v1/recommend", {"user": "a"})
        assert status == 422  # nothing was added


def test_with_a_picks_log_a_restart_keeps_what_it_was_sent(tmp_path):
    log = tmp_path / "picks.jsonl"
    args = ["--n-candidates", "1", "--k", "1", "--picks-log", str(log)]  # one candidate: no model to load
    with ServeProcess(args, tmp_path / "log1") as server:
        picks = [{"user_id": "ann", "item_id": "Fargo (1996)"}, {"user_id": "ann", "item_id": 50}]
        status, added, _ = post_json(server.url + "/v1/interactions", {"interactions": picks})
        assert status == 200 and added["interactions"] == 100_002
        assert post_json(server.url + "/v1/items", {"items": [{"item_id": "n1", "title": "Brand New"}]})[0] == 200
        status, added, _ = post_json(server.url + "/v1/interactions", {"interactions": [{"user_id": "ann", "item_id": "n1"}]})
        assert status == 200 and added["interactions"] == 100_003
    assert [json.loads(line).get("item_id") for line in log.read_text().splitlines()] == ["100", "50", None, "n1"]
    with ServeProcess(args, tmp_path / "log2") as server:  # a restart: ann and the new item are known from the log
        status, body, _ = post_json(server.url + "/v1/recommend", {"user": "ann"})
        assert status == 200, body
        assert [h["title"] for h in body["history"]] == ["Fargo (1996)", "Star Wars (1977)", "Brand New"]
        status, added, _ = post_json(server.url + "/v1/interactions",
                                     {"interactions": [{"user_id": "ann", "item_id": 1}]})
        assert status == 200 and added["interactions"] == 100_004 and added["new_users"] == 0
    assert len(log.read_text().splitlines()) == 5


def test_a_new_item_posted_to_a_service_takes_a_slot_until_picked(tmp_path):
    args = ["--fusion-weight", "0", "--reasons", "evidence", "--n-candidates", "5", "--k", "5", "--new-item-slots", "1"]
    with ServeProcess(args, tmp_path / "log") as server:  # no model to load: the shortlist's order
        url = server.url
        new = [{"item_id": "9001", "title": "Galactic Rebels (2026)", "genres": ["Sci-Fi", "War"]}]
        assert post_json(url + "/v1/items", {"items": new})[0] == 200
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["Star Wars (1977)"]})
        assert status == 200, body
        assert [it["new_item_slot"] for it in body["items"]] == [False] * 4 + [True]
        assert body["items"][-1]["item_id"] == "9001" and "not picked by anyone yet" in body["items"][-1]["reason"]
        assert post_json(url + "/v1/interactions", {"interactions": [{"user_id": "ann", "item_id": "9001"}]})[0] == 200
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["Star Wars (1977)"]})
        assert status == 200 and not any(it["new_item_slot"] for it in body["items"]), body
