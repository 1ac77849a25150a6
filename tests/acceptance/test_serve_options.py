"""`signoff serve` behind a reverse proxy: the proxies named by --forwarded-allow-ips are believed when they say
the request came over https (so the web session cookie is Secure and __Host- bound); anyone else is not."""

from __future__ import annotations

from pathlib import Path

from helpers.processes import environment, ingested_example, server, signoff

HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def _login_cookie(project: Path, *options: str) -> str:
    with server(project, environment(), *options) as http:
        response = http.get("/login", headers=HTTPS)
        assert response.status_code == 200
        return response.headers["set-cookie"]


def test_a_trusted_proxy_marks_the_cookies_secure_and_an_untrusted_one_does_not(tmp_path: Path) -> None:
    project = Path(ingested_example(tmp_path, environment()))
    trusted = _login_cookie(project, "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8")
    assert trusted.startswith("__Host-signoff-login=") and "Secure" in trusted
    untrusted = _login_cookie(project, "--forwarded-allow-ips", "10.9.8.7")
    assert untrusted.startswith("signoff-login=") and "Secure" not in untrusted


def test_a_proxy_address_that_is_not_one_is_refused_before_serving(tmp_path: Path) -> None:
    refused = signoff("serve", "--forwarded-allow-ips", "127.0.0.1,proxy.local", env=environment(), cwd=tmp_path)
    assert refused.returncode == 2
    assert "--forwarded-allow-ips: 'proxy.local' is not an IP address or network" in " ".join(refused.stderr.split())
