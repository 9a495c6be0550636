"""netplan YAML (/etc/netplan/*.yaml): read interface configs, convert one to DHCP.

An ECS instance gets its private address, gateway and resolvers from the VPC's
DHCP server, and the NIC of the new instance has a MAC address the image has
never seen. Ubuntu installers write netplan files that pin the old address
(subiquity: `addresses`, `gateway4`, `nameservers`) or match the NIC by the old
MAC (cloud-init on 18.04: `match: macaddress` + `set-name`); either leaves the
imported instance without network. Alibaba Cloud "Overview of the image check
feature", item GUESTOS.Dhcp: the primary NIC must use DHCP and must not be
pinned to a MAC address. Format: https://netplan.readthedocs.io/en/stable/netplan-yaml/

Pure functions: text in, data or text out. The editor changes only the lines of
the keys it removes, so the user's comments and layout elsewhere survive; every
edit is checked by loading the result, and a file the line editor cannot handle
is rewritten whole from the loaded document instead.
"""
import copy
import json
import re

from agent.parsers import LazyPattern, ParseProblem, join_lines, split_ending, split_lines, yamlsafe
from agent.tuples import namedtuple

# Optional in the single-file build: without it netplan files are reported unread. Imported at
# the first netplan file (yamlsafe.resolve), not with this module.
yaml = yamlsafe.UNLOADED

# netplan device sections that carry IP configuration, and the kind each means.
SECTIONS = (
    ("ethernets", "ethernet"),
    ("bonds", "bond"),
    ("bridges", "bridge"),
    ("vlans", "vlan"),
)

# Keys that pin the old network: a static address plus what only makes sense
# with it (the gateway and resolvers of the network the image came from), and
# `macaddress`, which would set the NIC to the old MAC and clash with the one
# ECS assigned.
STATIC_KEYS = ("addresses", "gateway4", "gateway6", "nameservers", "macaddress")

DEFAULT_ROUTE_TARGETS = ("default", "0.0.0.0/0", "::/0")

MISSING_YAML = "not read: PyYAML is not installed (python3-yaml)"

REWRITE_HEADER = "# rewritten by guestprep (original kept in its backup)\n"

# netplan parses booleans itself and also takes the YAML 1.1 spellings that
# safe_load leaves as strings once quoted.
_TRUE_STRINGS = ("true", "yes", "on", "y")


class Interface(namedtuple("Interface", (
    "name",                   # str
    "kind",                   # str
    "config",                 # dict
))):
    """One device from a netplan document: its id (the key), kind and config mapping."""

    __slots__ = ()


def parse(text):
    """Load a netplan file. Returns (document or None, [ParseProblem]); never raises."""
    loaded = yamlsafe.resolve(yaml)
    if loaded is None:
        return None, [ParseProblem(1, MISSING_YAML)]
    try:
        doc = yamlsafe.safe_load(text)
    except yamlsafe.TooComplex as exc:
        return None, [ParseProblem(exc.lineno, "not read: %s" % exc)]
    except loaded.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        lineno = mark.line + 1 if mark is not None else 1
        return None, [ParseProblem(lineno, "invalid YAML: %s" % _yaml_problem(exc))]
    except loaded.reader.ReaderError as exc:
        lineno = text.count("\n", 0, exc.position) + 1
        return None, [ParseProblem(lineno, "invalid YAML: %s" % _one_line(exc))]
    except Exception as exc:  # pylint: disable=broad-except
        # The file comes from an untrusted image, and PyYAML raises more than
        # YAMLError on some input (ValueError for `2001-02-30` as a timestamp,
        # RecursionError for deep nesting).
        return None, [ParseProblem(1, "cannot load YAML: %s" % _one_line(exc))]
    if doc is None:
        return None, []
    problems = []
    if not isinstance(doc, dict):
        problems.append(ParseProblem(1, "the top level must be a mapping, not %s" % _type_name(doc)))
        return None, problems
    problems.extend(_structure_problems(text, doc))
    return doc, problems


def ethernets(doc):
    """network.ethernets as {id: config}; an empty device (`eth0:`) is {}."""
    return {iface.name: iface.config for iface in interfaces(doc) if iface.kind == "ethernet"}


