"""Drives Minder's web page in a real headless Chromium (Debian's chromium and chromedriver,
Selenium from PyPI) against a running minderd. Called by WebPageTests with a JSON argument:

  base      the page's URL, ending in /
  api       the control API's URL for checks from outside the browser (same server)
  processes every namespec the table must list
  sleeper   a running process to stop, start and restart by clicking
  xss       a process whose name is markup
  talker    a process (cat) whose log view is followed while it is written to (its stdin)
  evil_port a free port for a page of another origin

Exits 0 when every check passed; otherwise prints what failed and exits 1."""

import http.server
import json
import sys
import threading
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# Generous: these catch hangs, not slowness (the bench measures the delays).
BOUND = 30


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def api(config, method, path, body=None):
    request = urllib.request.Request(config["api"] + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=BOUND) as reply:
        return json.loads(reply.read() or b"null")


def status(config, name):
    return api(config, "GET", "/api/v1/processes/" + urllib.request.quote(name, safe=""))[0]


def no_dialog(driver):
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError("a dialog opened: %r" % text)


def wait(driver, what, condition):
    try:
        return WebDriverWait(driver, BOUND, poll_frequency=0.05).until(lambda d: condition())
    except TimeoutException:
        raise AssertionError("timed out waiting for " + what)


def row_state(driver, name):
    for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-namespec]"):
        if row.get_attribute("data-namespec") == name:
            return row.find_element(By.CSS_SELECTOR, "td.state").text
    return None


def click(driver, name, action):
    """The row's actions menu, then the action in it."""
    for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-namespec]"):
        if row.get_attribute("data-namespec") == name:
            row.find_element(By.CSS_SELECTOR, "button.menu").click()
            driver.find_element(By.CSS_SELECTOR, '#menu button[data-action="%s"]' % action).click()
            assert not driver.find_element(By.ID, "menu").is_displayed(), "the menu stayed open"
            return
    raise AssertionError("no row for " + name)


def status_page(driver, config):
    driver.get(config["base"] + "index.html")
    wait(driver, "the live stream", lambda: driver.find_element(By.ID, "live").text == "live")
    listed = [r.get_attribute("data-namespec") for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-namespec]")]
    assert sorted(listed) == sorted(config["processes"]), "listed %r" % listed
    for name in config["processes"]:
        assert row_state(driver, name) == status(config, name)["statename"], name

    # The markup in a name is text: no image element, no dialog, the name shown as it is.
    assert driver.find_elements(By.CSS_SELECTOR, "img") == [], "an <img> from a name"
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "td.name a")]
    assert config["xss"] in names or config["xss"].replace("\t", " ") in names, "names shown: %r" % names
    no_dialog(driver)

    # Stop, start, restart by clicking: the row changes without a reload of the page.
    sleeper = config["sleeper"]
    driver.execute_script("window.stillThisPage = true")
    click(driver, sleeper, "stop")
    wait(driver, "STOPPED on the page", lambda: row_state(driver, sleeper) == "STOPPED")
    assert status(config, sleeper)["statename"] == "STOPPED"
    click(driver, sleeper, "start")
    wait(driver, "RUNNING on the page", lambda: row_state(driver, sleeper) == "RUNNING")
    pid = status(config, sleeper)["pid"]
    click(driver, sleeper, "restart")
    wait(driver, "a new pid", lambda: status(config, sleeper)["pid"] not in (0, pid))
    wait(driver, "RUNNING again with the new pid", lambda: row_state(driver, sleeper) == "RUNNING"
         and ("pid %d," % status(config, sleeper)["pid"]) in driver.find_element(
             By.CSS_SELECTOR, 'tr[data-namespec="%s"] td.desc' % sleeper).text)
    assert driver.execute_script("return window.stillThisPage === true"), "the page reloaded"
    wait(driver, "the action's message", lambda: "restarted" in driver.find_element(By.ID, "message").text)

    # The filter box hides what does not match.
    driver.find_element(By.ID, "filter").send_keys(sleeper)
    visible = [r.get_attribute("data-namespec") for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-namespec]") if r.is_displayed()]
    assert visible == [sleeper], "filtered: %r" % visible
    no_dialog(driver)


def log_view(driver, config):
    talker = config["talker"]
    api(config, "POST", "/api/v1/processes/%s/stdin" % talker, {"data": "<script>alert(2)</script> first line\n"})
    driver.get(config["base"] + "tail.html?processname=" + talker)
    log = lambda: driver.find_element(By.ID, "log").text
    wait(driver, "the first line", lambda: "first line" in log())
    # Once the follow stream is open, a line written after it can only come through it.
    wait(driver, "the follow stream", lambda: driver.find_element(By.ID, "log").get_attribute("data-following") == "true")
    api(config, "POST", "/api/v1/processes/%s/stdin" % talker, {"data": "<script>alert(3)</script> written later\n"})
    wait(driver, "the line written after the page opened", lambda: "written later" in log())
    assert "<script>alert(3)</script> written later" in log(), log()
    assert driver.find_elements(By.CSS_SELECTOR, "#log script") == [], "markup in the log became elements"
    assert driver.find_elements(By.CSS_SELECTOR, "script:not([src])") == [], "an inline script"
    no_dialog(driver)


def cross_site(driver, config):
    sleeper = config["sleeper"]
    pid = status(config, sleeper)["pid"]
    target = config["base"] + "index.html"
    evil = """<!doctype html><body>
      <form method="post" action="%s"><input name="processname" value="%s"><input name="action" value="stop"></form>
      <script>fetch("%sapi/v1/processes/%s/stop", {method: "POST", mode: "no-cors", body: "{}", headers: {"Content-Type": "text/plain"}})
        .finally(() => document.forms[0].submit());</script>""" % (target, sleeper, config["base"], sleeper)

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(evil.encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", config["evil_port"]), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        driver.get("http://127.0.0.1:%d/" % config["evil_port"])
        wait(driver, "the form to be sent", lambda: driver.current_url.startswith(config["base"]))
        assert "refused" in driver.page_source, driver.page_source
    finally:
        server.shutdown()
    after = status(config, sleeper)
    assert after["statename"] == "RUNNING" and after["pid"] == pid, "a cross-site request acted: %r" % after

    # A bare GET action from the browser (a link, a bookmark) asks first.
    driver.get(config["base"] + "index.html?processname=%s&action=stop" % sleeper)
    button = driver.find_element(By.CSS_SELECTOR, "form.confirm button")
    after = status(config, sleeper)
    assert after["statename"] == "RUNNING" and after["pid"] == pid, "a GET acted: %r" % after
    button.click()
    wait(driver, "the status page with the message",
         lambda: "Process %s stopped" % sleeper in driver.find_element(By.ID, "message").text)
    assert status(config, sleeper)["statename"] == "STOPPED"


def main():
    config = json.loads(sys.argv[1])
    driver = browser()
    try:
        for check in (status_page, log_view, cross_site):
            check(driver, config)
            print("passed:", check.__name__, flush=True)
    except AssertionError as failure:
        print("FAILED:", failure, flush=True)
        sys.exit(1)
    finally:
        driver.quit()


main()
