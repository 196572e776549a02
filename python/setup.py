"""Records where the package was installed from, so that `attnlab` finds the repository's build
(`.build/release/attnlab`, `.build/debug/attnlab`) after `pip install ./python`, which copies the
package away from the repository."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyRecordingSource(build_py):
    def run(self):
        super().run()
        source = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "attnlab" / "_source.py"
        target.write_text(f"# Written by setup.py at install time.\nSOURCE = {str(source)!r}\n")


setup(cmdclass={"build_py": BuildPyRecordingSource})