def interfaces(doc):
    """Every device of network.ethernets, bonds, bridges and vlans, as [Interface]."""
    found = []
    for section, kind in SECTIONS:
        for name, cfg in _section(doc, section).items():
            if cfg is None:
                cfg = {}
            if isinstance(cfg, dict):
                found.append(Interface(str(name), kind, cfg))
    return found


def uses_dhcp4(cfg):
    """True when the device asks for an IPv4 address by DHCP."""
    if not isinstance(cfg, dict):
        return False
    value = cfg.get("dhcp4")
    if value is True:
        return True
    return isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS


def is_static(cfg):
    """True when the device carries a fixed address, or routes without DHCP."""
    if not isinstance(cfg, dict):
        return False
    if cfg.get("addresses"):
        return True
    return not uses_dhcp4(cfg) and bool(cfg.get("gateway4") or cfg.get("routes"))


def has_mac_match(cfg):
    """True when the device is selected by MAC address (`match: macaddress:`)."""
    if not isinstance(cfg, dict):
        return False
    match = cfg.get("match")
    return isinstance(match, dict) and match.get("macaddress") is not None


def is_default_route(route):
    """True for a route to everywhere: `to: default`, `0.0.0.0/0` or `::/0`."""
    return isinstance(route, dict) and str(route.get("to", "")).strip() in DEFAULT_ROUTE_TARGETS


def to_dhcp(text, ifname, new_name=None, any_name=None):
    """Return `text` with device `ifname` converted to DHCP and unpinned from its MAC.

    With `any_name` (a glob such as `e*`), the device instead matches every
    interface whose name fits it (`match: {name: "e*"}`, no `set-name`), so
    it comes up on whatever name the NIC has; its key stays as it was.

    `ifname` is the device's id (its key) or its `set-name`. For that device:
    `dhcp4: true`; `addresses`, `gateway4`, `gateway6`, `nameservers`,
    `macaddress` and default routes removed; `match: macaddress` removed, and
    with it `set-name`, in which case the key becomes the set-name value so the
    config still names the interface. Without a `set-name`, `new_name` (when
    given) becomes the key: a key under `match` is only an id, and left alone
    it would name no interface. Unchanged text when nothing is to do.
    Raises ValueError when the text does not load or has no such device.
    """
    doc, problems = parse(text)
    if doc is None:
        raise ValueError("not a netplan document: %s" % (problems[0].message if problems else "empty"))
    section, key = _find(doc, ifname)
    expected, new_key = _converted(doc, section, key, new_name, any_name)
    if expected == doc:
        return text
    edited = _edit_lines(text, doc, section, key, new_key, any_name)
    if edited is not None:
        try:
            if yamlsafe.safe_load(edited) == expected:
                return edited
        except Exception:  # pylint: disable=broad-except
            pass  # a broken edit is exactly what the fallback is for
    # Comments and layout are lost here, which is why the header says where the
    # original went; safe_dump sorts keys (it has no sort_keys on PyYAML 3.12).
    return REWRITE_HEADER + yamlsafe.resolve(yaml).safe_dump(expected, default_flow_style=False)


# -- the document -------------------------------------------------------------


def _one_line(exc):
    return " ".join(str(exc).split())


def _yaml_problem(exc):
    """What is wrong and where, without the snippet of the file str(exc) quotes: the line
    may be a Wi-Fi or 802.1x password."""
    mark = exc.problem_mark or exc.context_mark
    what = "; ".join(" ".join(str(part).split()) for part in (exc.context, exc.problem) if part)
    if mark is not None:
        what += " (line %d, column %d)" % (mark.line + 1, mark.column + 1)
    return what or type(exc).__name__


def _type_name(value):
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "a %s" % type(value).__name__


def _section(doc, section):
    network = doc.get("network") if isinstance(doc, dict) else None
    devices = network.get(section) if isinstance(network, dict) else None
    return devices if isinstance(devices, dict) else {}


