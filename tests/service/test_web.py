"""The web page in a real browser (headless Chromium through Selenium) against a real `faceprint serve` on
loopback: sign in, enroll people, identify, sort a pile and enroll a cluster, delete a person, a name that is HTML,
a wrong key, uploads over the limits. Skipped where Chromium, its driver or Selenium is missing (`.ci/run` installs
Debian's chromium and chromium-driver). A failing test leaves a screenshot and the console log beside it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from faceprint.demo import PHOTOS, STRANGER  # noqa: E402
from tests.service.server import KEY, _serve, _stop  # noqa: E402

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(BROWSER is None or DRIVER is None,
                                reason="no Chromium and chromedriver here (Debian: apt-get install chromium "
                                       "chromium-driver)")
ARTIFACTS = Path(os.environ.get("FACEPRINT_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts")) / "browser"
ENROLLED = ["Colin_Powell", "Hugo_Chavez", "Laura_Bush", "Serena_Williams", "Tony_Blair"]
XSS = "<img src=x onerror=alert(1)>"


def _photos(person: str) -> list[Path]:
    return sorted((PHOTOS / person).glob("*.jpg"))


@pytest.fixture
def server(tmp_path):
    proc, url = _serve(tmp_path / "g.db")
    yield url
    _stop(proc)


@pytest.fixture
def browser(request):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot, log = ARTIFACTS / f"{request.node.name}.png", ARTIFACTS / f"{request.node.name}.log"
        try:
            driver.save_screenshot(str(shot))
            lines = [f"{e['level']} {e['message']}" for e in driver.get_log("browser")]
        except Exception as e:  # the browser itself may be what failed
            lines = [f"no screenshot or log: {e}"]
        log.write_text("\n".join([f"url: {driver.current_url}", *lines]) + "\n")
        print(f"screenshot: {shot}\nconsole log: {log}")
    driver.quit()


def tid(driver, name: str):  # type: ignore[no-untyped-def]
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')


def wait(driver, condition, timeout: float = 60, message: str = ""):  # type: ignore[no-untyped-def]
    """Until `condition` holds; elements the page re-renders meanwhile (stale) just mean "look again"."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(lambda d: condition(d), message)


