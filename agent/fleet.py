"""`guestprep report merge`: many hosts' JSON reports in one fleet summary.

A fleet tool (the Ansible role in packaging/ansible) runs `guestprep check --format json`
on every VM to be exported and fetches the reports; this module turns them into one table,
hosts x items, worst host first and worst item first, as Markdown and as one
self-contained HTML page (inline style, no scripts, no external assets: it is mailed and
archived as build evidence). A report that cannot be read is a row of its own, never a
reason to drop the others.
"""
import html
import json
import os
import time
from typing import List, NamedTuple, Optional

import agent
from agent.model import Status


class Host(NamedTuple):
    name: str               # the report's file name without .json (Ansible: inventory_hostname)
    source: str             # the file it came from
    worst: str
    os_name: str
    command: str
    results: dict           # check id -> result dict
    problem: str = ""       # why the report could not be read ('' when it could)
    exit_code: Optional[int] = None


class Fleet(NamedTuple):
    hosts: List[Host]       # worst first
    items: List[dict]       # {"id", "item", "title", "worst", "failing"} worst first


_RANK = dict((s, i) for i, s in enumerate(Status.ORDER))


def _rank(status):
    return _RANK.get(status, _RANK[Status.ERROR])


def host_name(path):
    base = os.path.basename(path)
    return base[:-5] if base.endswith(".json") else base


def load(path):
    """A Host from one JSON report; an unreadable or foreign file is a Host with a problem."""
    name = host_name(path)
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as e:
        return Host(name, path, Status.ERROR, "", "", {}, "unreadable report: {}".format(e))
    if not isinstance(data, dict) or data.get("tool") != "guestprep" or not isinstance(data.get("results"), list):
        return Host(name, path, Status.ERROR, "", "", {}, "not a guestprep JSON report")
    results = {}
    for r in data["results"]:
        if isinstance(r, dict) and isinstance(r.get("id"), str) and r.get("status") in _RANK:
            results[r["id"]] = r
    worst = Status.worst(r["status"] for r in results.values())
    os_info = data.get("os") if isinstance(data.get("os"), dict) else {}
    return Host(name, path, worst, str(os_info.get("name") or ""), str(data.get("command") or ""),
                results, exit_code=data.get("exit_code") if isinstance(data.get("exit_code"), int) else None)


def merge(paths):
    hosts = [load(p) for p in paths]
    items, order = {}, []
    for host in hosts:
        for check_id, r in host.results.items():
            if check_id not in items:
                items[check_id] = {"id": check_id, "item": str(r.get("item") or check_id),
                                   "title": str(r.get("title") or ""), "worst": Status.PASS, "failing": 0}
                order.append(check_id)
            entry = items[check_id]
            entry["worst"] = Status.worst([entry["worst"], r["status"]])
            if r["status"] in Status.BLOCKING:
                entry["failing"] += 1

    def host_key(h):
        blocking = sum(1 for r in h.results.values() if r["status"] in Status.BLOCKING)
        warnings = sum(1 for r in h.results.values() if r["status"] == Status.WARN)
        return (-_rank(h.worst), h.problem == "", -blocking, -warnings, h.name)

    ranked = sorted(hosts, key=host_key)
    columns = sorted((items[i] for i in order), key=lambda e: (-_rank(e["worst"]), -e["failing"], order.index(e["id"])))
    return Fleet(ranked, columns)


def exit_code(fleet):
    """3 when any host has a blocking finding or an unreadable report, as `check` would."""
    return 3 if any(h.worst in Status.BLOCKING for h in fleet.hosts) else 0