def _structure_problems(text, doc):
    problems = []
    if "network" not in doc:
        problems.append(ParseProblem(1, "no 'network' key"))
        return problems
    network = doc["network"]
    if not isinstance(network, dict):
        problems.append(ParseProblem(
            _key_line(text, ("network",)), "'network' must be a mapping, not %s" % _type_name(network)))
        return problems
    for section, _kind in SECTIONS:
        if section not in network or network[section] is None:
            continue
        devices = network[section]
        if not isinstance(devices, dict):
            problems.append(ParseProblem(
                _key_line(text, ("network", section)),
                "'network.%s' must be a mapping, not %s" % (section, _type_name(devices))))
            continue
        for name, cfg in devices.items():
            if cfg is not None and not isinstance(cfg, dict):
                problems.append(ParseProblem(
                    _key_line(text, ("network", section, name)),
                    "'network.%s.%s' must be a mapping, not %s" % (section, name, _type_name(cfg))))
    return problems


def _key_line(text, path):
    """1-based line of the key at `path`, for messages; 1 when it cannot be told."""
    try:
        node = yamlsafe.compose(text)
    except Exception:  # pylint: disable=broad-except
        return 1
    lineno = 1
    loaded = yamlsafe.resolve(yaml)
    for key in path:
        if not isinstance(node, loaded.MappingNode):
            break
        for key_node, value_node in node.value:
            if isinstance(key_node, loaded.ScalarNode) and key_node.value == str(key):
                lineno = key_node.start_mark.line + 1
                node = value_node
                break
        else:
            break
    return lineno


def _find(doc, ifname):
    for section, _kind in SECTIONS:
        devices = _section(doc, section)
        if ifname in devices:
            return section, ifname
    for section, _kind in SECTIONS:
        for key, cfg in _section(doc, section).items():
            if isinstance(cfg, dict) and cfg.get("set-name") == ifname:
                return section, key
    raise ValueError("no netplan device %r" % (ifname,))


def _converted(doc, section, key, new_name=None, any_name=None):
    """The document as it must load after the edit, and the device's new key."""
    expected = copy.deepcopy(doc)
    devices = expected["network"][section]
    # A copy of its own: with a YAML alias (`eth1: *common`) two devices share
    # one dict, and only this one may change.
    cfg = copy.deepcopy(devices[key])
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ValueError("netplan device %r must be a mapping, not %s" % (key, _type_name(cfg)))
    for name in STATIC_KEYS:
        cfg.pop(name, None)
    routes = cfg.get("routes")
    if isinstance(routes, list):
        kept = [route for route in routes if not is_default_route(route)]
        if len(kept) != len(routes):
            if kept:
                cfg["routes"] = kept
            else:
                del cfg["routes"]
    new_key = key
    match = cfg.get("match")
    if isinstance(match, dict) and "macaddress" in match:
        del match["macaddress"]
        if not match:
            del cfg["match"]
            # Without a match the key is the interface name, so the name the
            # device was renamed to becomes the key.
            set_name = cfg.pop("set-name", None)
            if set_name is not None:
                new_key = set_name
            elif new_name is not None:
                new_key = new_name
    if any_name is not None:
        cfg.pop("set-name", None)
        cfg["match"] = {"name": any_name}
        new_key = key
    if not uses_dhcp4(cfg):
        cfg["dhcp4"] = True
    if new_key != key:
        if new_key in devices:
            raise ValueError("cannot rename netplan device %r to %r: the name is taken" % (key, new_key))
        # Rebuild to keep the device where it was in the section.
        renamed = {}
        for name, value in devices.items():
            if name == key:
                renamed[new_key] = cfg
            else:
                renamed[name] = value
        expected["network"][section] = renamed
    else:
        devices[key] = cfg
    return expected, new_key


# -- the line editor ----------------------------------------------------------
#
# Only block-style mappings are edited. Every helper returns None for a layout it
# does not understand; to_dhcp then falls back to a rewrite. The result is
# verified by loading it, so the editor may be simple rather than complete.

