"""The leaderboard's tables, laid out once and written two ways: Markdown, and one static HTML page.

The HTML page is self-contained (inline CSS, inline JavaScript, plots as data URIs, and a content
security policy that forbids loading anything else). Every table sorts by a click on a column
header (numbers best-first on the first click, text A–Z; click again to reverse; Enter or Space on
a focused header does the same), and the page honours a URL fragment, so a sorted view can be
linked: ``index.html#sort=success_test&desc`` (the ranking table) or
``index.html#sort=pdr&desc&table=robustness``. Undefined figures sort last either way.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

SPLIT_NAMES = {"train": "train", "valid": "valid", "test": "test", "test_unseen": "test_unseen"}
SIDE_NAMES = {"held_out": "held-out", "train": "train", "mixed": "mixed"}


@dataclasses.dataclass
class Column:
    key: str
    header: str
    kind: str = "text"  #: text | int | figure (a value with its 95% interval) | list
    help: str = ""


@dataclasses.dataclass
class Table:
    id: str
    title: str
    note: str
    columns: list[Column]
    rows: list[Mapping[str, Any]]


FIGURE_HELP = {
    "success": "share of episodes won", "mean_return": "mean episode return", "mean_steps": "mean steps per episode",
    "invalid_rate": "invalid actions / steps", "gap": "success on train minus success on the other split",
    "sr_clean": "success without attack, same tasks", "sr_attacked": "success under the attack",
    "pdr": "performance drop rate: 1 - SR_attacked / SR_clean",
    "asr": "attack success rate: clean successes lost under attack / clean successes",
    "targeted_asr": "share of attacked episodes whose planted injection was carried out (judged from state)",
    "nrp": "normalised robust performance: SR_clean x (1 - ASR)",
    "rsr": "robust success rate: share of tasks won under every one of the K perturbation samples",
    "edit_fraction": "characters edited / characters of the clean text", "validity":
    "perturbed admissible actions the env still reads as the same command", "queries_per_turn":
    "agent queries the adversary spent per perturbed turn", "macro_pdr": "mean PDR over the attack families",
}


def _figure(key: str, header: str) -> Column:
    return Column(key, header, "figure", FIGURE_HELP.get(key, ""))


def tables(data: Mapping[str, Any]) -> list[Table]:
    """Every table of a leaderboard's results, in reading order."""
    suite = data["suite"]["resolved"]
    splits, attack_splits = suite["splits"], suite["attack_splits"]
    sides = [s for s in ("held_out", "train", "mixed") if any(r["attack_split"] == s for r in data["macro"])]
    ranking = [Column("rank", "rank", "int"), Column("agent", "agent"), Column("kind", "kind"),
               Column("model", "model")]
    if any(r.get("trials", 1) > 1 for r in data["leaderboard"]):  # success within K tries is another protocol
        ranking.append(Column("trials", "trials", "int", "tries at each task (success within that many trials, "
                                                         "with the env's feedback after each failed one)"))
    ranking += [Column(f"success_{s}", f"SR {s}", "figure", f"success on {s}") for s in splits]
    ranking += [Column(f"gap_{r}", f"gap train-{r}", "figure", f"success on train minus success on {r}")
                for r in ("valid", "test", "test_unseen") if any(g["split"] == r for g in data["gaps"])]
    ranking += [Column(f"macro_pdr_{side}_{s}", f"PDR {SIDE_NAMES[side]} @{s}", "figure",
                       f"macro PDR of the {SIDE_NAMES[side]} attacks on {s}") for s in attack_splits for side in sides]
    clean = [_figure("success", "success"), _figure("mean_return", "return"), _figure("mean_steps", "steps"),
             _figure("invalid_rate", "invalid")]
    attack_figures = [_figure("sr_clean", "SR clean"), _figure("sr_attacked", "SR attacked"), _figure("pdr", "PDR"),
                      _figure("asr", "ASR"), _figure("targeted_asr", "targeted ASR"), _figure("nrp", "NRP"),
                      _figure("rsr", "RSR@K")]
    robustness_rows = [{**r, "attack_split": SIDE_NAMES.get(r["attack_split"], r["attack_split"])}
                       for r in data["robustness"]]
    family_rows = [{**r, "attack_split": SIDE_NAMES.get(r["attack_split"], r["attack_split"])} for r in data["families"]]
    macro_rows = [{**r, "attack_split": SIDE_NAMES.get(r["attack_split"], r["attack_split"])} for r in data["macro"]]
    out = [
        Table("leaderboard", "Ranking", f"One row per agent, ranked by success on {_headline(splits)}. SR: success "
              "rate; gap: train minus that split; PDR: macro performance drop rate of the attacks of one side of "
              "the train / held-out split on the split after @.", ranking, data["leaderboard"]),
        Table("splits", "Success by split", "Every env of the split pooled (each task weighs the same).",
              [Column("agent", "agent"), Column("split", "split"), Column("tasks", "tasks", "int"),
               Column("episodes", "episodes", "int"), *clean], data["splits"]),
        Table("gaps", "Generalisation gaps", "Success on train minus success on the other split, over the envs that "
              "have both; the interval is the bootstrap of the difference.",
              [Column("agent", "agent"), Column("gap_of", "gap"), _figure("gap", "value"), Column("envs", "envs", "list")],
              data["gaps"]),
    ]
    if data["robustness"]:
        out += [
            Table("macro", "Macro PDR", "Mean over attack families of each family's PDR, per side of the train / "
                  "held-out attack split.", [Column("agent", "agent"), Column("split", "split"),
                                             Column("attack_split", "attacks"), _figure("macro_pdr", "macro PDR"),
                                             Column("families", "families", "list")], macro_rows),
            Table("families", "Robustness by attack family", "Means over the family's attacks.",
                  [Column("agent", "agent"), Column("split", "split"), Column("family", "family"),
                   Column("attack_split", "attacks"), *attack_figures[1:]], family_rows),
            Table("robustness", "Robustness by attack", "Clean and attacked runs of the same tasks, paired; RSR@K over "
                  "the attack's K perturbation samples.",
                  [Column("agent", "agent"), Column("split", "split"), Column("attack", "attack"),
                   Column("family", "family"), Column("attack_split", "side"), Column("rsr_k", "K", "int"),
                   *attack_figures, _figure("edit_fraction", "edit frac."), _figure("validity", "validity"),
                   _figure("queries_per_turn", "queries/turn"), Column("operators", "operators", "list")],
                  robustness_rows),
        ]
    out.append(Table("envs", "Per env", "Each env and split on its own.",
                     [Column("agent", "agent"), Column("env_id", "env"), Column("split", "split"),
                      Column("tasks", "tasks", "int"), *clean], data["envs"]))
    return out


