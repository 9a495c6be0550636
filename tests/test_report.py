"""Text report helpers: the documents behind "seed 000", commands that keep --root."""
from agent.core.model import Check, Message, Status
from agent.output import report
from agent.core.rootfs import Root


def test_seed_legend_names_only_the_documents_cited():
    assert report.seed_legend([]) == ""
    legend = report.seed_legend({"004", "000", "002"})
    assert legend == ("Seeds cited above are Alibaba Cloud ECS documents: 000 'Instructions for importing "
                      "images'; 002 'Create a custom image from a snapshot'; 004 'Community images'.\n")


class _Cites(Check):
    id = "cites"
    item = "cites"


def test_the_legend_comes_from_the_findings_refs_not_from_the_wording():
    check = _Cites()
    # Refs without any "seed" in the text: cited.
    quiet = check.result(Status.WARN, Message("the disk is {size}", size="3 GiB"), Message("Grow it."),
                         code="small", refs=("002",))
    assert report.result_refs(quiet) == {"002"}
    # Wording that looks like a citation, but no refs: not cited (a version, a date, a quote).
    loud = check.result(Status.WARN, Message("seed 004 says {x} (001)", x="y"), code="loud")
    assert report.result_refs(loud) == set()
    # Several findings: the union of their refs.
    both = check.results([check.finding(Status.WARN, "a", Message("a"), refs=("000",)),
                          check.finding(Status.FAIL, "b", Message("b"), refs=("003",))])
    assert report.result_refs(both) == {"000", "003"}
    assert "000 'Instructions for importing images'; 003 'Image check'" in report.seed_legend(
        report.result_refs(both))


def test_a_result_of_plain_strings_has_no_citations_read_from_its_prose():
    # Every check's findings are Messages with refs (findingconformance): the prose fallback
    # went with the last conversion, so wording alone cites nothing.
    check = _Cites()
    old = check.result(Status.WARN, "Seeds 000 and 002 warn", "a single root partition (003)", code="old")
    assert report.result_refs(old) == set()
    assert report.result_refs(check.result(Status.WARN, "Seed 000", code="cited", refs=("000",))) == {"000"}


def test_guestprep_command_adds_root_and_backup_dir_only_when_needed(tmp_path):
    assert report.guestprep_command(Root("/"), "plan --items dhcp") == "guestprep plan --items dhcp"
    image = tmp_path / "my image"
    image.mkdir()
    assert report.guestprep_command(Root(str(image)), "rollback --run X", "/srv/b") == (
        "guestprep rollback --root '{}' --backup-dir /srv/b --run X".format(image))
