"""The page when more than one thing happens at once, in headless Chromium against a real `faceprint serve`: a second
sort while the first one's rows are on screen, signing out while answers are still on their way, and keys of each
scope. Each of these failed on the page before the fix it checks (old rows enrolled faces of the new pile, piles
and the identify preview outlived the sign-out, late answers filled the page again)."""

from __future__ import annotations

import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402

from tests.service.server import KEY, _serve, _stop  # noqa: E402
from tests.service.test_web import (  # noqa: E402,F401  (the fixtures, helpers and skip of the browser tests)
    _photos,
    browser,
    click,
    people,
    pytestmark,
    server,
    signed_in,
    tid,
    wait,
)

H = {"X-API-Key": KEY}
ROWS = '[data-testid="cluster"]'


def sort(driver, photos) -> None:  # type: ignore[no-untyped-def]
    tid(driver, "pile-files").send_keys("\n".join(str(p) for p in photos))
    click(driver, tid(driver, "pile-submit"))


def row_of(driver, person: str):  # type: ignore[no-untyped-def]
    for row in driver.find_elements(By.CSS_SELECTOR, ROWS):
        titles = [f.get_attribute("title") for f in row.find_elements(By.CSS_SELECTOR, '[data-testid="cluster-face"]')]
        if titles and all(t.startswith(person) for t in titles):
            return row
    return None


def test_a_new_sort_clears_the_old_rows_and_pile_and_an_old_row_never_enrolls_new_faces(server, browser):
    signed_in(browser, server)
    sort(browser, _photos("Hugo_Chavez") + _photos("Colin_Powell"))
    wait(browser, lambda d: row_of(d, "Hugo_Chavez") is not None, 120, "the first pile was not sorted")
    old = browser.execute_script("return pile")
    hugo = row_of(browser, "Hugo_Chavez")
    hugo.find_element(By.CSS_SELECTOR, '[data-testid="cluster-name"]').send_keys("Old Row")
    browser.execute_script("window.oldRow = arguments[0]", hugo)  # kept, as a slow click on it would be

    # another sort without "Start a new pile": the old rows go at once, not when the new pile is grouped
    tid(browser, "pile-files").send_keys("\n".join(str(p) for p in _photos("Serena_Williams") + _photos("Tony_Blair")))
    left = browser.execute_script(
        "document.querySelector('[data-testid=pile-submit]').click();"
        f"return document.querySelectorAll('{ROWS}').length")
    assert left == 0, "the old pile's rows stayed on screen while the new pile uploads"
    wait(browser, lambda d: row_of(d, "Serena_Williams") is not None, 120, "the second pile was not sorted")
    new = browser.execute_script("return pile")
    assert new != old
    assert all(r.get_attribute("data-pile") == new for r in browser.find_elements(By.CSS_SELECTOR, ROWS))
    assert httpx.get(f"{server}/piles/{old}/clusters", headers=H).status_code == 404  # the old pile is gone

    # the old row, clicked now, acts on its own (deleted) pile: it enrolls nothing, least of all the new faces
    browser.execute_script("window.oldRow.querySelector('[data-testid=cluster-enroll]').click()")
    wait(browser, lambda d: d.execute_script("return window.oldRow.querySelector('.error').textContent"), 30,
         "the old row said nothing")
    assert "no such pile" in browser.execute_script("return window.oldRow.querySelector('.error').textContent")
    assert [p["name"] for p in httpx.get(f"{server}/people", headers=H).json()["people"]] == []


def test_signing_out_forgets_the_pile_revokes_the_preview_and_drops_late_answers(server, browser):
    photo = _photos("Colin_Powell")[0]  # someone to identify against
    httpx.post(f"{server}/enroll", headers=H, data={"name": "Colin_Powell"},
               files=[("images", (photo.name, photo.read_bytes(), "image/jpeg"))], timeout=120)
    signed_in(browser, server)
    sort(browser, _photos("Laura_Bush"))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ROWS), 120, "no clusters")
    pile = browser.execute_script("return pile")
    assert httpx.get(f"{server}/piles/{pile}/clusters", headers=H).status_code == 200

    tid(browser, "identify-file").send_keys(str(_photos("Laura_Bush")[0]))
    click(browser, tid(browser, "identify-submit"))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#identify-result .figure img"), 60, "no preview")
    preview = browser.find_element(By.CSS_SELECTOR, "#identify-result .figure img").get_attribute("src")
    assert preview.startswith("blob:")

    # an identification on its way while the tab signs out: its answer must not fill the page again
    tid(browser, "identify-file").send_keys(str(_photos("Laura_Bush")[1]))
    browser.execute_script("document.querySelector('[data-testid=identify-submit]').click();"
                           "document.getElementById('sign-out').click();")
    wait(browser, lambda d: d.find_element(By.ID, "signin").is_displayed(), 20)
    time.sleep(3)  # well past the identification's answer (about 0.3 s here)
    assert tid(browser, "identify-result").text == ""
    assert not {"Laura", "Colin"} & set(browser.find_element(By.ID, "app").get_attribute("innerHTML").split("_"))
    assert browser.execute_script("return document.querySelectorAll('img[src^=\"blob:\"]').length") == 0
    revoked = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(() => done(false), () => done(true));", preview)
    assert revoked, "the identify preview's blob: URL outlived the sign-out"
    assert httpx.get(f"{server}/piles/{pile}/clusters", headers=H).status_code == 404  # the server forgot the pile


@pytest.mark.parametrize("scope", ["read", "write", "admin"])
def test_the_page_shows_what_the_key_may_do(tmp_path, browser, scope):
    keys = tmp_path / "keys.txt"
    secret = f"{scope}-key-0123456789abcdef"
    keys.write_text(f"# KEY SCOPE LABEL\n{secret} {scope} {scope} person\n")
    proc, url = _serve(tmp_path / "g.db", "--api-key-file", str(keys), env_keys=KEY)
    try:
        photo = _photos("Laura_Bush")[0]
        httpx.post(f"{url}/enroll", headers=H, data={"name": "Laura_Bush"},
                   files=[("images", (photo.name, photo.read_bytes(), "image/jpeg"))], timeout=120)
        browser.get(url)
        tid(browser, "api-key").send_keys(secret)
        tid(browser, "sign-in").click()
        wait(browser, lambda d: people(d) == ["Laura_Bush"], 30)
        assert f"{scope} person ({scope})" in browser.find_element(By.ID, "model").text
        shown = {s: browser.find_element(By.ID, s).is_displayed() for s in ("enroll", "pile", "identify")}
        assert shown == {"enroll": scope != "read", "pile": scope != "read", "identify": True}
        deletes = browser.find_elements(By.CSS_SELECTOR, '[data-testid="person-delete"]')
        assert len(deletes) == (1 if scope == "admin" else 0)
        card = browser.find_element(By.CSS_SELECTOR, '[data-testid="person"]').text.split("\n")
        assert card == ["Laura_Bush", "1 face"] + (["Delete"] if scope == "admin" else []), card
    finally:
        _stop(proc)