def _headline(splits: Sequence[str]) -> str:
    for split in ("test_unseen", "test", "valid", "train"):
        if split in splits:
            return split
    return splits[0]


def _undefined(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def text_of(row: Mapping[str, Any], column: Column) -> str:
    """A cell as text: a figure as ``0.750 [0.50, 0.92]``, an undefined one as ``n/a``."""
    value = row.get(column.key)
    if column.kind == "figure":
        if _undefined(value):
            return "n/a"
        low, high = row.get(f"{column.key}_ci95") or (None, None)
        interval = "" if _undefined(low) or _undefined(high) else f" [{low:.2f}, {high:.2f}]"
        return f"{value:.3f}{interval}"
    if column.kind == "list":
        return ", ".join(str(v) for v in value or [])
    if _undefined(value):
        return ""
    return str(value)


def sort_value(row: Mapping[str, Any], column: Column) -> str:
    """What the page sorts a cell by: the number for numeric columns ('' when undefined)."""
    value = row.get(column.key)
    if column.kind in ("figure", "int"):
        return "" if _undefined(value) else repr(float(value))
    return text_of(row, column)


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(_md(c.header) for c in table.columns) + " |",
             "|" + "|".join("---:" if c.kind in ("figure", "int") else "---" for c in table.columns) + "|"]
    lines += ["| " + " | ".join(_md(text_of(row, c)) for c in table.columns) + " |" for row in table.rows]
    return "\n".join(lines)


