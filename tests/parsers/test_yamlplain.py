"""agent.parsers.yamlplain: what it reads is what yaml.safe_load reads, types included; the rest
is Unsupported (and then PyYAML reads it)."""
import glob
import os

import pytest
import yaml

import yamlgen
from agent.parsers import yamlplain
from agent.parsers.yamlplain import Unsupported

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
# The stock files of Debian 12's cloud-init 22.4.2, and every fixture root's cloud.cfg.
STOCK = sorted(glob.glob(os.path.join(FIXTURES, "yaml", "*.cfg")) +
               glob.glob(os.path.join(FIXTURES, "roots", "*", "etc", "cloud", "cloud.cfg")))


def read_as_pyyaml_does(text):
    """yamlplain's result, asserted equal to PyYAML's; Unsupported when it refuses."""
    got = yamlplain.load(text)
    assert yamlgen.same(got, yaml.safe_load(text)), text
    return got


@pytest.mark.parametrize("path", STOCK, ids=lambda p: os.path.relpath(p, FIXTURES))
def test_stock_cloud_init_files_are_read_as_pyyaml_reads_them(path):
    with open(path) as handle:
        text = handle.read()
    assert isinstance(read_as_pyyaml_does(text), dict)


def test_the_logging_file_anchors_literal_blocks_and_aliases():
    with open(os.path.join(FIXTURES, "yaml", "debian12-05_logging.cfg")) as handle:
        config = read_as_pyyaml_does(handle.read())
    base, to_file = config["_log"][0], config["_log"][1]
    assert base.startswith("[loggers]\nkeys=root,cloudinit\n\n[handlers]\n") and base.endswith("%(message)s\n")
    assert config["log_cfgs"] == [[base, to_file]]
    assert config["output"] == {"all": "| tee -a /var/log/cloud-init-output.log"}


SUPPORTED = [
    "a: 1\nb: -2\nc: +3\nd: 0\ne: yes\nf: Off\ng: ~\nh: null\ni:\nj: text with  spaces\n",
    "on: 1\nyes: no\n1: one\n~: nothing\nhttp://x: y\nkey : spaced\n",
    "list:\n- a\n- b\nnext: 1\n",
    "list:\n    - a\n    -   b\n    -\n    - - nested\n      - more\n",
    "items:\n  - name: x\n    value: 1\n  -   name: y\n      deep:\n        - z\n  - plain\n",
    "q: 'it''s' # comment\nd: \"a: b # not a comment\"\ne: ''\nf: \"\"\n",
    "flow: [a, b c, 'q', \"d\", 1, ~, yes]\nempty: []\nmap: {a: b, c: 1, d: 'x y'}\nnone: {}\n",
    "literal: |\n  line one\n\n    indented\n  last\nnext: 1\n",
    "strip: |-\n  x\n\n\nkeep: |+\n  y\n\n\nclip: |\n  z\n\n",
    "spaces: |\n   a\n   \n     \n   b\n",
    "_log:\n - &one |\n   text\n - &two plain\nuse: [ *one, *two ]\nagain: *two\n",
    "# only a comment\nkey: value # and another\n  # an indented comment\n",
    "url: https://deb.debian.org/debian\nfmt: '%(asctime)s'\ntemplate: http://%(region)s.example/\n",
    "a: &n\n  b: 1\n",
    "a: |\n x\n",
    "- a\n- b: c\n",
    "\n",
    "# nothing\n",
]


@pytest.mark.parametrize("text", SUPPORTED)
def test_what_it_reads_is_what_pyyaml_reads(text):
    read_as_pyyaml_does(text)


UNSUPPORTED = [
    "",                                         # no final newline
    "a: 1",
    "a: 1.5\n", "a: 007\n", "a: 0x1f\n", "a: 1_000\n", "a: 1:20\n", "mac: 52:54:00:12:34:56\n",
    "a: 2001-12-14\n", "a: .inf\n", "a: -x\n", "a: =\n", "<<: *x\n",
    "a: !!str 1\n", "a: >\n  folded\n", "a: |2\n  x\n", "a: |\n", "a: |\nx\n",   # the last: not deeper than its key
    "a: |\n\n      \n  x\n",                    # a blank line wider than the content
    "a: \"esc\\tape\"\n", "a: 'open\n", "a: \"multi\n  line\"\n",
    "a: plain\n  continued\n", "a:\n  plain\n",
    "a: [x, [y]]\n", "a: [x,]\n", "a: [x, , y]\n", "a: {k: v\n", "a: [x] y\n", "a: [k: v]\n",
    "a: *undefined\n", "a: &x [1]\nb: *x\n", "a: &x 1\nb: &x 2\n", "a: &x *x\n",
    "'quoted key': 1\n", "? complex\n: 1\n", "a#b: 1\n", "a: b#c\n", "a: b: c\n",
    "---\na: 1\n", "a: 1\n...\n", "%YAML 1.1\n---\na: 1\n",
    "a:\tb\n", "a: caf\u00e9\n", "a: 1\r\n", "\ufeffa: 1\n",
    "  a: 1\n", "scalar\n", "a: 1\n b: 2\n", "a:\n    b: 1\n  c: 2\n",
    "a: @x\n", "a: %x\n", "a: `x`\n",
]


@pytest.mark.parametrize("text", UNSUPPORTED)
def test_what_it_does_not_take_is_left_to_pyyaml(text):
    with pytest.raises(Unsupported):
        yamlplain.load(text)


def test_a_text_larger_than_yamlsafe_takes_is_left_to_pyyaml():
    from agent.parsers import yamlsafe
    assert yamlplain.MAX_BYTES == yamlsafe.MAX_BYTES and yamlplain.MAX_ALIASES == yamlsafe.MAX_ALIASES
    text = "k{}: v\n"
    small = "".join(text.format(i) for i in range(5000))
    assert len(small) < yamlsafe.MAX_BYTES and len(read_as_pyyaml_does(small)) == 5000
    with pytest.raises(Unsupported):
        yamlplain.load("".join(text.format(i) for i in range(12000)))
    many = "a: &a x\nb: [" + ", ".join(["*a"] * (yamlplain.MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(Unsupported):
        yamlplain.load(many)


def test_generated_documents_are_read_as_pyyaml_reads_them_or_left_to_it():
    read = 0
    for text in yamlgen.documents(seed=14, count=3000):
        try:
            read_as_pyyaml_does(text)
        except Unsupported:
            continue
        read += 1
    assert read > 200      # the generator reaches inside the subset, not only its edges
