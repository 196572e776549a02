"""The README's "Python and Jupyter" examples run as written (the one that needs PyTorch is run as
written by Tools/reference/make_python_fixtures.py, which has PyTorch)."""
import re
import runpy

from conftest import REPOSITORY


def section_blocks():
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python and Jupyter"):readme.index("## The trace file")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_python_examples_run_as_written(tmp_path, monkeypatch, binary):
    blocks = [b for b in section_blocks() if "import torch" not in b]
    assert blocks, "the section has a Python example without torch"
    # From "the repository's root", but writing into a temporary folder.
    for name in ("Experiments", "Models"):
        (tmp_path / name).symlink_to(REPOSITORY / name)
    monkeypatch.chdir(tmp_path)
    for index, block in enumerate(blocks):
        script = tmp_path / f"block{index}.py"
        script.write_text(block, encoding="utf-8")
        runpy.run_path(str(script), run_name="__main__")
    assert (tmp_path / "neuron.html").stat().st_size > 10_000
    assert (tmp_path / "terrific.trace.safetensors").is_file()
