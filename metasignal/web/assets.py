"""The pages' static files, served by the app itself under ``/static/`` (nothing from a CDN).

- ``web.css``: the stylesheet (narrow screens: tables scroll inside their region, secondary
  columns hide until "all columns" is ticked, navigation wraps);
- ``web.js``: table sorting (each column header is a button: Enter or Space sorts, again
  reverses; ``aria-sort`` tells assistive technology) and the "all columns" switches;
- ``plotly.min.js``: the plotly.js bundle of the installed ``plotly`` package (its
  ``package_data/plotly.min.js``, else ``plotly.offline.get_plotlyjs()``), read once.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import plotly

__all__ = ["CSS", "JS", "plotly_js"]

CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--accent:#0550ae;--bad:#a40e26;--ok:#116329}
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5em}
.skip:focus{left:.5em;z-index:10}
header{border-bottom:1px solid var(--line);background:#f6f8fa}
nav{display:flex;flex-wrap:wrap;align-items:center;gap:.5em 1.5em;padding:.6em 1em;max-width:1400px;margin:auto}
nav ul{display:flex;flex-wrap:wrap;gap:.3em 1em;list-style:none;margin:0;padding:0}
nav .brand{font-weight:700;text-decoration:none;color:var(--fg)}
nav .account{margin-left:auto;display:flex;flex-wrap:wrap;gap:.5em;align-items:center}
main{padding:1em;max-width:1400px;margin:auto}
main:focus{outline:none}
h1{font-size:1.6em;margin:.3em 0 .6em}
h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,.scroll:focus-visible{outline:3px solid #fb8500;outline-offset:2px}
footer{color:var(--muted);font-size:.85em;padding:1em;max-width:1400px;margin:auto}
.scroll{overflow-x:auto;max-width:100%;border:1px solid var(--line);border-radius:4px}
table.data{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.data caption{text-align:left;padding:.4em .6em;font-weight:600}
table.data caption .hint{font-weight:400;color:var(--muted);font-size:.85em}
table.data th,table.data td{padding:.3em .6em;border-top:1px solid var(--line);text-align:left;white-space:nowrap}
table.data td.wrap{white-space:normal}
table.data thead th{background:#f6f8fa;position:sticky;top:0}
table.data tbody th{font-weight:600}
table.data .num{text-align:right}
table.data th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit;text-align:inherit}
table.data th[aria-sort=ascending] button::after{content:" \\25B2"}
table.data th[aria-sort=descending] button::after{content:" \\25BC"}
table.data .bad{color:var(--bad);font-weight:600}
table.data .ok{color:var(--ok)}
.more{display:none}
table.wide .more{display:table-cell}
@media (min-width:1500px){.more{display:table-cell}.wide-switch{display:none}}
.wide-switch{display:inline-block;margin:.3em 0;font-size:.9em}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(13em,1fr));gap:.5em 1em;margin:0 0 1em}
dl.facts div{border:1px solid var(--line);border-radius:4px;padding:.4em .6em}
dl.facts dt{color:var(--muted);font-size:.85em}
dl.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
figure.chart{margin:1em 0;border:1px solid var(--line);border-radius:4px;padding:.3em;min-height:200px}
figure.chart figcaption{color:var(--muted);font-size:.85em;padding:.2em .4em}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;padding:.5em .8em}
.error{background:#ffebe9;border:1px solid var(--bad);border-radius:4px;padding:.5em .8em}
.private{border-left:4px solid var(--accent);padding-left:.8em}
form.stack{display:grid;gap:.8em;max-width:32em}
form.stack label{display:grid;gap:.2em;font-weight:600}
form.inline{display:inline}
input,select,button{font:inherit}
input[type=password],input[type=text],select{padding:.35em;border:1px solid var(--line);border-radius:4px;width:100%}
button{padding:.3em .9em;border:1px solid var(--line);border-radius:4px;background:#f6f8fa;cursor:pointer}
.empty{color:var(--muted)}
@media (max-width:640px){body{font-size:15px}main{padding:.6em}table.data th,table.data td{padding:.25em .4em}h1{font-size:1.3em}}
"""

JS = r"""
(function () {
  "use strict";
  function cellValue(row, index) {
    var cell = row.children[index];
    return cell ? cell.getAttribute("data-value") : "";
  }
  function sortBy(table, header) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var index = headers.indexOf(header);
    var numeric = header.getAttribute("data-type") === "num";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    if (header.getAttribute("aria-sort") === "none" && numeric) { ascending = false; }
    headers.forEach(function (h) { if (h.hasAttribute("aria-sort")) { h.setAttribute("aria-sort", "none"); } });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      if (x === "" && y === "") { return 0; }
      if (x === "") { return 1; }          // missing values last, either way
      if (y === "") { return -1; }
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable thead th").forEach(function (header) {
      var button = header.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () { sortBy(header.closest("table"), header); });
    });
    document.querySelectorAll("input[data-wide-for]").forEach(function (box) {
      var table = document.getElementById(box.getAttribute("data-wide-for"));
      if (!table) { return; }
      box.addEventListener("change", function () {
        table.classList.toggle("wide", box.checked);
        window.dispatchEvent(new Event("resize"));
      });
    });
  });
})();
"""


@lru_cache(maxsize=1)
def plotly_js() -> tuple[bytes, str]:
    """(plotly.js bundle, its ETag): the installed package's file, read once."""
    bundled = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if bundled.is_file():
        data = bundled.read_bytes()
    else:  # a plotly without the file: the same bundle through its offline API
        from plotly.offline import get_plotlyjs

        data = get_plotlyjs().encode("utf-8")
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