def _cell(host, entry):
    r = host.results.get(entry["id"])
    return r["status"] if r else "-"


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(fleet):
    out = ["# guestprep fleet report", ""]
    blocking = [h for h in fleet.hosts if h.worst in Status.BLOCKING]
    out.append("{} host{}, {} with blocking findings. Generated {} by guestprep {}.".format(
        len(fleet.hosts), "" if len(fleet.hosts) == 1 else "s", len(blocking),
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), agent.__version__))
    out.append("")
    header = ["host", "worst"] + [e["item"] for e in fleet.items]
    out.append("| " + " | ".join(_md(h) for h in header) + " |")
    out.append("|" + "---|" * len(header))
    for host in fleet.hosts:
        row = [host.name, host.worst] + [_cell(host, e) for e in fleet.items]
        out.append("| " + " | ".join(_md(c) for c in row) + " |")
    out.append("")
    details = _details(fleet)
    if details:
        out.append("## Findings")
        out.append("")
        for host, rows in details:
            out.append("### " + _md(host.name) + (" ({})".format(_md(host.os_name)) if host.os_name else ""))
            out.append("")
            for status, item, summary, hint in rows:
                out.append("- **{}** {}: {}".format(status, _md(item), _md(summary)))
                if hint:
                    out.append("  - " + _md(hint))
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _details(fleet):
    """[(host, [(status, item, summary, hint)])] for what is not PASS/INFO/SKIP, worst first."""
    found = []
    for host in fleet.hosts:
        rows = []
        if host.problem:
            rows.append((Status.ERROR, "report", host.problem + " (" + host.source + ")", ""))
        for entry in fleet.items:
            r = host.results.get(entry["id"])
            if r and r["status"] in (Status.WARN, Status.FAIL, Status.ERROR):
                rows.append((r["status"], entry["item"], str(r.get("summary") or ""), str(r.get("hint") or "")))
        rows.sort(key=lambda row: -_rank(row[0]))
        if rows:
            found.append((host, rows))
    return found


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:center}
th{background:#f4f4f4} td.host{text-align:left;font-weight:600}
.PASS{background:#dff0d8}.INFO{background:#d9edf7}.SKIP{background:#eee;color:#666}
.WARN{background:#fcf8e3}.FAIL{background:#f2dede}.ERROR{background:#d9534f;color:#fff}
li{margin:2px 0} .hint{color:#555}
"""


def html_page(fleet):
    e = html.escape
    blocking = [h for h in fleet.hosts if h.worst in Status.BLOCKING]
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           "<title>guestprep fleet report</title>", "<style>" + _CSS + "</style></head><body>",
           "<h1>guestprep fleet report</h1>",
           "<p>{} host{}, {} with blocking findings. Generated {} by guestprep {}.</p>".format(
               len(fleet.hosts), "" if len(fleet.hosts) == 1 else "s", len(blocking),
               e(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())), e(agent.__version__)),
           "<table><thead><tr><th>host</th><th>worst</th>"]
    for entry in fleet.items:
        out.append("<th title=\"{}\">{}</th>".format(e(entry["title"]), e(entry["item"])))
    out.append("</tr></thead><tbody>")
    for host in fleet.hosts:
        cells = ["<td class=\"host\" title=\"{}\">{}</td>".format(e(host.os_name or host.problem), e(host.name)),
                 "<td class=\"{0}\">{0}</td>".format(e(host.worst))]
        for entry in fleet.items:
            r = host.results.get(entry["id"])
            if r is None:
                cells.append("<td>-</td>")
            else:
                cells.append("<td class=\"{0}\" title=\"{1}\">{0}</td>".format(e(r["status"]), e(str(r.get("summary") or ""))))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    details = _details(fleet)
    if details:
        out.append("<h2>Findings</h2>")
        for host, rows in details:
            out.append("<h3>{}{}</h3><ul>".format(e(host.name), " ({})".format(e(host.os_name)) if host.os_name else ""))
            for status, item, summary, hint in rows:
                out.append("<li><span class=\"{0}\">{0}</span> <b>{1}</b>: {2}{3}</li>".format(
                    e(status), e(item), e(summary), "<br><span class=\"hint\">{}</span>".format(e(hint)) if hint else ""))
            out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
