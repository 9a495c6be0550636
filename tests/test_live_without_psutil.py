"""Live facts without psutil (the single-file build on a bare system): the same answers from
/proc and /sys, so no check turns into SKIP for lack of an optional module (issue 14).

These read this machine's /proc and /sys (read-only) and compare with psutil's answers."""
import pytest

from agent.facts import live
from agent.core.rootfs import Root

psutil = pytest.importorskip("psutil")


def without_psutil(monkeypatch):
    facts = live.LiveFacts(Root("/"))

    def missing():
        raise live.Unavailable(live.MISSING_PSUTIL)
    monkeypatch.setattr(facts, "_ps", missing)
    return facts


def test_mounts_without_psutil_equal_psutils(monkeypatch):
    assert sorted(without_psutil(monkeypatch).mounts()) == sorted(live.LiveFacts(Root("/")).mounts())


def test_nics_without_psutil_equal_psutils(monkeypatch):
    assert without_psutil(monkeypatch).nics() == live.LiveFacts(Root("/")).nics()


def test_listening_ports_without_psutil_equal_psutils(monkeypatch):
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        port = server.getsockname()[1]
        mine = without_psutil(monkeypatch).listening_tcp_ports()
        assert port in mine
        assert mine == live.LiveFacts(Root("/")).listening_tcp_ports()
    finally:
        server.close()


def test_proc_mounts_unescapes_names_and_skips_short_lines():
    text = "/dev/vda1 / ext4 rw,relatime 0 0\n/dev/sdb1 /mnt/my\\040disk xfs rw 0 0\ngarbage\n"
    assert live.proc_mounts(text) == [("/dev/vda1", "/", "ext4", "rw,relatime"),
                                      ("/dev/sdb1", "/mnt/my disk", "xfs", "rw")]


def test_growpart_is_not_skipped_without_psutil(monkeypatch, tmp_path):
    # The live root's filesystem type comes from the mounts when fstab has no / line: before,
    # mounts() raised Unavailable and GUESTOS.OnlineResizeFS turned into SKIP.
    from agent.checks import growpart
    from agent.core.context import Context
    from agent.core.engine import Engine

    ctx = Context.for_root(str(tmp_path))
    ctx.live = without_psutil(monkeypatch)
    fstype, source, _problem = growpart.root_fstype(ctx)
    expected = [m[2] for m in live.LiveFacts(Root("/")).mounts() if m[1] == "/"]
    if expected and expected[-1] not in ("rootfs", "overlay", ""):
        assert (fstype, source) == (expected[-1], "the running system's mounts")
    else:
        assert fstype == ""
    (tmp_path / "etc").mkdir()
    result = Engine([growpart.Growpart]).run_check(ctx, Engine([growpart.Growpart]).checks[0])
    assert result.status != "SKIP", result.summary
