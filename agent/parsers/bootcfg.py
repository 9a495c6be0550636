"""Read kernel command lines from boot loader configuration.

Several ECS items are decided by the kernel command line the image boots
with: ``root=`` must name the root by UUID or LABEL, not /dev/sda1 (003:
GUESTOS.Grub), ``selinux=1``/``enforcing=1`` must not be there (000, 002),
and NVMe instances need ``nvme_core.io_timeout`` (003: GUESTOS.Nvme). The
line is found in grub.cfg (GRUB 2), menu.lst/grub.conf (GRUB legacy, CentOS
5/6), Boot Loader Spec entries (RHEL 8+, Fedora) and the
``GRUB_CMDLINE_LINUX*`` variables of /etc/default/grub that grub.cfg is
generated from.

Parsers here never raise: an unterminated quote runs to the end of its line,
and ``$var`` tokens are kept as written, never expanded.
"""

from agent.parsers import keyvalue, split_ending, split_lines
from agent.tuples import namedtuple


class KernelLine(namedtuple("KernelLine", (
    "lineno",                 # int
    "kernel",                 # Optional[str]
    "args",                   # tuple
    "raw",                    # str
))):
    """A kernel command line; ``kernel`` is the image path or None."""

    __slots__ = ()


_GRUB2_COMMANDS = ("linux", "linux16", "linuxefi")


def split_words(text, comments=True):
    """Split like GRUB's script reader and the kernel do: blanks separate
    words, single and double quotes group and are removed, a backslash
    escapes the next character; with ``comments``, a word starting with
    ``#`` ends the line. Never raises."""
    words, word, in_word, quote = [], [], False, None
    pos, n = 0, len(text)
    while pos < n:
        char = text[pos]
        if quote:
            if char == quote:
                quote = None
            elif char == "\\" and quote == '"' and pos + 1 < n:
                pos += 1
                word.append(text[pos])
            else:
                word.append(char)
        elif char in " \t":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif char == "#" and comments and not in_word:
            break
        else:
            in_word = True
            if char in "'\"":
                quote = char
            elif char == "\\" and pos + 1 < n:
                pos += 1
                word.append(text[pos])
            else:
                word.append(char)
        pos += 1
    if in_word:
        words.append("".join(word))
    return words


def _command_lines(text, commands):
    """Yield ``(lineno, body, words)`` for lines whose first word is in commands."""
    for lineno, line in enumerate(split_lines(text), 1):
        body = split_ending(line)[0]
        first = body.split(None, 1)[:1]
        if first and first[0] in commands:
            yield lineno, body, split_words(body)


def grub2_cfg(text):
    """``linux``/``linux16``/``linuxefi`` lines of a grub.cfg, in file order."""
    result = []
    for lineno, body, words in _command_lines(text, _GRUB2_COMMANDS):
        kernel = words[1] if len(words) > 1 else None
        result.append(KernelLine(lineno, kernel, tuple(words[2:]), body))
    return result


def grub_legacy(text):
    """``kernel`` lines of a GRUB legacy menu.lst or grub.conf."""
    result = []
    for lineno, body, _ in _command_lines(text, ("kernel",)):
        # GRUB legacy has no quoting; its own --options precede the file.
        words = body.split("#", 1)[0].split()[1:]
        while words and words[0].startswith("--"):
            words.pop(0)
        kernel = words[0] if words else None
        result.append(KernelLine(lineno, kernel, tuple(words[1:]), body))
    return result


def bls_entry(text):
    """The kernel line of a Boot Loader Spec entry, as a list of 0 or 1 items.

    Arguments of all ``options`` lines are joined in order, as the spec says;
    ``lineno`` and ``raw`` are those of the first ``options`` line (of the
    ``linux`` line if there is none). A list keeps the result uniform with
    ``grub2_cfg`` and ``grub_legacy``.
    """
    kernel, args, linux_at, options_at = None, [], None, None
    for lineno, line in enumerate(split_lines(text), 1):
        body = split_ending(line)[0]
        key, value = (body.split(None, 1) + ["", ""])[:2]
        if key == "linux":
            kernel, linux_at = value.strip() or None, linux_at or (lineno, body)
        elif key == "options":
            args.extend(split_words(value))
            options_at = options_at or (lineno, body)
    where = options_at or linux_at
    if where is None:
        return []
    return [KernelLine(where[0], kernel, tuple(args), where[1])]


