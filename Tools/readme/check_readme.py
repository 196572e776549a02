#!/usr/bin/env python3
"""Runs the README's code blocks as written, so that every command a user copies works.

The blocks run in order, in a scratch copy of the repository (its tracked files, `Models/` linked,
a git repository of its own so that snapshot commits land there), with `attnlab` on PATH:

- ```sh blocks run with bash (errexit, pipefail), each with a time limit;
- ```yaml blocks are experiments: written to Experiments/readme-LINE.yaml and run with `attnlab run`
  (they must pass), unless a directive names the file to write them to;
- ```python blocks run with --python when given (the package's venv), else they are reported skipped;
- ```json blocks (file formats) must parse;
- ```swift blocks must appear verbatim in the test file their directive names (which compiles them).

A directive is an HTML comment on the line before a block (invisible on GitHub):
  <!-- readme-test: skip REASON -->        not run, REASON printed
  <!-- readme-test: file PATH -->          yaml: written to PATH, not run by itself
  <!-- readme-test: in PATH -->            swift: the block's lines are in PATH
Blocks without a language (output, usage lines) are not code and are left alone.

Usage: check_readme.py README.md --attnlab .build/debug/attnlab [--python PY] [--only LINE] [--keep]
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time

FENCE = re.compile(r"^( *)```(\w*)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(skip|file|in)\s*(.*?)\s*-->\s*$")


def blocks(text):
    """(line, language, directive, argument, code) for each fenced block, in order."""
    lines = text.split("\n")
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, start, language = len(match.group(1)), i + 1, match.group(2)
        j = i + 1
        while j < len(lines) and not lines[j].lstrip(" ").startswith("```"):
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        directive = DIRECTIVE.match(lines[k].strip()) if k >= 0 else None
        code = "\n".join(line[indent:] if line[:indent].isspace() else line for line in lines[i + 1:j])
        found.append((start, language, directive.group(1) if directive else None,
                      directive.group(2) if directive else "", code))
        i = j + 1
    return found


def sandbox(root, attnlab):
    """A scratch copy of the repository's tracked files, with Models/ linked and attnlab on PATH."""
    folder = tempfile.mkdtemp(prefix="attnlab-readme-")
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=root, check=True, capture_output=True).stdout.decode().split("\0")
    for path in filter(None, tracked):
        source = os.path.join(root, path)
        if not os.path.isfile(source):
            continue
        target = os.path.join(folder, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
    os.symlink(os.path.join(root, "Models"), os.path.join(folder, "Models"))
    binaries = os.path.join(folder, ".readme-bin")
    os.makedirs(binaries)
    os.symlink(os.path.abspath(attnlab), os.path.join(binaries, "attnlab"))
    environment = dict(os.environ, PATH=binaries + os.pathsep + os.environ.get("PATH", ""),
                       GIT_AUTHOR_NAME="README", GIT_AUTHOR_EMAIL="readme@example.invalid",
                       GIT_COMMITTER_NAME="README", GIT_COMMITTER_EMAIL="readme@example.invalid")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, env=environment, check=True,
                   capture_output=True)
    with open(os.path.join(folder, ".git", "info", "exclude"), "a") as exclude:
        exclude.write(".readme-bin\nModels\n")
    for command in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "README sandbox"]):
        subprocess.run(command, cwd=folder, env=environment, check=True, capture_output=True)
    return folder, environment


def run(command, folder, environment, limit):
    started = time.monotonic()
    try:
        result = subprocess.run(command, cwd=folder, env=environment, capture_output=True,
                                timeout=limit, stdin=subprocess.DEVNULL)
        output = (result.stdout + result.stderr).decode(errors="replace")
        return result.returncode, output, time.monotonic() - started
    except subprocess.TimeoutExpired as expired:
        output = ((expired.stdout or b"") + (expired.stderr or b"")).decode(errors="replace")
        return None, output + f"\n(stopped after {limit} s)", time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("readme")
    parser.add_argument("--attnlab", required=True)
    parser.add_argument("--python", type=os.path.abspath)
    parser.add_argument("--only", type=int, action="append", help="run only the block at this line")
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    arguments = parser.parse_args()

    readme = os.path.abspath(arguments.readme)
    root = os.path.dirname(readme)
    with open(readme, encoding="utf-8") as handle:
        found = blocks(handle.read())
    folder, environment = sandbox(root, arguments.attnlab)
    failures, ran, skipped = [], 0, 0
    try:
        for line, language, directive, argument, code in found:
            if not language or (arguments.only and line not in arguments.only):
                continue
            where = f"README.md:{line} ({language})"
            if directive == "skip":
                print(f"skip {where}: {argument}")
                skipped += 1
                continue
            if language == "sh":
                command = ["bash", "-e", "-o", "pipefail", "-c", code]
            elif language == "yaml":
                path = argument if directive == "file" else f"Experiments/readme-{line}.yaml"
                os.makedirs(os.path.dirname(os.path.join(folder, path)) or folder, exist_ok=True)
                with open(os.path.join(folder, path), "w", encoding="utf-8") as handle:
                    handle.write(code + "\n")
                if directive == "file":
                    print(f"file {where} → {path}")
                    continue
                command = ["attnlab", "run", path, "--runs", ".readme-runs"]
            elif language == "python":
                if not arguments.python:
                    print(f"skip {where}: no --python given")
                    skipped += 1
                    continue
                command = [arguments.python, "-c", code]
            elif language == "json":
                try:
                    json.loads(code)
                    print(f"ok   {where}: parses as JSON")
                    ran += 1
                except ValueError as error:
                    failures.append((where, f"not JSON: {error}"))
                continue
            elif language == "swift":
                if directive != "in":
                    failures.append((where, "a swift block needs <!-- readme-test: in TEST_FILE -->"))
                    continue
                with open(os.path.join(root, argument), encoding="utf-8") as handle:
                    tested = handle.read()
                missing = [l for l in code.split("\n") if l.strip() and l.strip() not in tested]
                if missing:
                    failures.append((where, f"lines not in {argument}:\n" + "\n".join(missing)))
                else:
                    print(f"ok   {where}: compiled in {argument}")
                    ran += 1
                continue
            else:
                failures.append((where, f"no way to check a {language!r} block; add a directive"))
                continue
            status, output, seconds = run(command, folder, environment, arguments.timeout)
            ran += 1
            if status == 0:
                print(f"ok   {where} in {seconds:.1f} s")
            else:
                failures.append((where, f"exit {status}\n$ {code}\n{output[-3000:]}"))
                print(f"FAIL {where} in {seconds:.1f} s")
    finally:
        if arguments.keep or failures:
            print(f"scratch folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    for where, detail in failures:
        print(f"\nFAIL {where}: {detail}")
    print(f"\nREADME blocks: {ran} ran, {skipped} skipped, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
