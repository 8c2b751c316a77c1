"""The dashboards in a headless Chromium, on one real demo search (``demo_search``, shared by the tests).

First the Ray dashboard of the search while it runs (token authentication on), then, once it has ended,
TensorBoard's HParams page and optuna-dashboard's study served by ``python -m raycxr.dashboard``.
Every test leaves screenshots in ``$RAYCXR_ARTIFACTS/dashboard/`` (default ``tests/artifacts/dashboard/``),
also when it fails.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest

from tests.dashboard.conftest import SEARCH_NAME, DemoSearch, RunningDashboards, artifacts_dir, dashboards

pytestmark = pytest.mark.slow
T = TypeVar("T")

#: Every element matching a CSS selector, inside shadow roots too (TensorBoard's HParams page is Polymer).
DEEP_ALL = """
function deepAll(root, selector) {
  const found = [];
  const stack = [root];
  while (stack.length) {
    const node = stack.pop();
    found.push(...node.querySelectorAll(selector));
    for (const el of node.querySelectorAll('*')) if (el.shadowRoot) stack.push(el.shadowRoot);
  }
  return found;
}
"""
#: The HParams table view (a vaadin-grid) as text: its header row and body rows, cell by cell.
HPARAMS_TABLE = (
    DEEP_ALL
    + """
const views = deepAll(document, 'tf-hparams-table-view');
if (!views.length || !views[0].shadowRoot) return null;
const grid = views[0].shadowRoot.querySelector('vaadin-grid');
if (!grid || !grid.shadowRoot) return null;
const text = cell => {
  const slot = cell.querySelector('slot');
  return (slot ? slot.assignedNodes().map(n => n.textContent).join(' ') : cell.textContent).trim();
};
const rows = part => Array.from(grid.shadowRoot.querySelectorAll(part + ' tr'))
  .map(tr => Array.from(tr.querySelectorAll('th, td')).map(text));
return {head: rows('thead')[0] || [], body: rows('tbody').filter(row => row.some(cell => cell))};
"""
)
#: Tick every hyperparameter and metric in the HParams query pane (TensorBoard shows the first few only).
SHOW_ALL_COLUMNS = (
    DEEP_ALL
    + """
for (const box of deepAll(document, 'paper-checkbox.hparam-checkbox, paper-checkbox.metric-checkbox'))
  if (!box.checked) box.click();
"""
)


def _shot(driver: Any, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


@contextlib.contextmanager
def screenshot(driver: Any, name: str) -> Iterator[None]:
    """Save a screenshot of the page when the block ends, whether its assertions held or not."""
    try:
        yield
    finally:
        _shot(driver, name)


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    """The first truthy value of ``condition()``, polled every half second for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.5)