def click(driver, element) -> None:  # type: ignore[no-untyped-def]
    """Click as a person would: with the element in the middle of the window (not under the sticky top bar)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def sign_in(driver, url: str, key: str = KEY) -> None:  # type: ignore[no-untyped-def]
    driver.get(url)
    tid(driver, "api-key").send_keys(key)
    tid(driver, "sign-in").click()


def signed_in(driver, url: str):  # type: ignore[no-untyped-def]
    sign_in(driver, url)
    wait(driver, lambda d: d.find_element(By.ID, "app").is_displayed(), 20, "the page never showed its tools")
    wait(driver, lambda d: d.find_element(By.ID, "people-empty").is_displayed() or people(d), 20)


def people(driver) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.find_element(By.CLASS_NAME, "name").text
            for p in tid(driver, "people-list").find_elements(By.CSS_SELECTOR, '[data-testid="person"]')]


def enroll(driver, name: str, files: list[Path]) -> str:  # type: ignore[no-untyped-def]
    box = tid(driver, "enroll-name")
    box.clear()
    box.send_keys(name)
    tid(driver, "enroll-files").send_keys("\n".join(str(f) for f in files))
    before = tid(driver, "enroll-result").text
    click(driver, tid(driver, "enroll-submit"))
    wait(driver, lambda d: tid(d, "enroll-result").text not in ("", before) and
         tid(d, "enroll-submit").is_enabled(), 120, "no enrollment result")
    return tid(driver, "enroll-result").text


def identify(driver, photo: Path) -> str:  # type: ignore[no-untyped-def]
    tid(driver, "identify-file").send_keys(str(photo))
    click(driver, tid(driver, "identify-submit"))
    wait(driver, lambda d: photo.name in tid(d, "identify-result").text, 120, "no identification")
    return tid(driver, "identify-result").text


def test_a_wrong_key_is_refused_and_shows_no_data(server, browser):
    sign_in(browser, server, "wrong-key-0123456789abcdef")
    wait(browser, lambda d: "not accepted" in d.find_element(By.ID, "signin-error").text, 20)
    assert not browser.find_element(By.ID, "app").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('faceprint-api-key')") is None
    photo = _photos("Laura_Bush")[0]
    r = httpx.post(f"{server}/enroll", headers={"X-API-Key": KEY}, data={"name": "Laura_Bush"},
                   files=[("images", (photo.name, photo.read_bytes(), "image/jpeg"))], timeout=120)
    assert r.status_code == 200
    tid(browser, "api-key").clear()
    tid(browser, "api-key").send_keys(KEY)
    tid(browser, "sign-in").click()
    wait(browser, lambda d: people(d) == ["Laura_Bush"], 20)
    browser.refresh()  # the key is kept for the tab: still signed in after a reload
    wait(browser, lambda d: people(d) == ["Laura_Bush"], 20)
    click(browser, browser.find_element(By.ID, "sign-out"))  # signing out leaves nothing of the gallery on the page
    wait(browser, lambda d: d.find_element(By.ID, "signin").is_displayed(), 20)
    assert people(browser) == [] and "Laura" not in browser.find_element(By.TAG_NAME, "body").get_attribute(
        "innerHTML")


def test_enrol_identify_and_delete(server, browser):
    signed_in(browser, server)
    for person in ENROLLED:
        text = enroll(browser, person, _photos(person)[:3])
        assert f"{person}: 3 faces added, 0 already there, 0 files skipped" in text, text
    wait(browser, lambda d: people(d) == ENROLLED, 20, f"people list {people(browser)}")
    cards = tid(browser, "people-list").find_elements(By.CSS_SELECTOR, '[data-testid="person"]')
    wait(browser, lambda d: all(c.find_element(By.TAG_NAME, "img").get_attribute("src").startswith("blob:")
                                and c.find_element(By.TAG_NAME, "img").get_property("naturalWidth") == 160
                                for c in cards), 20, "thumbnails did not load")
    again = enroll(browser, "Tony_Blair", _photos("Tony_Blair")[:1])
    assert "0 faces added, 1 already there" in again

    text = identify(browser, _photos("Laura_Bush")[3])
    assert "Laura_Bush" in text.splitlines()[-1] or "Laura_Bush" in text
    figure = tid(browser, "identify-result").find_element(By.CLASS_NAME, "figure")
    boxes = figure.find_elements(By.CLASS_NAME, "box")
    faces = tid(browser, "identify-result").find_elements(By.CSS_SELECTOR, ".faces-list li")
    assert len(boxes) == len(faces) >= 1 and any("Laura_Bush" in b.text for b in boxes)
    stranger = identify(browser, _photos(STRANGER)[0])
    names = [li.find_element(By.CLASS_NAME, "who").text for li in
             tid(browser, "identify-result").find_elements(By.CSS_SELECTOR, ".faces-list li")]
    assert names and set(names) == {"unknown"}, stranger

    card = next(c for c in tid(browser, "people-list").find_elements(By.CSS_SELECTOR, '[data-testid="person"]')
                if c.find_element(By.CLASS_NAME, "name").text == "Hugo_Chavez")
    click(browser, card.find_element(By.CSS_SELECTOR, '[data-testid="person-delete"]'))
    assert "Delete Hugo_Chavez and 3 faces?" in card.text  # asked first
    click(browser, card.find_element(By.CSS_SELECTOR, '[data-testid="person-delete-confirm"]'))
    wait(browser, lambda d: people(d) == [p for p in ENROLLED if p != "Hugo_Chavez"], 20)
    listed = httpx.get(f"{server}/people", headers={"X-API-Key": KEY}).json()["people"]
    assert [p["name"] for p in listed] == [p for p in ENROLLED if p != "Hugo_Chavez"]


def test_sort_a_pile_and_enrol_a_cluster(server, browser):
    signed_in(browser, server)
    enroll(browser, "Tony_Blair", _photos("Tony_Blair")[:2])
    pile = sorted(PHOTOS.glob("*/*.jpg"))  # 22 photos: more than one request may carry (16)
    tid(browser, "pile-files").send_keys("\n".join(str(p) for p in pile))
    click(browser, tid(browser, "pile-submit"))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="cluster"]'), 300, "no clusters")
    clusters = browser.find_elements(By.CSS_SELECTOR, '[data-testid="cluster"]')
    sizes = [len(c.find_elements(By.CSS_SELECTOR, '[data-testid="cluster-face"]')) for c in clusters]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) >= len(pile)
    assert "22 photos" in browser.find_element(By.ID, "pile-text").text

    def photos_of(cluster) -> list[str]:  # type: ignore[no-untyped-def]
        return [f.get_attribute("title").split(" — ")[0] for f in
                cluster.find_elements(By.CSS_SELECTOR, '[data-testid="cluster-face"]')]

    tony = next(c for c in clusters if sum(p.startswith("Tony_Blair") for p in photos_of(c)) >= 3)
    assert tony.find_element(By.CSS_SELECTOR, '[data-testid="cluster-name"]').get_attribute("value") == "Tony_Blair"
    hugo = next(c for c in clusters if sum(p.startswith("Hugo_Chavez") for p in photos_of(c)) >= 3)
    assert all(p.startswith("Hugo_Chavez") for p in photos_of(hugo))
    faces = hugo.find_elements(By.CSS_SELECTOR, '[data-testid="cluster-face"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", hugo)  # thumbnails load when in view
    wait(browser, lambda d: all(f.find_element(By.TAG_NAME, "img").get_property("naturalWidth") > 0 for f in faces),
         20, "pile thumbnails did not load")
    click(browser, faces[-1])  # leave one face out
    assert "dropped" in faces[-1].get_attribute("class")
    hugo.find_element(By.CSS_SELECTOR, '[data-testid="cluster-name"]').send_keys("Hugo Chavez")
    click(browser, hugo.find_element(By.CSS_SELECTOR, '[data-testid="cluster-enroll"]'))
    wait(browser, lambda d: "Enrolled" in hugo.text, 60, "the cluster was not enrolled")
    assert f"Enrolled {len(faces) - 1} faces as Hugo Chavez" in hugo.text
    wait(browser, lambda d: "Hugo Chavez" in people(d), 20)
    listed = {p["name"]: p["faces"] for p in
              httpx.get(f"{server}/people", headers={"X-API-Key": KEY}).json()["people"]}
    assert listed["Hugo Chavez"] == len(faces) - 1
    click(browser, browser.find_element(By.ID, "pile-regroup"))  # what is left, grouped again: the dropped face is alone
    wait(browser, lambda d: not any("Enrolled" in c.text for c in
                                    d.find_elements(By.CSS_SELECTOR, '[data-testid="cluster"]')), 60)
    for c in browser.find_elements(By.CSS_SELECTOR, '[data-testid="cluster"]'):
        assert c.find_element(By.CSS_SELECTOR, '[data-testid="cluster-name"]').get_attribute("value") != "Hugo Chavez"


def test_a_name_that_is_html_is_shown_as_text(server, browser, tmp_path):
    signed_in(browser, server)
    text = enroll(browser, XSS, _photos("Serena_Williams")[:2])
    assert f"{XSS}: 2 faces added" in text
    wait(browser, lambda d: people(d) == [XSS], 20)
    result = identify(browser, _photos("Serena_Williams")[2])
    assert XSS in result
    named = tmp_path / "<img src=x onerror=alert(2)>.jpg"  # a file name is shown as text too
    named.write_bytes(_photos("Serena_Williams")[3].read_bytes())
    assert f"1 face in {named.name}:" in identify(browser, named)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], img:not([src])').length") == 0
    assert not [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]


def test_uploads_over_the_limits_get_a_readable_message(tmp_path, browser):
    import numpy as np
    from PIL import Image

    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (700, 700, 3), np.uint8)).save(noise)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (900, 900), (128, 128, 128)).save(tiny)
    proc, url = _serve(tmp_path / "g.db", "--max-body-mb", "1", "--max-pixels", "500000")
    try:
        signed_in(browser, url)
        text = enroll(browser, "Somebody", [noise, _photos("Laura_Bush")[0]])
        assert "noise.png" in text and "over the service's limit" in text and "1 face added" in text
        text = enroll(browser, "Somebody", [tiny])
        assert "too large" in text and "tiny.png" in text, text
    finally:
        _stop(proc)


def test_two_tabs_at_once(server, browser):
    """Each tab signs in for itself (the key is kept per tab) and keeps its own pile; what one enrolls the other
    sees on its next look."""
    signed_in(browser, server)
    first = browser.current_window_handle
    tid(browser, "pile-files").send_keys("\n".join(str(p) for p in _photos("Laura_Bush")))
    click(browser, tid(browser, "pile-submit"))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="cluster"]'), 120)
    browser.switch_to.new_window("tab")
    browser.get(server)
    assert browser.find_element(By.ID, "signin").is_displayed()  # a new tab has no key
    signed_in(browser, server)
    enroll(browser, "Colin_Powell", _photos("Colin_Powell")[:2])
    tid(browser, "pile-files").send_keys(str(_photos("Tony_Blair")[0]))
    click(browser, tid(browser, "pile-submit"))
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="cluster"]')) >= 1, 120)
    browser.switch_to.window(first)
    laura = browser.find_elements(By.CSS_SELECTOR, '[data-testid="cluster"]')[0]
    laura.find_element(By.CSS_SELECTOR, '[data-testid="cluster-name"]').send_keys("Laura_Bush")
    click(browser, laura.find_element(By.CSS_SELECTOR, '[data-testid="cluster-enroll"]'))
    wait(browser, lambda d: "Enrolled" in laura.text, 60)
    wait(browser, lambda d: people(d) == ["Colin_Powell", "Laura_Bush"], 20)
