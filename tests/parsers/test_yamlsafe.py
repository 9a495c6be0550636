"""agent.parsers.yamlsafe: the same data and the same limits whichever parser PyYAML has."""
import glob
import os

import pytest

from agent.parsers import yamlsafe

yaml = pytest.importorskip("yaml")
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "roots")
DOCUMENTS = sorted(glob.glob(FIXTURES + "/*/etc/cloud/cloud.cfg") + glob.glob(FIXTURES + "/*/etc/cloud/cloud.cfg.d/*.cfg")
                   + glob.glob(FIXTURES + "/*/etc/netplan/*.yaml"))
needs_libyaml = pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML without libyaml")


@needs_libyaml
def test_libyaml_is_used_when_pyyaml_has_it():
    assert issubclass(yamlsafe._fast_loader_class(), yaml.CSafeLoader)


@needs_libyaml
@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: os.path.relpath(p, FIXTURES))
def test_libyaml_and_the_pure_python_parser_load_the_real_files_alike(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert yamlsafe.safe_load(text) == yaml.load(text, Loader=yaml.SafeLoader)


def test_aliases_are_counted_whichever_parser():
    shared = "base: &b {a: 1}\n" + "".join("k{}: *b\n".format(i) for i in range(yamlsafe.MAX_ALIASES))
    assert len(yamlsafe.safe_load(shared)) == yamlsafe.MAX_ALIASES + 1      # at the limit: read
    with pytest.raises(yamlsafe.TooComplex, match="more than 100 YAML aliases"):
        yamlsafe.safe_load(shared + "last: *b\n")


def test_text_with_undecodable_bytes_is_a_yaml_error_not_a_crash():
    # read_config keeps bytes that are not UTF-8 as surrogates; libyaml cannot take them.
    with pytest.raises(yaml.YAMLError):
        yamlsafe.safe_load("datasource_list: [ \udcff ]\n")
