"""A documentation page's commands, run as a reader types them: every ``$`` line of its ``console`` blocks and every
line of its ``sh`` blocks, in page order, in one fresh folder; a block the text introduces with "Save this as
`NAME`" (or "save it as") is written to that file first.

A command the page shows printing ``error:`` must fail; every other one must succeed. Each command runs in bash
with the variables and the folder the earlier ones left (as a reader's terminal keeps them). ``signoff serve`` is
started in the background and left running until the page ends, as in a second terminal. What a console block
shows under a command must appear in what it printed, in that order, once the values that differ on every run are
set aside: API tokens, times, hashes, process ids, the folder, and the numbers inside JSON (ids depend on the random
audit draw). A token the page shows is learned from the output it matched, so a later command that pastes the
page's token uses the real one."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

FENCE = re.compile(r"```([\w-]*)\n(.*?)```", re.S)
SAVE_AS = re.compile(r"[Ss]ave (?:this|it) as\s+`([^`]+)`")
TOKEN = re.compile(r"so_[A-Za-z0-9_-]{20,}")
TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")
HEX = re.compile(r"\b(?:sha256:)?[0-9a-f]{12,}\b")
PID = re.compile(r"\[\d+\]")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
DOC_FOLDER = re.compile(r"/tmp/[^/\s]+")  # noqa: S108 - the folder a page's example ran in, not one we write
JSON_LINE = re.compile(r'^\s*(?:"|[-\d]|[\[\]{}],?$|null|true|false)')
PROGRESS = "━"
SERVE = re.compile(r"\s*signoff\s+serve\b")


@dataclass
class Step:
    """One thing a reader does: run ``command`` (and see ``shown``), or save ``text`` as the file ``save_as``."""

    command: str = ""
    shown: list[str] = field(default_factory=list)
    save_as: str = ""
    text: str = ""
    line: int = 0


def steps(page: str) -> list[Step]:
    """The page's steps in order."""
    found: list[Step] = []
    for match in FENCE.finditer(page):
        kind, body = match.groups()
        line = page.count("\n", 0, match.start()) + 1
        before = page[max(0, match.start() - 300) : match.start()].rstrip().rsplit("\n\n", 1)[-1]
        named = SAVE_AS.search(before)
        if named is not None:
            found.append(Step(save_as=named.group(1), text=body, line=line))
        elif kind == "console":
            found.extend(_console(body, line))
        elif kind == "sh":
            found.extend(Step(command=command, line=line) for command in _joined(body.splitlines()))
    return found


def _joined(lines: list[str]) -> Iterator[str]:
    """Lines with their ``\\`` continuations joined, blank ones and comments left out."""
    pending = ""
    for raw in lines:
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        pending += raw + "\n"
        if _complete(pending.rstrip("\n")):
            yield pending.rstrip("\n")
            pending = ""
    if pending:
        yield pending.rstrip("\n")


def _complete(command: str) -> bool:
    """Whether ``command`` ends where a shell would run it: no ``\\`` continuation, no quote left open."""
    try:
        shlex.split(command, comments=True)
    except ValueError:  # "No closing quotation", or "No escaped character" after a final backslash
        return False
    return True


def _console(body: str, line: int) -> list[Step]:
    found: list[Step] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        text = lines[i]
        if text.startswith("$ "):
            command = [text[2:]]
            while not _complete("\n".join(command)) and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
            found.append(Step(command="\n".join(command), line=line))
        elif found and text.strip():
            found[-1].shown.append(text)
        i += 1
    return found


def _bare(command: str) -> str:
    """The command without a trailing comment."""
    return command.split(" #", 1)[0].strip()


def normal(line: str, *folders: Path) -> str:
    """``line`` with what differs between runs set aside (see the module's docstring); ``folders``: this run's
    folders, the innermost first, each read as the folder the page's example ran in."""
    text = line
    for folder in folders:
        text = text.replace(str(folder), "<folder>")
    text = DOC_FOLDER.sub("<folder>", text)
    text = TOKEN.sub("<token>", text)
    text = TIME.sub("<time>", text)
    text = HEX.sub("<hex>", text)
    text = PID.sub("[<pid>]", text)
    text = " ".join(text.split()).rstrip(",")
    if JSON_LINE.match(text):
        text = NUMBER.sub("<n>", text)
    return text


