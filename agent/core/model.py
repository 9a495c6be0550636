"""Results, checks, remediations and change steps: the data every other module passes around.

Checks return an immutable Result; remediations return a list of change steps. Nothing
here writes: the engine alone applies steps, through the journal.
"""
# Change steps: each kind is a class in agent/core/steps.py that owns how it is shown,
# journaled and undone; re-exported for the remediations and tests that import them here.
from agent.core.steps import PACKAGE_TOOLS, RemoveFile, RunCommand, SetFlags, Step, WriteFile, is_package_step  # noqa: F401
from agent.tuples import namedtuple


class Status(object):
    """Result statuses, ordered by severity (worst last)."""

    PASS = "PASS"
    INFO = "INFO"
    SKIP = "SKIP"
    WARN = "WARN"
    FAIL = "FAIL"
    ERROR = "ERROR"
    WAIVED = "WAIVED"   # a WARN, FAIL or ERROR a person accepted until a date (agent/core/waivers.py)
    ORDER = (PASS, INFO, SKIP, WAIVED, WARN, FAIL, ERROR)
    # Findings that stop an imported image from booting or being managed.
    BLOCKING = (FAIL, ERROR)

    @classmethod
    def worst(cls, statuses):
        worst = cls.PASS
        for status in statuses:
            if cls.ORDER.index(status) > cls.ORDER.index(worst):
                worst = status
        return worst


class Message(str):
    """English text that keeps its template and values, so that a translation can render it
    again (agent/output/i18n). Everywhere else it is the plain English str.

    Templates use named fields only: Message("SELinux is {mode} in {path}", mode=m, path=p).
    Joining or concatenating gives a plain str and loses the template: keep one Message per
    sentence and let the renderer join them."""

    def __new__(cls, template, **args):
        self = str.__new__(cls, template.format(**args) if args else template)
        self.template = template
        self.args = args
        return self

    def __reduce__(self):
        return (_message, (self.template, self.args))

    @classmethod
    def join(cls, parts, separator="; "):
        """`parts` (Messages or str) joined with `separator` as one Message whose template is
        only their fields ("{part0}; {part1}"): a translation translates each part."""
        names = ["part{}".format(i) for i in range(len(parts))]
        return cls(separator.join("{" + name + "}" for name in names), **dict(zip(names, parts)))


def _message(template, args):
    return Message(template, **args)


def joined(parts, sep="; "):
    """`sep`.join(parts) that stays a Message: each part (Message or str) is a field of one flat
    template ("{part0}; {part1}"), so a translation renders every part in its language. Flat,
    not nested: a nested join of 10,000 fstab findings would copy the text 10,000 times."""
    parts = list(parts)
    template = sep.replace("{", "{{").replace("}", "}}").join("{{part{}}}".format(i) for i in range(len(parts)))
    return Message(template, **dict(("part{}".format(i), part) for i, part in enumerate(parts)))


def _chain(template, parts):
    parts = list(parts)
    text = parts[0] if parts else ""
    for part in parts[1:]:
        text = Message(template, first=text, second=part)
    return text


def either(parts):
    """'A or B or C' as nested "{first} or {second}" templates, each part translatable."""
    return _chain("{first} or {second}", parts)


def both(parts):
    """'A and B and C' as nested "{first} and {second}" templates, each part translatable."""
    return _chain("{first} and {second}", parts)


def things(parts):
    """'A and B and C' naming things (packages, files), where both() joins clauses: the same
    English, but a language joins nouns differently ("AとB", "A和B"), so its own template
    (the field names make it another msgid)."""
    parts = list(parts)
    text = parts[0] if parts else ""
    for part in parts[1:]:
        text = Message("{one} and {other}", one=text, other=part)
    return text


class Finding(namedtuple("Finding", (
    "status",                 # str
    "code",                   # str
    "text",                   # str
    "path",                   # str
    "line",                   # int
    "refs",                   # Tuple[str, ...]: Alibaba documents it follows: "000".."004" (shared/seeds)
), path="", line=0, refs=())):
    """One thing a check found: the unit of a Result (and of a waiver, a translation, a seed
    reference). `code` is stable and public ("<check id>.<slug>", e.g. "selinux.enforcing");
    `text` is a Message (or a str)."""

    __slots__ = ()

    def as_dict(self):
        return {"status": self.status, "code": self.code, "text": str(self.text),
                "path": self.path, "line": self.line, "refs": list(self.refs)}


