"""The page for billing staff (GET /), in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) against a real `mohs-asp serve`: paste, upload and the
form each give the decision, every line's outcome and why, and the explanation; printing
leaves the input out; a case's values are shown as text, never run as HTML."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from helpers import EXE
from serving import INTERNAL, TESTS, Server, strip_expect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER) and not os.environ.get("CI"):  # CI installs them (.ci/run): there they must be
    pytest.skip("no chromium and chromedriver here (apt-get install chromium chromium-driver)", allow_module_level=True)
pytestmark = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    assert s.stop() == -signal.SIGTERM
    assert not INTERNAL.search(s.output()), s.output()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,2000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def load(browser, server):
    browser.get(server.url + "/")
    WebDriverWait(browser, 20).until(EC.text_to_be_present_in_element((By.ID, "policy"), "digest"))


def decided(browser, text: str) -> None:
    """Wait for the answer to a Decide just clicked: its decision, exactly, and no request pending."""
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "decision").text == text
                                     and b.find_element(By.ID, "status").text == "")


def rows(browser) -> list[list[str]]:
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#lines tbody tr")]


def paste(browser, text: str) -> None:
    area = browser.find_element(By.ID, "case-text")
    area.clear()
    browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", area, text)
    browser.find_element(By.ID, "decide-text").click()


def test_a_pasted_json_case_shows_the_decision_each_line_and_why(browser, server):
    load(browser, server)
    assert "Policy mohs-micrographic-surgery 2018-07-23" in browser.find_element(By.ID, "policy").text
    paste(browser, (TESTS / "examples/nose-bcc-covered.case.json").read_text())
    decided(browser, "COVERED")
    got = rows(browser)
    assert [r[:3] for r in got] == [["1", "17311", "payable"], ["2", "17312", "payable"],
                                    ["3", "88331", "bundled into line 1"], ["4", "14060", "payable"]]
    assert "mms_payable" in got[0][4] and "logic/claims.lp:" in got[0][4]
    assert "medically necessary" in got[0][3]
    lesion = browser.find_element(By.CSS_SELECTOR, "#lesions .lesion").text
    assert "Lesion A: nose, C44.311" in lesion and "Medically necessary: yes" in lesion and "high risk area" in lesion
    assert not INTERNAL.search(browser.page_source)


def test_an_uploaded_yaml_case_shows_why_not_and_what_would_qualify(browser, server, tmp_path):
    path = tmp_path / "two-lesions.yaml"
    path.write_text(strip_expect(
        (TESTS / "policy/a-second-lesion-denied-for-three-reasons-makes-the-case-not-covered.yaml").read_text()))
    load(browser, server)
    browser.find_element(By.ID, "case-file").send_keys(str(path))
    decided(browser, "NOT COVERED")
    denied = [r for r in rows(browser) if r[2] == "denied"]
    assert denied and "mms_diagnosis_not_covered" in denied[0][4] and "not on the covered list" in denied[0][3]
    text = browser.find_element(By.ID, "lesions").text
    assert "Would qualify with any one of:" in text and "size at least 2.0 cm" in text


def test_the_form_decides_a_case_and_a_change_of_size_changes_the_answer(browser, server):
    load(browser, server)
    browser.find_element(By.ID, "tab-form").click()
    lesion = browser.find_element(By.CSS_SELECTOR, "#f-lesions tbody tr")
    for name, value in (("diagnosis", "C44.519"), ("site", "back"), ("size_cm", "1.1")):
        field = lesion.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    line = browser.find_element(By.CSS_SELECTOR, "#f-lines tbody tr")
    code = line.find_element(By.NAME, "code")
    code.clear()
    code.send_keys("17313")
    assert Select(line.find_element(By.NAME, "lesion")).first_selected_option.text == "A"
    browser.find_element(By.ID, "add-line").click()
    second = browser.find_elements(By.CSS_SELECTOR, "#f-lines tbody tr")[1]
    second.find_element(By.NAME, "code").send_keys("88305")
    browser.find_element(By.ID, "decide-form").click()
    decided(browser, "NOT COVERED")
    assert [r[:3] for r in rows(browser)] == [["1", "17313", "denied"], ["2", "88305", "bundled into line 1"]]
    size = lesion.find_element(By.NAME, "size_cm")
    size.clear()
    size.send_keys("2.0")
    browser.execute_script("document.getElementById('decision').textContent = ''")
    browser.find_element(By.ID, "decide-form").click()
    decided(browser, "COVERED")
    assert rows(browser)[0][:3] == ["1", "17313", "payable"]


def test_an_invalid_case_lists_every_problem_at_its_path(browser, server):
    load(browser, server)
    paste(browser, "id: bad\nlesions:\n  - {id: A, diagnosis: C44.3, site: nosee}\n")
    decided(browser, "INVALID")
    errors = browser.find_element(By.ID, "errors").text
    assert "date_of_service: is required" in errors and "lesions[0].site" in errors and "did you mean `nose`" in errors
    assert not browser.find_element(By.ID, "lines-block").is_displayed()


def test_a_case_value_is_shown_as_text_never_run(browser, server):
    load(browser, server)
    case = json.loads((TESTS / "examples/nose-bcc-covered.case.json").read_text())
    case["id"] = '<img src=x onerror="document.title=1">'
    case["lesions"][0]["id"] = case["lines"][0]["lesion"] = "<b>A</b>"
    for line in case["lines"]:
        line["lesion"] = "<b>A</b>"
    paste(browser, json.dumps(case))
    decided(browser, "COVERED")
    assert browser.find_element(By.ID, "case-id").text == f"Case {case['id']}"
    assert not browser.find_elements(By.CSS_SELECTOR, "#result img, #result b")
    assert browser.title == "Mohs surgery coverage check"


def test_printing_leaves_out_the_input_and_keeps_the_answer(browser, server, tmp_path):
    load(browser, server)
    paste(browser, (TESTS / "examples/trunk-small-nodular-denied.case.json").read_text())
    decided(browser, "NOT COVERED")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not browser.find_element(By.ID, "input").is_displayed()
        assert not browser.find_element(By.ID, "print").is_displayed()
        assert browser.find_element(By.ID, "decision").is_displayed() and browser.find_element(By.ID, "lines").is_displayed()
        pdf = browser.execute_cdp_cmd("Page.printToPDF", {})["data"]
        assert len(pdf) > 1000
        browser.save_screenshot(str(tmp_path / "printed.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_the_page_ships_in_the_package_and_loads_nothing_from_elsewhere(server):
    page = server.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert server.client.get(asset).status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")
    static = Path(__file__).resolve().parent.parent / "mohs_asp" / "serve" / "static"
    assert not any("://" in p.read_text() for p in static.iterdir())