def default_grub(text):
    """Tokens of ``GRUB_CMDLINE_LINUX`` and ``GRUB_CMDLINE_LINUX_DEFAULT``.

    Both keys are always present (an empty tuple when unset); the last
    assignment wins, as when grub-mkconfig sources the file.
    """
    assignments = keyvalue.parse(text)[0]
    return {key: tuple(split_words(keyvalue.get(assignments, key, ""), comments=False))
            for key in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")}


def _param_name(name):
    # The kernel treats '-' and '_' in parameter names alike.
    return name.replace("-", "_")


def arg_value(args, name):
    """Value of the last ``name=value`` in ``args``; '' for a bare ``name``;
    None if absent. Words after ``--`` go to init, not the kernel."""
    wanted = _param_name(name)
    if "--" in args:
        args = args[:list(args).index("--")]
    for arg in reversed(args):
        key, equals, value = arg.partition("=")
        if _param_name(key) == wanted:
            return value if equals else ""
    return None


# -- menu entries, initrds and UUID searches (GUESTOS.Grub, GUESTOS.KernelVersion) ------

class MenuEntry(namedtuple("MenuEntry", (
    "lineno",                 # int
    "title",                  # str
    "entry_id",               # str
    "path",                   # tuple
    "kernel",                 # Optional[KernelLine]
    "initrds",                # tuple
))):
    """One boot entry: a GRUB 2 ``menuentry``, a GRUB legacy ``title`` block or a BLS file.

    ``path`` is the titles of the enclosing submenus and the entry's own title (GRUB's
    ``saved_entry`` may name it as ``Submenu>Title``); ``kernel`` is the KernelLine or
    None; ``initrds`` are ``(lineno, path)`` pairs.
    """

    __slots__ = ()


_GRUB2_INITRDS = ("initrd", "initrd16", "initrdefi")


def grub2_entries(text):
    """Every ``menuentry`` of a grub.cfg in file order (inside submenus too). Never raises;
    an entry left open at the end of the file is still returned."""
    entries, stack, current = [], [], None
    for lineno, line in enumerate(split_lines(text), 1):
        body = split_ending(line)[0]
        words = split_words(body)
        if not words:
            continue
        first = words[0]
        if first in ("menuentry", "submenu"):
            title = words[1] if len(words) > 1 else ""
            entry_id = ""
            for flag in ("$menuentry_id_option", "--id"):
                if flag in words[:-1]:
                    entry_id = words[words.index(flag) + 1]
            opens = words[-1] == "{" or body.rstrip().endswith("{")
            if first == "submenu":
                if opens:
                    stack.append(("submenu", title))
                continue
            current = {"lineno": lineno, "title": title, "id": entry_id, "kernel": None, "initrds": [],
                       "path": tuple(t for kind, t in stack if kind == "submenu") + (title,)}
            if opens:
                stack.append(("entry", title))
            continue
        if first == "}" or body.strip() == "}":
            if stack:
                kind, _ = stack.pop()
                if kind == "entry" and current is not None:
                    entries.append(_entry(current))
                    current = None
            continue
        if words[-1] == "{":
            stack.append(("other", first))   # 'function load_video {': its '}' is not ours
            continue
        if current is None:
            continue
        if first in _GRUB2_COMMANDS and current["kernel"] is None:
            current["kernel"] = KernelLine(lineno, words[1] if len(words) > 1 else None,
                                           tuple(words[2:]), body)
        elif first in _GRUB2_INITRDS:
            current["initrds"].extend((lineno, w) for w in words[1:])
    if current is not None:
        entries.append(_entry(current))
    return entries


def _entry(fields):
    return MenuEntry(fields["lineno"], fields["title"], fields["id"], fields["path"],
                     fields["kernel"], tuple(fields["initrds"]))


def grub_legacy_entries(text):
    """``(default, entries)`` of a GRUB legacy menu.lst/grub.conf: ``default`` is the
    value of the ``default`` line ('' when absent, e.g. '0' or 'saved')."""
    default, entries, current = "", [], None
    for lineno, line in enumerate(split_lines(text), 1):
        body = split_ending(line)[0]
        stripped = body.split("#", 1)[0].strip() if not body.strip().startswith("title") else body.strip()
        if not stripped:
            continue
        key, _, rest = stripped.partition(" ")
        if "=" in key:
            key, _, first = key.partition("=")
            rest = (first + " " + rest).strip()
        rest = rest.strip()
        if key == "default" and current is None:
            default = rest
        elif key == "title":
            if current is not None:
                entries.append(_entry(current))
            current = {"lineno": lineno, "title": rest, "id": "", "kernel": None, "initrds": [],
                       "path": (rest,)}
        elif current is not None and key == "kernel" and current["kernel"] is None:
            kernel_lines = grub_legacy(body)
            if kernel_lines:
                current["kernel"] = kernel_lines[0]._replace(lineno=lineno)
        elif current is not None and key == "initrd":
            current["initrds"].extend((lineno, w) for w in rest.split()[:1])
    if current is not None:
        entries.append(_entry(current))
    return default, entries


def bls_fields(text):
    """The keys of a Boot Loader Spec entry: ``{key: [(lineno, value), ...]}``."""
    fields = {}
    for lineno, line in enumerate(split_lines(text), 1):
        body = split_ending(line)[0].strip()
        if not body or body.startswith("#"):
            continue
        key, _, value = body.partition(" ")
        if "\t" in key:
            key, _, rest = key.partition("\t")
            value = rest + " " + value
        fields.setdefault(key, []).append((lineno, value.strip()))
    return fields


def search_uuids(text):
    """``(lineno, uuid)`` for every filesystem UUID a grub.cfg searches for:
    ``search [--no-floppy] --fs-uuid [--set=root] [--hint ...] UUID``, ``search -u UUID``
    and ``search.fs_uuid UUID [var]``."""
    found = []
    for lineno, line in enumerate(split_lines(text), 1):
        words = split_words(split_ending(line)[0])
        if not words:
            continue
        if words[0] == "search.fs_uuid" and len(words) > 1:
            found.append((lineno, words[1]))
        elif words[0] == "search" and ("--fs-uuid" in words or "-u" in words):
            rest, skip = [], False
            for word in words[1:]:
                if skip:
                    skip = False
                    continue
                if word in ("--hint", "-h") or (word.startswith("--hint-") and "=" not in word):
                    # '--hint HINT' takes the next word; '--set' takes its variable only
                    # as '--set=root' (an optional argument), so it never does.
                    skip = True
                    continue
                if word.startswith("-"):
                    continue
                rest.append(word)
            if rest:
                found.append((lineno, rest[0]))
    return found
