"""The leaderboard's HTML page in headless Chromium: the rows it renders, sorting by a click on a header
and by the URL fragment, undefined figures last, and nothing loaded from outside the file."""

from __future__ import annotations

import html.parser
import os
import re
import subprocess

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="headless Chromium is not installed at /usr/bin/chromium (Debian: apt-get install -y chromium); "
           ".ci/run installs it")


class Dom(html.parser.HTMLParser):
    """Tables of a dumped DOM: per table id, its attributes, headers and rows of (text, data-value)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.root: dict[str, str] = {}
        self.resources: list[str] = []
        self.csp = ""
        self._table: dict | None = None
        self._cell: list | None = None
        self._in_head = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if name in attrs:
                self.resources.append(attrs[name])
        if tag == "html":
            self.root = attrs
        elif tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            self.csp = attrs["content"]
        elif tag == "table":
            self._table = {"attrs": attrs, "headers": [], "rows": []}
            self.tables[attrs["id"]] = self._table
        elif self._table is not None and tag == "thead":
            self._in_head = True
        elif self._table is not None and tag == "tbody":
            self._in_head = False
        elif self._table is not None and tag == "tr" and not self._in_head:
            self._table["rows"].append([])
        elif self._table is not None and tag in ("th", "td"):
            self._cell = [tag, attrs, ""]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("th", "td") and self._cell is not None:
            kind, attrs, text = self._cell
            if kind == "th":
                self._table["headers"].append({"key": attrs["data-key"], "sort": attrs.get("aria-sort"),
                                               "text": text.strip()})
            else:
                self._table["rows"][-1].append((text.strip(), attrs.get("data-value")))
            self._cell = None

    def column(self, table: str, key: str, value: bool = False) -> list:
        index = [h["key"] for h in self.tables[table]["headers"]].index(key)
        return [row[index][1 if value else 0] for row in self.tables[table]["rows"]]


def render(url: str, tmp_path) -> Dom:
    """The DOM after the page's scripts ran, as headless Chromium dumps it."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "<table" in done.stdout, done.stderr[-3000:]
    return Dom(done.stdout)


def numbers(values: list[str | None]) -> list[float]:
    return [float(v) if v else float("nan") for v in values]


def test_the_page_renders_every_row_of_the_results(tiny_board, tmp_path):
    data, page = tiny_board["data"], tiny_board["out"] / "index.html"
    dom = render(page.as_uri(), tmp_path)
    assert dom.root.get("data-ready") == "true"  # the page's script ran without an error
    assert set(dom.tables) == {"leaderboard", "splits", "gaps", "macro", "families", "robustness", "envs"}
    for table in dom.tables:
        assert len(dom.tables[table]["rows"]) == len(data[table]), table
    assert dom.column("leaderboard", "agent") == [r["agent"] for r in data["leaderboard"]] == ["oracle", "random"]
    oracle = data["leaderboard"][0]
    assert dom.tables["leaderboard"]["rows"][0][[h["key"] for h in dom.tables["leaderboard"]["headers"]].index(
        "success_test")] == ("1.000 [1.00, 1.00]", "1.0")
    shown = [float(v) for v in dom.column("envs", "success", value=True)]
    assert shown == [r["success"] for r in data["envs"]]
    assert oracle["success_test"] == 1.0
    # self-contained: the only resources are inline images, and the policy forbids fetching anything
    assert dom.resources and all(r.startswith(("data:image/png;base64,", "#section-")) for r in dom.resources)
    assert "default-src 'none'" in dom.csp
    assert not re.search(r"(src|href)=\"(https?:)?//", page.read_text())


def test_the_url_fragment_sorts_a_table(tiny_board, tmp_path):
    data, page = tiny_board["data"], tiny_board["out"] / "index.html"
    dom = render(page.as_uri() + "#sort=success&desc&table=envs", tmp_path)
    values = numbers(dom.column("envs", "success", value=True))
    assert values == sorted(values, reverse=True) and values != [r["success"] for r in data["envs"]]
    assert sorted(values) == sorted(r["success"] for r in data["envs"])  # the same rows, reordered
    assert dom.tables["envs"]["attrs"]["data-sorted"] == "success:desc"
    assert [h["sort"] for h in dom.tables["envs"]["headers"] if h["key"] == "success"] == ["descending"]
    assert dom.column("leaderboard", "agent") == ["oracle", "random"]  # other tables keep their order


def test_clicking_a_header_sorts_and_a_second_click_reverses(tiny_board, tmp_path):
    page = (tiny_board["out"] / "index.html").read_text()
    clicks = """<script>
    function click(table, key, times) {
      var th = document.querySelector("#" + table + " th[data-key='" + key + "']");
      for (var i = 0; i < times; i++) { th.click(); }
    }
    click("leaderboard", "agent", 1);
    click("splits", "mean_steps", 1);
    click("envs", "env_id", 2);
    click("robustness", "targeted_asr", 1);
    </script>"""
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.replace("</body>", clicks + "\n</body>"))
    dom = render(clicked.as_uri(), tmp_path)
    assert dom.column("leaderboard", "agent") == ["oracle", "random"]  # text: A-Z on the first click
    assert dom.tables["leaderboard"]["attrs"]["data-sorted"] == "agent:asc"
    steps = numbers(dom.column("splits", "mean_steps", value=True))
    assert steps == sorted(steps, reverse=True)  # numbers: highest first on the first click
    envs = dom.column("envs", "env_id")
    assert envs == sorted(envs, reverse=True) and len(set(envs)) == 2  # second click: Z-A
    assert dom.tables["envs"]["attrs"]["data-sorted"] == "env_id:desc"
    targeted = dom.column("robustness", "targeted_asr")
    defined = [t for t in targeted if t != "n/a"]
    assert defined and "n/a" in targeted and targeted == defined + ["n/a"] * (len(targeted) - len(defined))
