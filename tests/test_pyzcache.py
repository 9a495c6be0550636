"""agent.core.pyzcache: compiled code of guestprep.pyz kept outside the archive, trusted only
when it is ours, private, and matches the archive and its own hash (issue 14)."""
import marshal
import os
import sys
import zipfile

import pytest

from agent.core import pyzcache


@pytest.fixture
def archive(tmp_path):
    path = str(tmp_path / "app.pyz")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__main__.py", "print('main')\n")
        z.writestr("agent/__init__.py", "X = 1\n")
        z.writestr("agent/sub/__init__.py", "")
        z.writestr("agent/sub/mod.py", "VALUE = 'from the archive'\n")
        z.writestr("remediations/__init__.py", "")
        z.writestr("other/ignored.py", "")
    return path


@pytest.fixture
def finders(monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    before = list(sys.meta_path)
    yield
    sys.meta_path[:] = before


def cache_files(directory):
    return [n for n in os.listdir(directory) if n.startswith("pyz-")]


def no_compiling(monkeypatch):
    def refuse(archive):
        raise AssertionError("compiled again instead of using the cache")
    monkeypatch.setattr(pyzcache, "compile_archive", refuse)


def test_first_run_writes_a_private_cache_the_second_run_uses(archive, tmp_path, finders, monkeypatch):
    directory = str(tmp_path / "cache" / "pyz")
    finder = pyzcache.install(archive, directory)
    assert finder is not None and sys.meta_path[0] is finder
    assert sorted(finder.codes) == ["agent", "agent.sub", "agent.sub.mod", "remediations"]
    assert finder.codes["agent.sub"][0] is True and finder.codes["agent.sub.mod"][0] is False
    assert os.stat(directory).st_mode & 0o777 == 0o700
    [name] = cache_files(directory)
    assert os.stat(os.path.join(directory, name)).st_mode & 0o777 == 0o600
    assert "-" + sys.implementation.cache_tag + "-" in name
    no_compiling(monkeypatch)
    again = pyzcache.install(archive, directory)
    assert again is not None and again.codes == finder.codes
    spec = again.find_spec("agent.sub.mod")
    assert spec.origin == os.path.join(archive, "agent", "sub", "mod.py") and spec.loader is again
    assert again.find_spec("agent.sub").submodule_search_locations == [os.path.join(archive, "agent", "sub")]
    assert again.find_spec("json") is None


def test_the_finder_runs_the_cached_code(archive, tmp_path, finders):
    finder = pyzcache.install(archive, str(tmp_path / "c"))
    spec = finder.find_spec("agent.sub.mod")
    module = type(sys)("agent.sub.mod")
    finder.exec_module(module)
    assert module.VALUE == "from the archive"
    assert "VALUE" in finder.get_source("agent.sub.mod")
    assert spec.has_location


def test_a_tampered_or_truncated_cache_is_ignored_and_rebuilt(archive, tmp_path, finders):
    directory = str(tmp_path / "c")
    pyzcache.install(archive, directory)
    [name] = cache_files(directory)
    path = os.path.join(directory, name)
    good = open(path, "rb").read()
    digest = good[len(pyzcache.MAGIC):len(pyzcache.MAGIC) + pyzcache.DIGEST_LENGTH].decode()
    head = len(pyzcache.MAGIC) + 2 * (pyzcache.DIGEST_LENGTH + 1)
    # Same length, one byte of the code changed: the file's own hash no longer matches.
    codes = marshal.loads(good[head:])
    codes["agent.sub.mod"] = (False, marshal.dumps(compile("VALUE = 'planted'", "x", "exec")))
    forged = good[:head] + marshal.dumps(codes)
    for bad in (forged, good[:-10], good[:20], b"junk"):
        with open(path, "wb") as handle:
            handle.write(bad)
        assert pyzcache.load(path, digest) is None
        finder = pyzcache.install(archive, directory)
        module = type(sys)("agent.sub.mod")
        finder.exec_module(module)
        assert module.VALUE == "from the archive"
        assert open(path, "rb").read() == good      # replaced by a fresh, valid one
    assert pyzcache.load(path, "0" * pyzcache.DIGEST_LENGTH) is None     # compiled from another archive


def test_python_dash_B_uses_the_cache_but_never_writes_one(archive, tmp_path, finders, monkeypatch):
    directory = str(tmp_path / "c")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert pyzcache.install(archive, directory) is None
    assert not os.path.exists(directory)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    pyzcache.install(archive, directory)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    no_compiling(monkeypatch)
    assert pyzcache.install(archive, directory) is not None


def test_a_changed_archive_gets_its_own_cache(archive, tmp_path, finders):
    directory = str(tmp_path / "c")
    pyzcache.install(archive, directory)
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr("agent/new.py", "NEW = 1\n")
    finder = pyzcache.install(archive, directory)
    assert "agent.new" in finder.codes
    assert len(cache_files(directory)) == 2


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o770])
def test_a_directory_others_can_enter_or_write_is_not_used(archive, tmp_path, finders, mode, monkeypatch):
    directory = tmp_path / "c"
    directory.mkdir()
    directory.chmod(mode)
    assert pyzcache.install(archive, str(directory)) is None
    assert cache_files(str(directory)) == []


def test_a_cache_file_others_could_have_written_is_not_trusted(archive, tmp_path, finders, monkeypatch):
    directory = str(tmp_path / "c")
    pyzcache.install(archive, directory)
    [name] = cache_files(directory)
    path = os.path.join(directory, name)
    digest = open(path, "rb").read()[len(pyzcache.MAGIC):len(pyzcache.MAGIC) + pyzcache.DIGEST_LENGTH].decode()
    assert pyzcache.load(path, digest) is not None
    os.chmod(path, 0o666)
    assert pyzcache.load(path, digest) is None
    os.chmod(path, 0o600)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)       # another user's file, even if private
        assert pyzcache.load(path, digest) is None
        os.chown(path, 0, 0)
    target = path + ".real"
    os.rename(path, target)
    os.symlink(target, path)                 # a symlink is never followed
    assert pyzcache.load(path, digest) is None


def test_another_users_directory_is_not_used(archive, tmp_path, finders):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory owned by someone else")
    directory = tmp_path / "c"
    directory.mkdir(mode=0o700)
    os.chown(str(directory), 65534, 65534)
    assert pyzcache.install(archive, str(directory)) is None
    assert cache_files(str(directory)) == []


def test_where_nothing_can_be_written_it_falls_back_silently(archive, tmp_path, finders):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert pyzcache.install(archive, str(blocker / "pyz")) is None
    assert pyzcache.install(str(tmp_path / "missing.pyz"), str(tmp_path / "c")) is None
    assert sys.meta_path[0] is not None and not isinstance(sys.meta_path[0], pyzcache.CodeFinder)


def test_where_the_cache_lives(monkeypatch):
    assert pyzcache.cache_dir({"GUESTPREP_PYZ_CACHE": "off"}) is None
    assert pyzcache.cache_dir({"GUESTPREP_PYZ_CACHE": ""}) is None
    assert pyzcache.cache_dir({"GUESTPREP_PYZ_CACHE": "/x/y"}) == "/x/y"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert pyzcache.cache_dir({"HOME": "/root"}) == "/run/guestprep/pyz"     # tmpfs: never in an image
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert pyzcache.cache_dir({"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/h"}) == "/run/user/1000/guestprep/pyz"
    assert pyzcache.cache_dir({"HOME": "/h"}) == "/h/.cache/guestprep/pyz"
    assert pyzcache.cache_dir({}) is None
