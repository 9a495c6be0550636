import pickle

import pytest

from agent.core.model import Finding, Result
from agent.tuples import namedtuple


class Point(namedtuple("Point", ("x", "y", "label"), label="")):
    """A record as the layers declare theirs."""

    __slots__ = ()

    def moved(self):
        return self._replace(x=self.x + 1)


def test_defaults_fill_the_last_fields_and_the_subclass_stays_a_plain_tuple():
    p = Point(1, 2)
    assert p == (1, 2, "") and p.label == "" and Point(1, 2, "a").label == "a"
    assert Point(y=5, x=4) == (4, 5, "")
    with pytest.raises(TypeError):
        Point(1)                         # y has no default
    assert type(p.moved()) is Point and p.moved() == (2, 2, "")
    assert repr(p) == "Point(x=1, y=2, label='')"
    assert not hasattr(p, "__dict__")
    with pytest.raises(AttributeError):
        p.x = 3
    assert pickle.loads(pickle.dumps(p)) == p


def test_defaults_are_for_the_last_fields_only():
    with pytest.raises(TypeError, match="last fields"):
        namedtuple("Bad", ("a", "b"), a=1)
    with pytest.raises(TypeError, match="last fields"):
        namedtuple("Bad", ("a", "b"), c=1)


def test_the_models_records_keep_their_defaults():
    finding = Finding("FAIL", "x.y", "text")
    assert (finding.path, finding.line, finding.refs) == ("", 0, ())
    result = Result("x", "ITEM", "x", "title", "PASS", "fine")
    assert (result.hint, result.commands, result.data, result.findings) == ("", (), None, ())