_KEY_RE = LazyPattern(
    r"""^(?P<indent> *)"""
    # a double-quoted, single-quoted or plain key (a plain one may start with
    # `-` only when no blank follows, or it would be a sequence item)
    r"""(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{\[\]}&*!|>%@`,?-][^:#]*?|-[^\s:#][^:#]*?)"""
    r"""[ \t]*:(?:[ \t]+(?P<value>.*?))?[ \t]*$""")
_COMMENT_RE = LazyPattern(r"^(?P<value>.*?)(?P<comment>[ \t]+#.*)?$")


class _Entry(namedtuple("_Entry", (
    "key",                    # str
    "start",                  # int: index of the key line
    "end",                    # int: one past its last content line
    "indent",                 # int
    "value",                  # str: what follows the colon on the key line, comment removed
))):
    __slots__ = ()


def _body(line):
    return line.rstrip("\r\n")


def _is_content(line):
    stripped = _body(line).strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line):
    body = _body(line)
    return len(body) - len(body.lstrip(" "))


def _is_seq_item(line):
    stripped = _body(line).lstrip(" ")
    return stripped == "-" or stripped.startswith("- ")


def _split_comment(value):
    """(value, comment) of what follows a key's colon; comment keeps its leading blanks."""
    if value.startswith("#"):
        return "", " " + value
    match = _COMMENT_RE.match(value)
    return match.group("value"), match.group("comment") or ""


def _unquote(key):
    if key.startswith('"'):
        try:
            return json.loads(key)
        except ValueError:
            return None
    if key.startswith("'"):
        return key[1:-1].replace("''", "'")
    return key


def _entries(lines, start, end):
    """The block mapping in lines[start:end] as {key: _Entry}, or None."""
    first = next((i for i in range(start, end) if _is_content(lines[i])), None)
    if first is None:
        return {}
    indent = _indent(lines[first])
    entries = {}
    i = first
    while i < end:
        line = lines[i]
        if not _is_content(line):
            i += 1
            continue
        match = _KEY_RE.match(_body(line))
        if _indent(line) != indent or match is None:
            return None
        key = _unquote(match.group("key"))
        value = _split_comment(match.group("value") or "")[0]
        stop = _entry_end(lines, i, end, indent)
        if key is None or key in entries:
            return None
        entries[key] = _Entry(key, i, stop, indent, value)
        i = stop
    return entries


def _entry_end(lines, i, end, indent):
    """One past the last line of the value of the key at lines[i]."""
    last = i
    for j in range(i + 1, end):
        line = lines[j]
        if not _is_content(line):
            continue
        # A block sequence may sit at its key's own indentation.
        if _indent(line) > indent or (_indent(line) == indent and _is_seq_item(line)):
            last = j
        else:
            break
    return last + 1


def _top_start(lines):
    """Index where the top-level mapping starts, past a `%YAML` directive or `---`."""
    i = 0
    while i < len(lines):
        body = _body(lines[i])
        if not _is_content(lines[i]) or body.startswith("%"):
            i += 1
        elif body.rstrip() == "---":
            return i + 1
        else:
            return i
    return i


def _nested(lines, entry):
    """Entries of the block mapping under `entry`, or None if its value is inline."""
    if entry.value:
        return None
    return _entries(lines, entry.start + 1, entry.end)


