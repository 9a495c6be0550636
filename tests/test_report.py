"""Text report helpers: the documents behind "seed 000", commands that keep --root."""
from agent.output import report
from agent.core.rootfs import Root


def test_seed_legend_names_only_the_documents_cited():
    assert report.seed_legend(["nothing cited here", "", None]) == ""
    legend = report.seed_legend(["Seeds 000 and 002 warn", "a single root partition (002)", "seed 004's form"])
    assert legend == ("Seeds cited above are Alibaba Cloud ECS documents: 000 'Instructions for importing "
                      "images'; 002 'Create a custom image from a snapshot'; 004 'Community images'.\n")
    assert report.seed_legend(["version 10.0.0 (20240101)"]) == ""


def test_guestprep_command_adds_root_and_backup_dir_only_when_needed(tmp_path):
    assert report.guestprep_command(Root("/"), "plan --items dhcp") == "guestprep plan --items dhcp"
    image = tmp_path / "my image"
    image.mkdir()
    assert report.guestprep_command(Root(str(image)), "rollback --run X", "/srv/b") == (
        "guestprep rollback --root '{}' --backup-dir /srv/b --run X".format(image))