class Reader:
    """A reader's terminal in ``folder``: the variables and the folder each command leaves, the servers started."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.cwd, self.start = folder, folder, folder
        self.env = dict(env)
        self.pasted: dict[str, str] = {}  # a token the page shows -> the one this run printed
        self.servers: list[tuple[subprocess.Popen[bytes], Path]] = []

    def do(self, step: Step, typed: str = "") -> None:
        if step.save_as:
            (self.cwd / step.save_as).write_text(step.text, encoding="utf-8")
            return
        command = step.command
        for shown, real in self.pasted.items():
            command = command.replace(shown, real)
        output = self._serve(command) if SERVE.match(command) else self._run(command, step, typed)
        self._compare(step, output)

    def _run(self, command: str, step: Step, typed: str) -> str:
        state = self.folder / ".reader-state"
        script = f"set -a\ncd {shlex.quote(str(self.cwd))}\n{command}\nstatus=$?\n"
        script += f'{{ pwd; env -0; }} > {shlex.quote(str(state))}\nexit "$status"\n'
        done = subprocess.run(
            ["bash", "-c", script], env=self.env, input=typed, capture_output=True, text=True, timeout=600
        )
        refused = any(line.lstrip().startswith("error:") for line in step.shown)  # the page shows it fail
        failed = f"line {step.line}: `{command}` exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        assert (done.returncode != 0) == refused, failed
        cwd, _, rest = state.read_text(encoding="utf-8").partition("\n")
        self.cwd = Path(cwd)
        self.env = dict(item.split("=", 1) for item in rest.split("\0") if "=" in item)
        return done.stdout + done.stderr

    def _serve(self, command: str) -> str:
        """Start the server as a second terminal would, and return what it printed once it answers."""
        words = shlex.split(command, comments=True)
        port = int(words[words.index("--port") + 1]) if "--port" in words else 8000
        log = self.folder / f"serve-{len(self.servers)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"], cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.servers.append((process, log))
        deadline = time.monotonic() + 180  # two server processes on a loaded 2-core machine took over 60 s
        with httpx.Client(timeout=5) as client:
            while True:
                assert process.poll() is None, f"`{command}` exited:\n{log.read_text(errors='replace')}"
                with suppress(httpx.TransportError):
                    if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        return log.read_text(errors="replace")
                assert time.monotonic() < deadline, f"`{command}` did not answer on port {port}"
                time.sleep(0.2)

    def _compare(self, step: Step, output: str) -> None:
        """Every line the page shows is in the output, in order; a token it shows is learned from its match."""
        printed = [(line, normal(line, self.start, self.folder)) for line in output.splitlines() if line.strip()]
        at = 0
        for shown in step.shown:
            if shown.strip() in ("...", "…") or PROGRESS in shown:
                continue
            wanted = normal(shown)
            for offset, (line, seen) in enumerate(printed[at:]):
                if seen == wanted:
                    self.pasted.update(zip(TOKEN.findall(shown), TOKEN.findall(line), strict=True))
                    at += offset + 1
                    break
            else:
                raise AssertionError(
                    f"line {step.line}: `{step.command}` should print\n  {shown}\n(read as {wanted!r}) but printed:\n"
                    + output
                )

    def close(self) -> None:
        for process, _ in self.servers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def reader(folder: Path, env: dict[str, str]) -> Iterator[Reader]:
    terminal = Reader(folder, env)
    try:
        yield terminal
    finally:
        terminal.close()


@dataclass(frozen=True)
class Page:
    """How to follow a page: in ``start`` (a folder below the run's own; default: the run's folder), after the
    ``given`` commands (what the page says it assumes), typing ``typed`` at a command's prompts, leaving out the
    commands in ``skip`` (as the page shows them, without their comment), with each text of ``replace`` read as
    its value everywhere on the page (a name the reader would choose, such as the database the page creates)."""

    path: Path
    start: str = ""
    given: tuple[str, ...] = ()
    typed: dict[str, str] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()
    replace: dict[str, str] = field(default_factory=dict)


def run_page(page: Page, folder: Path, env: dict[str, str]) -> int:
    """Do every step of ``page`` in ``folder``; how many of its commands ran."""
    text = page.path.read_text(encoding="utf-8")
    for shown, real in page.replace.items():
        text = text.replace(shown, real)
    todo = [step for step in steps(text) if _bare(step.command) not in page.skip]
    assert todo, f"{page.path} has no commands"
    path_with_signoff = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    with reader(folder, {**env, "PATH": path_with_signoff}) as terminal:
        terminal.cwd = terminal.start = folder / page.start
        for command in page.given:
            terminal.do(Step(command=command))
        for step in todo:
            terminal.do(step, typed=page.typed.get(_bare(step.command), ""))
    return sum(1 for step in todo if step.command)