def _page_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _http(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- the Ray dashboard of the running search ---------------------------------------------------------------

#: The actor class of a Tune function trainable's trial (``raycxr.tune`` trains in the trial).
TRIAL_ACTOR_CLASS = "ImplicitFunc"


def _alive_trial_actors(url: str, token: str) -> list[str]:
    import json

    status, body = _http(f"{url}/api/v0/actors?limit=1000", {"Authorization": f"Bearer {token}"})
    assert status == 200, (status, body[:300])
    actors = json.loads(body)["data"]["result"]["result"]
    return [a["actor_id"] for a in actors if a["class_name"] == TRIAL_ACTOR_CLASS and a["state"] == "ALIVE"]


def test_ray_dashboard_of_a_running_search_shows_its_trial_actors(browser: Any, demo_search: DemoSearch) -> None:
    from selenium.webdriver.common.by import By

    url = demo_search.ray_dashboard
    # The token of a local Ray, as its dashboard's login dialog says: `ray get-auth-token` (same environment
    # as the search: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token).
    ray_cli = Path(sys.executable).parent / "ray"
    token = subprocess.run(
        [str(ray_cli), "get-auth-token"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert token

    # Token authentication is on: the API refuses a request without the token, or with a wrong one.
    assert _http(f"{url}/api/v0/actors")[0] == 401
    assert _http(f"{url}/api/v0/actors", {"Authorization": "Bearer not-the-token"})[0] == 403
    # With it (an Authorization: Bearer header, as Ray's own clients send it), the trial actors are listed.
    actors = wait_for(lambda: _alive_trial_actors(url, token), 150, f"ALIVE {TRIAL_ACTOR_CLASS} actors")
    assert demo_search.process.poll() is None, "the search ended before its dashboard was looked at"

    # In the browser, the Actors page first asks for the token ...
    browser.get(f"{url}/#/actors")
    with screenshot(browser, "ray-dashboard-token-dialog"):
        field = wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, "div[role='dialog'] input"), 60, "the token dialog"
        )[0]
        assert "Authentication Token Required" in _page_text(browser)
        assert TRIAL_ACTOR_CLASS not in _page_text(browser)
        field.send_keys(token)
    # ... which the dashboard turns into its HttpOnly session cookie (POST /api/authenticate) ...
    browser.find_element(
        By.XPATH, "//div[@role='dialog']//button[contains(translate(., 'SUBMIT', 'submit'), 'submit')]"
    ).click()
    with screenshot(browser, "ray-dashboard-actors"):
        wait_for(lambda: browser.get_cookie("ray-authentication-token"), 30, "the dashboard's session cookie")
        # ... and the page lists the running search's trial actors.
        wait_for(
            lambda: (
                TRIAL_ACTOR_CLASS in (text := _page_text(browser))
                and "ALIVE" in text
                and any(a in text for a in actors)
            ),
            90,
            f"an ALIVE {TRIAL_ACTOR_CLASS} actor of the search on the Actors page",
        )
    assert browser.get_cookie("ray-authentication-token")["value"] == token


# --- TensorBoard and optuna-dashboard on the finished search ----------------------------------------------


@pytest.fixture(scope="module")
def served(finished_experiment: Path) -> Iterator[RunningDashboards]:
    """``python -m raycxr.dashboard`` on the finished demo search, for this module's tests."""
    with dashboards(finished_experiment) as running:
        yield running
    assert running.process.returncode == 0 and running.output.close()[-1] == "stopped"


def _trials(experiment: Path) -> pd.DataFrame:
    trials = pd.read_csv(experiment / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "completed").all(), trials
    return trials


def test_tensorboard_hparams_lists_every_trial(
    browser: Any, finished_experiment: Path, served: RunningDashboards
) -> None:
    trials = _trials(finished_experiment)
    params = [c.removeprefix("param_") for c in trials.columns if c.startswith("param_")]
    metric = "ray/tune/best_val_f1_macro"
    names = {f"trial_{t}" for t in trials["trial_id"]}
    browser.get(served.tensorboard_url + "#hparams")
    with screenshot(browser, "tensorboard-hparams"):
        wait_for(
            lambda: (table := browser.execute_script(HPARAMS_TABLE)) and {r[0] for r in table["body"]} == names,
            120,
            f"the HParams table with the trials {sorted(names)}",
        )
        browser.execute_script(SHOW_ALL_COLUMNS)
        table = wait_for(
            lambda: (t := browser.execute_script(HPARAMS_TABLE)) and {*params, metric} <= set(t["head"]) and t,
            30,
            f"the columns {params} and {metric}",
        )
        assert f"Number of matching session groups: {len(trials)}" in _page_text(browser)
    rows = {row[0]: dict(zip(table["head"], row)) for row in table["body"]}
    for trial in trials.itertuples():
        row = rows[f"trial_{trial.trial_id}"]
        for name in params:  # TensorBoard shows 5 significant digits
            assert float(row[name]) == pytest.approx(getattr(trial, f"param_{name}"), rel=1e-4), (trial.trial_id, name)
        assert float(row[metric]) == pytest.approx(trial.best_val_f1_macro, rel=1e-4, abs=1e-5)


def test_optuna_dashboard_shows_the_trials_and_importances(
    browser: Any, finished_experiment: Path, served: RunningDashboards
) -> None:
    from selenium.webdriver.common.by import By

    trials = _trials(finished_experiment)
    params = [c.removeprefix("param_") for c in trials.columns if c.startswith("param_")]
    assert served.optuna_url.endswith("/dashboard/studies/1")  # the experiment's study, by its name
    browser.get(served.optuna_url)
    with screenshot(browser, "optuna-dashboard-study"):
        wait_for(lambda: f"{SEARCH_NAME} (id=1)" in _page_text(browser), 60, "the study page")
        card = wait_for(
            lambda: browser.find_elements(
                By.XPATH,
                "//*[normalize-space(text())='Hyperparameter Importance']/ancestor::*[contains(@class, 'MuiCard')][1]",
            ),
            60,
            "the Hyperparameter Importance card",
        )[0]
        browser.execute_script("arguments[0].scrollIntoView();", card)
        wait_for(lambda: all(p in card.text for p in params), 60, f"the importances of {params}")
    browser.get(served.optuna_url + "/trials")
    with screenshot(browser, "optuna-dashboard-trials"):
        wait_for(lambda: f"{len(trials)} Trials" in _page_text(browser), 60, f"'{len(trials)} Trials'")
        lines = _page_text(browser).splitlines()
        for number in range(len(trials)):
            assert lines[lines.index(f"Trial {number}") + 1] == "Complete"
