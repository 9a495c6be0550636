"""collections.namedtuple with defaults, also on Python 3.6: the records of every layer.

Not typing.NamedTuple: importing typing and building its classes cost every run 12 ms on
Python 3.6, the system Python guestprep runs on in RHEL 7 and 8, Ubuntu 18.04 and SLES 15
(4 ms on 3.13), more than most checks take. A record's field types are said in comments
where it is declared.
"""
import collections


def namedtuple(*args, **defaults):
    """namedtuple(typename, fields, **defaults): a class to subclass. `defaults` are the
    values of the last fields (namedtuple's own defaults= is Python 3.7 and later). A subclass
    declares `__slots__ = ()`, so that its instances stay plain tuples."""
    typename, fields = args
    cls = collections.namedtuple(typename, fields)
    if defaults:
        tail = cls._fields[len(cls._fields) - len(defaults):]
        if sorted(tail) != sorted(defaults):
            raise TypeError("{}: defaults are for its last fields ({} given)".format(typename, ", ".join(defaults)))
        cls.__new__.__defaults__ = tuple(defaults[name] for name in tail)
    return cls
