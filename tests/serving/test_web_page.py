"""The page at / in a real browser (Debian's chromium, driven by Playwright): a person types part of
a title, picks it from the suggestions, does it again, presses Recommend and reads ranked items with
their reasons and evidence."""

from __future__ import annotations

import os
import shutil

import pytest

from zsrec.serving.launch import ServeProcess, post_json

pytestmark = pytest.mark.model
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs chromium and sets this, so there the test can only pass or fail, never skip.
if os.environ.get("ZSREC_REQUIRE_BROWSER") != "1":
    if CHROMIUM is None:
        pytest.skip("no chromium here (apt-get install chromium); CI installs it", allow_module_level=True)
    pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright  # noqa: E402

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def test_a_person_picks_titles_and_gets_explained_recommendations(tmp_path, ml100k):
    key = "page-key"
    with ServeProcess(["--mode", "score", "--reasons", "evidence", "--api-key", key], tmp_path / "log") as server, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            # the service asks for a key, so the page shows its field
            expect(page.get_by_label("API key")).to_be_visible()
            page.get_by_label("API key").fill(key)
            search = page.get_by_role("searchbox", name="Title")
            search.press_sequentially("farg", delay=40)  # typed as a person types
            page.get_by_role("option", name="Fargo (1996)").click()
            search.press_sequentially("toy st", delay=40)
            page.get_by_role("option", name="Toy Story (1995)").click()
            picks = page.locator("#history li")
            expect(picks).to_have_count(2)
            expect(picks.nth(0)).to_contain_text("Fargo (1996)")
            page.get_by_label("How many").select_option("5")
            page.get_by_role("button", name="Recommend").click()
            results = page.locator("#results li")
            expect(results).to_have_count(5, timeout=60_000)
            expect(page.locator("#status")).to_contain_text("ranked by")
            for i in range(5):
                row = results.nth(i)
                assert row.locator(".title").inner_text().strip()
                assert row.locator(".reason").inner_text().strip()  # every item leaves with a reason
                assert "evidence:" in row.locator(".evidence").inner_text()
            titles = [results.nth(i).locator(".title").inner_text() for i in range(5)]
            assert "Fargo (1996)" not in titles and "Toy Story (1995)" not in titles  # seen items stay out
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            # the genre menu appears once the key is given; a genre keeps the picks to that genre
            page.get_by_label("API key").press("Enter")
            page.get_by_label("API key").blur()
            page.get_by_label("Genre").select_option("Comedy")
            page.get_by_role("button", name="Recommend").click()
            expect(page.locator("#status")).to_contain_text("only genre Comedy: 505 of 1,682 items", timeout=60_000)
            expect(results).to_have_count(5)
            genres = {it.title: it.fields["genres"] for it in ml100k.catalog}
            for i in range(5):
                title = results.nth(i).locator(".title").inner_text()
                assert "Comedy" in genres[title], title
            # taking a pick away, and a wrong key, are both shown plainly
            page.get_by_role("button", name="remove Fargo (1996)").click()
            expect(picks).to_have_count(1)
            page.get_by_label("API key").fill("wrong")
            page.get_by_role("button", name="Recommend").click()
            expect(page.locator("#status")).to_contain_text("error 401")
        finally:
            browser.close()


def test_an_item_shown_through_a_new_item_slot_is_tagged_new(tmp_path):
    """A film just added to the catalog (POST /v1/items), which nobody has picked, reaches a Star Wars
    history through the service's one new-item slot; the page tags it "new" and no other row."""
    args = ["--fusion-weight", "0", "--reasons", "evidence", "--n-candidates", "5", "--k", "5", "--new-item-slots", "1"]
    with ServeProcess(args, tmp_path / "log") as server, sync_playwright() as pw:
        new = [{"item_id": "9001", "title": "Galactic Rebels (2026)", "genres": ["Sci-Fi", "War"]}]
        assert post_json(server.url + "/v1/items", {"items": new})[0] == 200
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            page.get_by_role("searchbox", name="Title").press_sequentially("star wa", delay=40)
            page.get_by_role("option", name="Star Wars (1977)").click()
            page.get_by_label("How many").select_option("5")
            page.get_by_role("button", name="Recommend").click()
            results = page.locator("#results li")
            expect(results).to_have_count(5, timeout=60_000)
            expect(results.nth(4).locator(".title")).to_have_text("Galactic Rebels (2026)")
            expect(results.nth(4).locator(".new")).to_have_text("new")
            expect(page.locator("#results .new")).to_have_count(1)
        finally:
            browser.close()