class Result(namedtuple("Result", (
    "check_id",               # str
    "item",                   # str
    "repair_item",            # str
    "title",                  # str
    "status",                 # str
    "summary",                # str
    "hint",                   # str
    "commands",               # Tuple[str, ...]
    "paths",                  # Tuple[str, ...]
    "data",                   # Optional[dict]
    "waiver",                 # Optional[dict]: the waiver that matched, with the status it waived
    "findings",               # Tuple[Finding, ...]
), hint="", commands=(), paths=(), data=None, waiver=None, findings=())):
    """What one check found. `data` carries facts the remediation needs (never secrets).
    `summary` is rendered from `findings` ("; " between them) when a check gives findings."""

    __slots__ = ()

    def refs(self):
        """Seed documents this result cites, sorted."""
        return tuple(sorted(set(ref for finding in self.findings for ref in finding.refs)))

    def as_dict(self):
        extra = {"waiver": self.waiver} if self.waiver else {}
        return dict(extra, **{
            "id": self.check_id,
            "item": self.item,
            "repair_item": self.repair_item,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "hint": self.hint,
            "commands": list(self.commands),
            "paths": list(self.paths),
            # What the check found as data (the dhcp check's network manifest, ...), for tools.
            "data": _jsonable(self.data),
            "findings": [finding.as_dict() for finding in self.findings],
        })


def _jsonable(value):
    """``value`` with tuples as lists and anything JSON cannot hold as its text."""
    if isinstance(value, dict):
        return dict((str(k), _jsonable(v)) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in (sorted(value, key=str) if isinstance(value, (set, frozenset)) else value)]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class Applies(namedtuple("Applies", (
    "families",               # Tuple[str, ...]: osinfo.FAMILIES keys: rhel, debian, suse, coreos
    "distributions",          # Tuple[str, ...]: osinfo.distribution(): os-release IDs, centos-stream
    "architectures",          # Tuple[str, ...]: facts.architecture() names: x86_64, arm64, i386 ...
), families=(), distributions=(), architectures=())):
    """One kind of target a check applies to: every field given must match (an empty field
    matches any target; within a field, any of the values). The engine evaluates it
    (agent/core/applicability.py) and SKIPs the check with the reason before run()."""

    __slots__ = ()


class Check(object):
    """Base class of a read-only check. Subclasses set the attributes and implement run()."""

    id = ""             # snake_case, equal to the module name; public, never renamed
    title = ""
    item = ""           # the catalogue / ECS image check ID, e.g. GUESTOS.Dhcp
    repair_item = ""    # ACS-ECS-RepairImage vocabulary, e.g. dhcp ('' when none)
    applies_to = ()     # Applies, any of which must match the target; (): every target
    live_only = False   # needs facts of the running system (psutil, /proc, /dev)
    refs = ()           # the seed documents every finding of this check follows ("000", ...)

    def run(self, ctx):
        raise NotImplementedError

    def finding(self, status, code, text, path="", line=0, refs=None):
        """A Finding of this check; `code` is the slug after "<id>."."""
        return Finding(status, "{}.{}".format(self.id, code), text, path or "", line or 0,
                       tuple(self.refs if refs is None else refs))

    def result(self, status, summary, hint="", commands=(), paths=(), data=None, code=None, refs=None):
        """A Result of one finding: `summary` (a Message) with the stable `code` slug."""
        finding = self.finding(status, code or status.lower(), summary,
                               paths[0] if len(paths) == 1 else "", 0, refs)
        return Result(self.id, self.item, self.repair_item, self.title, status, summary,
                      hint, tuple(commands), tuple(paths), data, None, (finding,))

    def results(self, findings, hint="", commands=(), paths=(), data=None, status=None):
        """A Result of several findings: the status is the worst of them (or `status`), the
        summary their texts joined with "; "."""
        findings = tuple(findings)
        status = status or Status.worst(f.status for f in findings)
        summary = Message.join([f.text for f in findings])
        return Result(self.id, self.item, self.repair_item, self.title, status, summary,
                      hint, tuple(commands), tuple(paths), data, None, findings)

    def passed(self, summary, **kw):
        return self.result(Status.PASS, summary, **kw)

    def failed(self, summary, hint, **kw):
        return self.result(Status.FAIL, summary, hint, **kw)


class Mode(object):
    """When a fix is applied (catalogue 'fix modes')."""

    AUTO = "auto"        # safe, backed up, reversible
    DEFER = "defer"      # touches the network: files only, effective at next boot
    PROPOSE = "propose"  # only when asked for by name
    REPORT = "report"    # nothing to fix inside the guest


class Remediation(object):
    """Base class of a fix. plan() returns change steps as data and never writes."""

    id = ""                  # equal to the check id it repairs
    mode = Mode.AUTO
    reversible = True        # False: package installs/removals; only applied when named
    by_name_only = False     # True: applied only when its own name is given, never by 'all' (seal)
    offline_safe = True      # may be applied to a mounted image (--root)
    needs_reboot = False
    disrupts_network = False
    note = ""                # shown with the plan, e.g. "takes effect at the next boot"

    def plan(self, ctx, result):
        raise NotImplementedError

    def verify(self, ctx, result, steps):
        """After every step of the run was applied: what is still wrong (texts), [] when the fix
        did what it planned. Anything returned fails the fix, and the engine rolls it back."""
        return []


class Refused(Exception):
    """Raised by plan() when a fix must not be applied now; the message says why."""
