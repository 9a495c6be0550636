"""Write guestprep(1) from the argparse parser: every command's --help, in man(7) markup.

    python3 packaging/man/mkman.py > guestprep.1

Generated from the parser rather than by help2man, which shows only the top-level --help
and would miss the commands' options. Run from the source tree (it imports agent/).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import agent  # noqa: E402
from agent.output import cli  # noqa: E402


def roff(text):
    lines = []
    for line in text.splitlines():
        line = line.replace("\\", "\\e").replace("-", "\\-")
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def main():
    os.environ["COLUMNS"] = "78"   # argparse wraps to this
    parser = cli.build_parser()
    subparsers = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"][0]
    # SOURCE_DATE_EPOCH: reproducible builds (Debian and rpm set it).
    date = time.strftime("%Y-%m-%d", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))))
    out = ['.TH GUESTPREP 1 "{}" "guestprep {}" "User Commands"'.format(date, agent.__version__),
           ".SH NAME", "guestprep \\- " + roff(parser.description.rstrip(".")),
           ".SH SYNOPSIS", ".B guestprep", "\\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
           ".SH DESCRIPTION", roff(parser.description),
           "It checks the running system, or a mounted image with \\fB\\-\\-root\\fR, and fixes what it "
           "finds through a journal that \\fBguestprep rollback\\fR undoes.",
           ".SH COMMANDS"]
    for name, sub in subparsers.choices.items():
        out += [".SS guestprep " + name, ".nf", roff(sub.format_help().rstrip()), ".fi"]
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        for group in nested:
            for child_name, child in group.choices.items():
                out += [".SS guestprep {} {}".format(name, child_name), ".nf", roff(child.format_help().rstrip()), ".fi"]
    out += [".SH EXIT STATUS", roff(parser.epilog),
            ".SH FILES",
            ".TP", "\\fB/var/lib/guestprep/\\fR", "backups, journal and log of fix runs (holds copies of /etc/shadow: "
            "remove before capture)",
            ".TP", "\\fB/etc/guestprep/at\\-shutdown\\fR", "the items armed by \\fBfix \\-\\-at\\-shutdown\\fR",
            ".SH SEE ALSO", "\\fBsystemctl\\fR(1): guestprep\\-check.service, guestprep\\-fix\\-at\\-shutdown.service"]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
