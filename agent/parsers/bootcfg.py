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
import typing

from agent.parsers import keyvalue, split_ending, split_lines


class KernelLine(typing.NamedTuple):
    """A kernel command line; ``kernel`` is the image path or None."""

    lineno: int
    kernel: typing.Optional[str]
    args: tuple
    raw: str


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
