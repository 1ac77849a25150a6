"""`signoff demo` builds its project, serves it, and answers with the tokens and passwords it printed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from helpers.processes import SIGNOFF, environment, free_port

pytestmark = pytest.mark.slow  # builds the demo and serves it in a process


def test_the_demo_comes_up_and_a_reviewer_can_claim(tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "demo"
    process = subprocess.Popen(
        [SIGNOFF, "demo", "--dir", str(folder), "--port", str(port), "--cases", "500"],
        env=environment() | {"COLUMNS": "60"},  # narrow: no token may be cut
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    output = ""
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 180
        while "Serving" not in output and time.monotonic() < deadline and process.poll() is None:
            output += process.stdout.readline()
        assert "Signoff demo ready" in output, output
        assert f"http://127.0.0.1:{port}/docs" in output
        assert output.index("Web UI:") < output.index("API:")
        rows = re.findall(r"^  (\w[\w-]*) +\w+ +(\S+) +(so_[\w-]+)$", output, re.MULTILINE)
        tokens = {name: token for name, _, token in rows}
        passwords = {name: password for name, password, _ in rows if password != "-"}
        assert set(tokens) == {"admin", "alice", "bob", "lena", "owen", "audra", "intake-service"}
        assert set(passwords) == {"admin", "alice", "bob", "lena", "owen", "audra"}
        assert "signoff users token NAME" in output
        credentials = folder / "demo-credentials.txt"
        assert f"also in {credentials}" in output
        assert credentials.stat().st_mode & 0o777 == 0o600
        assert all(token in credentials.read_text() for token in tokens.values())
        (curl,) = re.findall(r"^Try:  (curl .*)$", output, re.MULTILINE)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            ready = time.monotonic() + 120  # the server loads three models; a shared machine is slow
            while time.monotonic() < ready:
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            assert http.get("/docs").status_code == 200
            tried = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30)  # as printed
            assert tried.returncode == 0 and json.loads(tried.stdout)["case"]["flow"], tried.stdout
            claimed = http.post("/api/v1/tasks/claim", headers={"Authorization": f"Bearer {tokens['alice']}"})
            demo_flows = {"credit-approval", "breast-cancer", "digits"}
            assert claimed.status_code == 200 and claimed.json()["case"]["flow"] in demo_flows
            flows = http.get("/api/v1/flows", headers={"Authorization": f"Bearer {tokens['audra']}"}).json()["flows"]
            assert {f["name"] for f in flows} == demo_flows
            form = http.get("/login")
            login_token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert login_token is not None
            fields = {"name": "lena", "password": passwords["lena"], "csrf_token": login_token[1], "next": ""}
            landed = http.post("/login", data=fields)
            assert landed.status_code == 303 and landed.headers["location"] == "/lead"
            assert http.get("/lead").status_code == 200  # the session cookie from the login
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
    assert (folder / ".signoff-demo").exists()