def _edit_lines(text, doc, section, key, new_key, any_name=None):
    """Apply the conversion line by line; None when the layout is not understood."""
    # A file that breaks lines where split_lines does not (a lone \r, \u2028)
    # fails the check after the edit and is rewritten instead.
    lines = split_lines(text)
    top = _entries(lines, _top_start(lines), len(lines))
    network = top and top.get("network")
    network_entries = _nested(lines, network) if network else None
    section_entry = network_entries and network_entries.get(section)
    devices = _nested(lines, section_entry) if section_entry else None
    device = devices and devices.get(key)
    if not device or device.value:
        return None
    cfg = doc["network"][section][key] or {}
    children = _entries(lines, device.start + 1, device.end)
    if children is None:
        return None
    if children:
        child_indent = next(iter(children.values())).indent
    else:
        step = device.indent - section_entry.indent
        child_indent = device.indent + (step if step > 0 else 2)

    delete = set()
    replace = {}
    insert_after = {}

    def drop(entry, floor=device.start + 1):
        first = _lead_comments(lines, entry.start, floor)
        delete.update(range(first, entry.end))

    for name in STATIC_KEYS:
        if name in children:
            drop(children[name])
    routes = cfg.get("routes")
    if "routes" in children and isinstance(routes, list) and any(is_default_route(r) for r in routes):
        if all(is_default_route(r) for r in routes):
            drop(children["routes"])
        else:
            items = _seq_items(lines, children["routes"])
            if items is None or len(items) != len(routes):
                return None
            for route, (first, stop) in zip(routes, items):
                if is_default_route(route):
                    delete.update(range(_lead_comments(lines, first, children["routes"].start + 1), stop))
    newline = "\r\n" if lines[device.start].endswith("\r\n") else "\n"
    if any_name is not None:
        for name in ("match", "set-name"):
            if name in children:
                drop(children[name])
        insert_after[device.start] = "{0}match:{2}{0}  name: {1}{2}".format(
            " " * child_indent, json.dumps(any_name), newline)
    elif isinstance(cfg.get("match"), dict) and "macaddress" in cfg["match"] and "match" in children:
        match = cfg["match"]
        if len(match) == 1:
            drop(children["match"])
            if "set-name" in children:
                drop(children["set-name"])
        else:
            match_entries = _nested(lines, children["match"])
            if not match_entries or "macaddress" not in match_entries:
                return None
            drop(match_entries["macaddress"], children["match"].start + 1)
    if new_key != key:
        replace[device.start] = _rekeyed(lines[device.start], new_key)
    if not uses_dhcp4(cfg):
        dhcp_line = " " * child_indent + "dhcp4: true"
        if "dhcp4" in children:
            entry = children["dhcp4"]
            comment = _split_comment(_KEY_RE.match(_body(lines[entry.start])).group("value") or "")[1]
            # Its nested lines, if any, go; comments above it stay.
            delete.update(range(entry.start + 1, entry.end))
            replace[entry.start] = dhcp_line + comment + newline
        else:
            insert_after[device.start] = insert_after.get(device.start, "") + dhcp_line + newline

    out = []
    for index, line in enumerate(lines):
        if index in delete:
            continue
        line = replace.get(index, line)
        if index in insert_after:
            if not line.endswith("\n"):
                line += "\n"
            line += insert_after[index]
        out.append(line)
    edited = join_lines(out)
    if not text.endswith("\n"):
        # A missing final newline stays missing, like every other byte.
        edited = split_ending(edited)[0] if edited.endswith("\n") else edited
    return edited


def _seq_items(lines, entry):
    """[(first, stop)] line ranges of the items of a block sequence, or None."""
    if entry.value:
        return None
    items = []
    item_indent = None
    for index in range(entry.start + 1, entry.end):
        line = lines[index]
        if not _is_content(line):
            continue
        if item_indent is None:
            if not _is_seq_item(line):
                return None
            item_indent = _indent(line)
        if _indent(line) == item_indent and _is_seq_item(line):
            if items:
                items[-1][1] = _last_content(lines, items[-1][0], index) + 1
            items.append([index, entry.end])
        elif _indent(line) <= item_indent:
            return None
    return [tuple(item) for item in items]


def _lead_comments(lines, start, floor):
    """Where the comment lines right above lines[start] begin (not above `floor`).

    Such a comment describes the line below it, so it goes when that line goes;
    a blank line ends it, as it ends a paragraph.
    """
    while start > floor and _body(lines[start - 1]).strip().startswith("#"):
        start -= 1
    return start


def _last_content(lines, first, stop):
    last = first
    for index in range(first, stop):
        if _is_content(lines[index]):
            last = index
    return last


def _rekeyed(line, new_key):
    body = _body(line)
    match = _KEY_RE.match(body)
    key_text = new_key if _plain_ok(new_key) else json.dumps(new_key)
    return body[:match.start("key")] + key_text + body[match.end("key"):] + line[len(body):]


def _plain_ok(name):
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$", name):
        return False
    try:
        return yamlsafe.safe_load(name) == name
    except Exception:  # pylint: disable=broad-except
        return False