def _meta_lines(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    seeds = data["seeds"]
    commit = data.get("git_commit") or "unknown"
    if data.get("git_dirty"):
        commit += " (with uncommitted changes)"
    first_last = {f"{min(v)}..{max(v)}" for v in seeds["task_seeds"].values()}
    return [
        ("command", data["command"]), ("sparring", str(data["sparring_version"])), ("commit", commit),
        ("created", data["created"]), ("task seeds", ", ".join(sorted(first_last))),
        ("evaluation seeds", ", ".join(str(s) for s in seeds["evaluation_seeds"])),
        ("intervals", f"95% percentile bootstrap over tasks, {seeds['bootstrap_resamples']} resamples, "
                      f"seed {seeds['bootstrap_seed']}"),
        ("cells", f"{data['run']['cells']} ({data['run']['cached']} from the cache, {data['run']['evaluated']} "
                  f"evaluated, {data['run']['workers']} workers, {data['run']['seconds']:.1f} s)"),
    ]


def markdown(data: Mapping[str, Any]) -> str:
    """The whole leaderboard as Markdown."""
    suite = data["suite"]["resolved"]
    parts = [f"# Leaderboard: {suite['name']}", ""]
    if suite.get("description"):
        parts += [suite["description"], ""]
    parts += [f"- **{k}**: `{v}`" if k == "command" else f"- **{k}**: {v}" for k, v in _meta_lines(data)]
    for table in tables(data):
        parts += ["", f"## {table.title}", "", table.note, "", markdown_table(table)]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1400px;
       padding: 0 1rem; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.meta { color: #555; font-size: .9rem; } .meta dt { font-weight: 600; float: left; clear: left; width: 9rem; }
.meta dd { margin-left: 9.5rem; } code { font-size: .85rem; background: #f3f3f5; padding: 0 .2rem; }
nav a { margin-right: 1rem; } .note { color: #555; max-width: 70rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e2e2e6; padding: .3rem .6rem; text-align: left; white-space: nowrap; }
td.num, th.num { text-align: right; }
th { background: #f6f6f8; cursor: pointer; user-select: none; position: sticky; top: 0; }
th:hover, th:focus { background: #e9e9f0; outline: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: .7rem; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: .7rem; }
tbody tr:nth-child(even) { background: #fafafb; }
.ci { color: #777; font-size: .85em; } .na { color: #aaa; }
figure { display: inline-block; margin: 1rem 1rem 0 0; } figure img { max-width: 100%; border: 1px solid #eee; }
"""

SCRIPT = """
(function () {
  "use strict";
  function header(table, key) {
    var cells = table.tHead.rows[0].cells;
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].getAttribute("data-key") === key) { return i; }
    }
    return -1;
  }
  function valueOf(row, index, numeric) {
    var raw = row.cells[index].getAttribute("data-value");
    if (numeric) { return raw === null || raw === "" ? NaN : parseFloat(raw); }
    return (raw === null ? row.cells[index].textContent : raw).toLowerCase();
  }
  function sortTable(table, key, descending) {
    var index = header(table, key);
    if (index < 0) { return false; }
    var cells = table.tHead.rows[0].cells;
    var numeric = cells[index].getAttribute("data-type") === "number";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var order = new Map();
    rows.forEach(function (row, i) { order.set(row, i); });
    rows.sort(function (a, b) {
      var x = valueOf(a, index, numeric), y = valueOf(b, index, numeric);
      if (numeric) {
        var xu = isNaN(x), yu = isNaN(y);
        if (xu !== yu) { return xu ? 1 : -1; }
        if (!xu && x !== y) { return descending ? y - x : x - y; }
      } else {
        var c = x.localeCompare(y);
        if (c !== 0) { return descending ? -c : c; }
      }
      return order.get(a) - order.get(b);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var j = 0; j < cells.length; j++) {
      cells[j].setAttribute("aria-sort", j === index ? (descending ? "descending" : "ascending") : "none");
    }
    table.setAttribute("data-sorted", key + (descending ? ":desc" : ":asc"));
    return true;
  }
  function onHeader(event) {
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") { return; }
    event.preventDefault();
    var th = event.currentTarget;
    var table = th.closest("table");
    var state = th.getAttribute("aria-sort");
    var descending = state === "ascending" ? true : state === "descending" ? false
      : th.getAttribute("data-type") === "number";
    sortTable(table, th.getAttribute("data-key"), descending);
  }
  function fromFragment() {
    var fragment = window.location.hash.replace(/^#/, "");
    if (fragment.indexOf("sort=") !== 0) { return; }
    var params = new URLSearchParams(fragment);
    var table = document.getElementById(params.get("table") || "leaderboard");
    if (table && table.classList.contains("sortable")) { sortTable(table, params.get("sort"), params.has("desc")); }
  }
  var tables = document.querySelectorAll("table.sortable");
  for (var t = 0; t < tables.length; t++) {
    var ths = tables[t].tHead.rows[0].cells;
    for (var h = 0; h < ths.length; h++) {
      ths[h].addEventListener("click", onHeader);
      ths[h].addEventListener("keydown", onHeader);
    }
  }
  window.addEventListener("hashchange", fromFragment);
  fromFragment();
  document.documentElement.setAttribute("data-ready", "true");
})();
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _cell_html(row: Mapping[str, Any], column: Column) -> str:
    numeric = column.kind in ("figure", "int")
    attrs = f' data-value="{html.escape(sort_value(row, column), quote=True)}"'
    classes = ' class="num"' if numeric else ""
    if column.kind == "figure":
        value = row.get(column.key)
        if _undefined(value):
            return f'<td{classes}{attrs}><span class="na">n/a</span></td>'
        low, high = row.get(f"{column.key}_ci95") or (None, None)
        interval = "" if _undefined(low) or _undefined(high) else \
            f' <span class="ci">[{low:.2f}, {high:.2f}]</span>'
        return f"<td{classes}{attrs}>{value:.3f}{interval}</td>"
    return f"<td{classes}{attrs}>{html.escape(text_of(row, column))}</td>"


def _header_html(column: Column) -> str:
    numeric = column.kind in ("figure", "int")
    attrs = [f'data-key="{html.escape(column.key, quote=True)}"', f'data-type="{"number" if numeric else "text"}"',
             'aria-sort="none"', 'tabindex="0"', 'scope="col"']
    if numeric:
        attrs.append('class="num"')
    if column.help:
        attrs.append(f'title="{html.escape(column.help, quote=True)}"')
    return f"<th {' '.join(attrs)}>{html.escape(column.header)}</th>"


def html_table(table: Table) -> str:
    head = "".join(_header_html(c) for c in table.columns)
    body = "\n".join("<tr>" + "".join(_cell_html(row, c) for c in table.columns) + "</tr>" for row in table.rows)
    return (f'<div class="scroll"><table id="{html.escape(table.id, quote=True)}" class="sortable">'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>")


def html_page(data: Mapping[str, Any], plots: Mapping[str, bytes] | None = None) -> str:
    """The leaderboard as one self-contained HTML page; ``plots`` are PNG bytes, shown inline."""
    suite = data["suite"]["resolved"]
    all_tables = tables(data)
    title = f"sparring leaderboard: {suite['name']}"
    meta = "".join(f"<dt>{html.escape(k)}</dt><dd>{'<code>' + html.escape(v) + '</code>' if k == 'command' else html.escape(v)}"
                   f"</dd>" for k, v in _meta_lines(data))
    nav = "".join(f'<a href="#section-{t.id}">{html.escape(t.title)}</a>' for t in all_tables)
    sections = "\n".join(
        f'<section id="section-{t.id}"><h2>{html.escape(t.title)}</h2><p class="note">{html.escape(t.note)}</p>'
        f"{html_table(t)}</section>" for t in all_tables)
    figures = "".join(
        f'<figure><img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(alt)}</figcaption></figure>'
        for alt, png in (("Success by split, per agent (95% intervals)", (plots or {}).get("success_plot")),
                         ("PDR by attack family, per agent (95% intervals)", (plots or {}).get("pdr_plot")))
        if png)
    description = f'<p class="note">{html.escape(suite["description"])}</p>' if suite.get("description") else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1>{description}<dl class="meta">{meta}</dl>
<nav>{nav}</nav></header>
<main>
{sections}
{f'<section id="section-plots"><h2>Plots</h2>{figures}</section>' if figures else ''}
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


__all__ = ["Column", "Table", "html_page", "html_table", "markdown", "markdown_table", "tables", "text_of"]


def console_table(data: Mapping[str, Any]) -> str:
    """The headline leaderboard as plain text for a terminal: rank, agent, success per split with
    the interval of the headline split, generalisation gaps and the macro PDR of every attack side
    and split that has one."""
    from sparring.agents.evaluate import format_table
    from sparring.benchmarks.scoreboard import headline_split

    splits = data["suite"]["resolved"]["splits"]
    headline = headline_split(splits)
    columns = [("rank", "rank"), ("agent", "agent")] + [(f"success_{s}", f"SR {s}") for s in splits]
    columns.append((f"success_{headline}_ci95", f"95% CI ({headline})"))
    if data["gaps"]:
        first = data["gaps"][0]["agent"]
        columns += [(f"gap_{g['split']}", f"gap train-{g['split']}") for g in data["gaps"] if g["agent"] == first]
    for side in ("held_out", "train", "mixed"):
        for split in data["suite"]["resolved"]["attack_splits"]:
            if any(f"macro_pdr_{side}_{split}" in row for row in data["leaderboard"]):
                columns.append((f"macro_pdr_{side}_{split}", f"PDR {side.replace('_', '-')} @{split}"))
    return format_table(data["leaderboard"], columns)
