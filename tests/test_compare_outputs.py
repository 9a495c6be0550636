"""tools/compare_outputs.py: what it treats as the same output, and what it refuses to delete."""
import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = importlib.util.spec_from_file_location(
    "compare_outputs", os.path.join(os.path.dirname(HERE), "tools", "compare_outputs.py"))
compare_outputs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(compare_outputs)


def output(results, **envelope):
    document = dict({"format_version": 1, "version": "0.1.0", "run_id": None, "root": "/tmp/w/roots/x",
                     "results": results}, **envelope)
    return 3, json.dumps(document), ""


def result(check_id="ssh", summary="ok", **extra):
    return dict({"id": check_id, "status": "PASS", "summary": summary, "data": None}, **extra)


def diff(base, head):
    normaliser = compare_outputs.Normaliser({"/tmp/w": "<TMP>", "/tmp/w/roots/x": "<ROOT>"})
    return compare_outputs.compare("x check", base, head, normaliser, "base", "head")


def test_what_changes_from_run_to_run_is_not_a_difference():
    base = output([result(summary="seen at 2026-12-01T10:00:00Z in /tmp/w/roots/x/etc")],
                  run_id="20261201T100000Z-abcd", version="0.1.0")
    head = output([result(summary="seen at 2026-12-02T23:59:01Z in /tmp/w/roots/x/etc")],
                  run_id="20261202T235901Z-0123", version="0.2.0")
    assert diff(base, head) == ""


def test_a_changed_status_summary_or_exit_code_is_a_difference():
    base = output([result()])
    changed = diff(base, output([result(summary="changed")])).splitlines()
    assert any(line.startswith("+") and '"summary": "changed"' in line for line in changed)
    assert any(line.startswith("-") and '"summary": "ok"' in line for line in changed)
    assert "-exit code: 3" in diff(base, (0,) + base[1:])
    os_changed = diff(output([], os={"id": "debian", "version": "12"}), output([], os={"id": "debian", "version": "11"}))
    assert '-    "version": "12"' in os_changed and '+    "version": "11"' in os_changed
    broken = diff(base, (1, "Traceback (most recent call last)", "boom"))
    assert "+stdout is not one JSON document:" in broken and "+boom" in broken


def test_findings_are_dropped_only_when_the_base_has_none():
    finding = {"status": "PASS", "code": "ssh.pass", "text": "ok", "path": "", "line": 0, "refs": []}
    assert diff(output([result()]), output([result(findings=[finding])])) == ""
    changed = dict(finding, text="other")
    assert "other" in diff(output([result(findings=[finding])]), output([result(findings=[changed])]))


def test_free_space_figures_are_the_hosts_but_its_status_is_compared():
    def free(free, status="PASS"):
        text = "the root filesystem has {} free of 252.0 GiB (27%), {} of 100 inodes free (96%)".format(*free)
        return output([result("free_space", text, status=status,
                              data={"size": 1, "free": free[0], "free_inodes": free[1]})])
    assert diff(free(("68.5 GiB", 96)), free(("67.1 GiB", 95))) == ""
    assert "WARN" in diff(free(("68.5 GiB", 96)), free(("67.1 GiB", 95), status="WARN"))


def test_it_deletes_only_inside_its_own_directory(tmp_path):
    work = compare_outputs.Workdir()
    try:
        inside = work.sub("roots", "a")
        os.makedirs(inside)
        work.remove(inside)
        assert not os.path.exists(inside)
        outside = tmp_path / "keep"
        outside.mkdir()
        os.symlink(str(outside), work.sub("link"))
        for path in (str(outside), work.sub("link"), work.sub("..")):
            with pytest.raises(RuntimeError):
                work.remove(path)
        assert outside.is_dir()
    finally:
        work.close()
    assert not os.path.exists(work.path)
