"""The page's Library view in headless Chromium against `faceprint serve --library`: people cards, a person's faces,
naming (a name that is HTML stays text), the photo viewer with the face boxed, "not them", the queue of faces in no
one, merging, hiding, and a list of hundreds of people that arrives page by page as it is scrolled."""

from __future__ import annotations

import numpy as np
import pytest

from tests.service.test_web import XSS, browser, click, signed_in, tid, wait  # noqa: F401
from tests.service.server import _serve, _stop
from tests.service.test_library_routes import make_library

By = pytest.importorskip("selenium.webdriver.common.by").By


def cards(driver) -> list:  # type: ignore[no-untyped-def]
    return tid(driver, "lib-people").find_elements(By.CSS_SELECTOR, '[data-testid="lib-person-card"]')


def names(driver) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.find_element(By.CLASS_NAME, "name").text for c in cards(driver)]


def in_view(driver, testid: str) -> list:  # type: ignore[no-untyped-def]
    return driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


@pytest.fixture
def library_server(tmp_path):
    proc, url = _serve(make_library(tmp_path), store="--library")
    yield url
    _stop(proc)


def test_library_view(library_server, browser):  # noqa: F811
    d = browser
    signed_in(d, library_server)
    wait(d, lambda d: len(cards(d)) == 6, 30, "the six suggested people never showed")
    assert "6 suggested" in tid(d, "lib-counts").text
    assert not d.find_element(By.ID, "enroll").is_displayed()  # a library's people come from scans, not uploads

    # open the largest suggestion, name it with a name that is HTML: shown as text everywhere
    click(d, cards(d)[0])
    wait(d, lambda d: tid(d, "lib-person").is_displayed() and len(in_view(d, "lib-face")) >= 4, 30)
    faces = len(in_view(d, "lib-face"))
    tid(d, "lib-name").send_keys(XSS)
    click(d, tid(d, "lib-name-save"))
    wait(d, lambda d: names(d) and names(d)[0] == XSS, 30, "the name never reached the list")
    assert tid(d, "lib-person-title").text == XSS
    assert not d.find_elements(By.CSS_SELECTOR, "#lib-people img[src='x']")  # never parsed as HTML

    # the photo, large, with the face boxed
    click(d, in_view(d, "lib-open-photo")[0])
    wait(d, lambda d: tid(d, "lib-viewer").is_displayed() and in_view(d, "lib-viewer-box"), 30, "no photo")
    box = tid(d, "lib-viewer-box")
    wait(d, lambda d: box.size["width"] > 20 and box.size["height"] > 20, 20, "the box has no size")
    click(d, tid(d, "lib-viewer-close"))
    wait(d, lambda d: not tid(d, "lib-viewer").is_displayed(), 10)

    # "not them": the face leaves the person and waits in the queue of faces in no one
    queue = len(in_view(d, "lib-queue-face"))
    out = in_view(d, "lib-face")[-1].get_attribute("data-face")
    click(d, in_view(d, "lib-not-them")[-1])
    wait(d, lambda d: len(in_view(d, "lib-face")) == faces - 1, 30, "the face stayed")
    wait(d, lambda d: len(in_view(d, "lib-queue-face")) == queue + 1, 30, "the queue did not grow")
    tile = next(t for t in in_view(d, "lib-queue-face") if t.get_attribute("data-face") == out)
    tile.find_element(By.CSS_SELECTOR, '[data-testid="lib-queue-name"]').send_keys("Somebody Else")
    click(d, tile.find_element(By.CSS_SELECTOR, '[data-testid="lib-queue-assign"]'))
    wait(d, lambda d: len(in_view(d, "lib-queue-face")) == queue, 30, "the queue kept the face")
    wait(d, lambda d: "Somebody Else" in names(d), 30)

    # merge two suggestions, ticked on their cards
    click(d, tid(d, "lib-close"))
    before = len(cards(d))
    suggested = [c for c in cards(d) if c.find_element(By.CLASS_NAME, "name").text.startswith("Suggested")]
    for c in suggested[:2]:
        click(d, c.find_element(By.CSS_SELECTOR, '[data-testid="lib-select"]'))
    wait(d, lambda d: tid(d, "lib-merge").is_displayed(), 10)
    click(d, tid(d, "lib-merge"))
    wait(d, lambda d: len(cards(d)) == before - 1, 30, "the merge did not happen")

    # hide a person: gone from the list, back with hidden people shown
    click(d, cards(d)[-1])
    wait(d, lambda d: tid(d, "lib-person").is_displayed(), 20)
    hidden = tid(d, "lib-person-title").text
    click(d, tid(d, "lib-hide"))
    wait(d, lambda d: hidden not in names(d) and len(cards(d)) == before - 2, 30, "still listed")
    click(d, tid(d, "lib-show-hidden"))
    wait(d, lambda d: hidden in names(d), 30, "hidden people are not shown on asking")


def _many_people(path, n: int, fingerprint: str, dim: int) -> None:
    """A library of n suggested people of two faces each (no photos on disk: the page shows initials)."""
    from faceprint.applications.library.store import NewContent, NewFace, open_library

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    with open_library(path, fingerprint, dim, "squared_l2") as lib:
        lib.set_root(path.parent)
        contents = []
        for i in range(2 * n):
            e = centres[i // 2] + 0.05 * rng.normal(size=dim) / np.sqrt(dim)
            face = NewFace(0, np.array([0, 0, 10, 10], np.float32), None, 1.0,
                           (e / np.linalg.norm(e)).astype(np.float32), None)
            contents.append(NewContent(f"{i:064x}", [(f"p/{i}.jpg", 1, 1)], 10, 10, None, None, [face]))
        lib.add(contents)
        lib.group(0.5)


def test_hundreds_of_people_arrive_page_by_page(tmp_path, browser):  # noqa: F811
    import time

    import faceprint

    model = faceprint.load(None)
    lib = tmp_path / "L.db"
    _many_people(lib, 300, model.fingerprint, model.config.embedding_size)
    proc, url = _serve(lib, store="--library")
    try:
        signed_in(browser, url)
        wait(browser, lambda d: len(cards(d)) >= 60, 30, "no first page")
        assert len(cards(browser)) < 300  # not all at once
        for _ in range(60):  # scrolled to the end of the list, again and again: the rest arrives
            if len(cards(browser)) == 300:
                break
            browser.execute_script("document.getElementById('lib-more').scrollIntoView()")
            time.sleep(0.25)
        assert len(cards(browser)) == 300 and len(set(names(browser))) == 300
        assert "300 suggested" in tid(browser, "lib-counts").text
    finally:
        _stop(proc)
