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

import agent
from agent.core.model import Status
from agent.tuples import namedtuple


class Host(namedtuple("Host", (
    "name",                   # str: the report's file name without .json (Ansible: inventory_hostname)
    "source",                 # str: the file it came from
    "worst",                  # str
    "os_name",                # str
    "command",                # str
    "results",                # dict: check id -> result dict
    "problem",                # str: why the report could not be read ('' when it could)
    "exit_code",              # Optional[int]
), problem="", exit_code=None)):
    __slots__ = ()


class Fleet(namedtuple("Fleet", (
    "hosts",                  # List[Host]: worst first
    "items",                  # List[dict]: {"id", "item", "title", "worst", "failing"} worst first
))):
    __slots__ = ()


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
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#222;max-width:90em}
table{border-collapse:collapse;font-size:14px;margin:0.5em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.n{text-align:right}
.PASS{background:#dff0d8}.INFO{background:#d9edf7}.SKIP{background:#eee;color:#666}.WAIVED{background:#e8dff5}
.WARN{background:#fcf8e3}.FAIL{background:#f2dede}.ERROR{background:#d9534f;color:#fff}
details{margin:2px 0} summary{cursor:pointer} li{margin:2px 0} .hint{color:#555} .names{color:#444;font-size:13px}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px}
"""
# Bar colours per status, the same as the cells'.
_FILL = {"PASS": "#5cb85c", "INFO": "#5bc0de", "SKIP": "#bbb", "WAIVED": "#9b7fc7", "WARN": "#f0ad4e",
         "FAIL": "#d9534f", "ERROR": "#8b1e1b"}
_BAR_ORDER = (Status.ERROR, Status.FAIL, Status.WARN, Status.WAIVED, Status.SKIP, Status.INFO, Status.PASS)
_NAMES_SHOWN = 20


def item_counts(fleet):
    """[(entry, {status: hosts})] worst first: most hosts blocked, then most warned."""
    counts = []
    for entry in fleet.items:
        by = dict((s, 0) for s in _BAR_ORDER)
        by["-"] = 0
        for host in fleet.hosts:
            r = host.results.get(entry["id"])
            by[r["status"] if r else "-"] += 1
        counts.append((entry, by))
    counts.sort(key=lambda c: (-(c[1][Status.ERROR] + c[1][Status.FAIL]), -c[1][Status.WARN], c[0]["item"]))
    return counts


def groups(fleet):
    """Hosts with the same findings, as [(rows, [host])] worst first: a fleet cloned from one
    template is one group, its findings shown once."""
    by_rows = {}
    details = dict((h.name + "\0" + h.source, rows) for h, rows in _details(fleet))
    for host in fleet.hosts:
        rows = tuple(details.get(host.name + "\0" + host.source, ()))
        by_rows.setdefault(rows, []).append(host)

    def key(group):
        rows, hosts = group
        return (-max([_rank(r[0]) for r in rows] or [0]), -len(hosts))
    return sorted(by_rows.items(), key=key)


def _bar(by, total, width=360, height=16):
    """A stacked bar of hosts per status, drawn in inline SVG (no script, no external asset)."""
    parts, x = [], 0.0
    for status in _BAR_ORDER:
        n = by.get(status, 0)
        if not n or not total:
            continue
        w = width * n / float(total)
        parts.append('<rect x="{:.1f}" y="0" width="{:.1f}" height="{}" fill="{}"><title>{} {}</title></rect>'.format(
            x, w, height, _FILL[status], n, status))
        x += w
    return ('<svg class="bar" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img">{2}</svg>'.format(
        width, height, "".join(parts)))


def html_page(fleet):
    """What a person decides from first: per item, how many hosts pass, warn or fail; then
    the hosts grouped by identical findings, each group's findings once and folded."""
    e = html.escape
    blocking = [h for h in fleet.hosts if h.worst in Status.BLOCKING]
    total = len(fleet.hosts)
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           "<title>guestprep fleet report</title>", "<style>" + _CSS + "</style></head><body>",
           "<h1>guestprep fleet report</h1>",
           "<p>{} host{}, {} with blocking findings. Generated {} by guestprep {}.</p>".format(
               total, "" if total == 1 else "s", len(blocking),
               e(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())), e(agent.__version__)),
           "<h2>Items</h2>",
           "<p class=\"legend\">" + "".join('<span style="background:{}{}">{}</span>'.format(
               _FILL[s], ";color:#fff" if s == Status.ERROR else "", s) for s in _BAR_ORDER) + "</p>",
           "<table class=\"items\"><thead><tr><th>item</th><th>hosts</th><th>blocked</th><th>warned</th>"
           "<th>passed</th></tr></thead><tbody>"]
    counts = item_counts(fleet)
    clean = [entry for entry, by in counts if by[Status.PASS] + by[Status.INFO] + by["-"] == total]
    for entry, by in counts:
        if entry in clean and len(clean) > 3:
            continue   # folded below: a person decides from the items that do not pass
        out.append("<tr class=\"item\"><td title=\"{}\">{}</td><td>{}</td><td class=\"n\">{}</td>"
                   "<td class=\"n\">{}</td><td class=\"n\">{}</td></tr>".format(
                       e(entry["title"]), e(entry["item"]), _bar(by, total - by["-"]),
                       by[Status.ERROR] + by[Status.FAIL], by[Status.WARN], by[Status.PASS] + by[Status.INFO]))
    out.append("</tbody></table>")
    if len(clean) > 3:
        out.append("<details><summary>{} items pass on every host</summary><p>{}</p></details>".format(
            len(clean), ", ".join(e(entry["item"]) for entry in clean)))
    found = groups(fleet)
    out.append("<h2>Hosts, grouped by identical findings</h2>")
    out.append("<p>{} group{} of hosts.</p>".format(len(found), "" if len(found) == 1 else "s"))
    out.append("<table class=\"groups\"><thead><tr><th>hosts</th><th>worst</th><th>findings</th>"
               "<th>names</th></tr></thead><tbody>")
    for rows, hosts in found:
        worst = Status.worst(r[0] for r in rows) if rows else Status.PASS
        names = [h.name for h in hosts]
        shown = ", ".join(e(n) for n in names[:_NAMES_SHOWN])
        if len(names) > _NAMES_SHOWN:
            shown += " <details><summary>and {} more</summary>{}</details>".format(
                len(names) - _NAMES_SHOWN, ", ".join(e(n) for n in names[_NAMES_SHOWN:]))
        if rows:
            items = "".join("<li><span class=\"{0}\">{0}</span> <b>{1}</b>: {2}{3}</li>".format(
                e(status), e(item), e(summary), "<br><span class=\"hint\">{}</span>".format(e(hint)) if hint else "")
                for status, item, summary, hint in rows)
            findings = "<details><summary>{}</summary><ul>{}</ul></details>".format(
                ", ".join("{} {}".format(e(item), e(status)) for status, item, _s, _h in rows), items)
        else:
            findings = "nothing to fix"
        out.append("<tr class=\"group\"><td class=\"n\">{}</td><td class=\"{}\">{}</td><td>{}</td>"
                   "<td class=\"names\">{}</td></tr>".format(len(hosts), e(worst), e(worst), findings, shown))
    out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
