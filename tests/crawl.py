"""A crawler that follows every link and posts every form with awkward values, and counts 5xx answers.

Used by tests/test_crawl.py through Django's test client, and against a running server (`make run`):

    .venv/bin/python -m tests.crawl http://127.0.0.1:8000 clinician:PASSWORD admin:PASSWORD …

It signs in as each user given (user:password; "-" for a visitor who is not signed in), walks what that
user can reach from the home page (same site only, GET links, each path once, bounded), and posts each
form found once per awkward value. It never follows sign-out. Prints one line per 5xx and a summary;
exits 1 if any answer was 5xx.
"""

from __future__ import annotations

import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

# Values a careless or hostile user types: empty, long, markup, SQL, numbers out of range, impossible dates,
# non-ASCII, a NUL byte (which must be a 400, not a 500).
AWKWARD = [
    "",
    "x" * 5000,
    "<script>alert(1)</script>",
    "' OR 1=1; --",
    "-1",
    "99999999999999999999999",
    "2026-02-30",
    "Zoë 🙂 ٣",
    "a\x00b",
]
_LINK = re.compile(r'<a\b[^>]*\bhref="([^"#]+)"', re.I)
_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.I | re.S)
_FIELD = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"', re.I)
_ATTR = re.compile(r'\b(method|action)="([^"]*)"', re.I)
_SKIP = re.compile(r"/accounts/logout/|/static/|\.(?:csv|json|jsonl)$|/exports/fhir/")

Fetch = Callable[[str, str, dict | None], tuple[int, str]]  # (method, path, data) → (status, html)


@dataclass
class Crawl:
    fetch: Fetch
    max_pages: int = 200
    seen: set[str] = field(default_factory=set)
    statuses: list[tuple[int, str, str]] = field(default_factory=list)  # (status, method, path)

    def _get(self, path: str) -> str:
        status, html = self.fetch("GET", path, None)
        self.statuses.append((status, "GET", path))
        return html if status == 200 else ""

    def run(self, start: str = "/") -> list[tuple[int, str, str]]:
        queue = [start]
        while queue and len(self.seen) < self.max_pages:
            path = queue.pop(0)
            key = urllib.parse.urlsplit(path)._replace(query="").geturl()
            if key in self.seen or _SKIP.search(key):
                continue
            self.seen.add(key)
            html = self._get(path)
            for href in _LINK.findall(html):
                url = urllib.parse.urljoin(path, href.replace("&amp;", "&"))
                parts = urllib.parse.urlsplit(url)
                if not parts.netloc:  # same site only
                    queue.append(parts._replace(scheme="", netloc="").geturl())
            for attrs, body in _FORM.findall(html):
                self._fuzz(path, dict((k.lower(), v) for k, v in _ATTR.findall(attrs)), body)
        return [s for s in self.statuses if s[0] >= 500]

    def _fuzz(self, page: str, attrs: dict, body: str) -> None:
        action = urllib.parse.urljoin(page, attrs.get("action") or page)
        if _SKIP.search(action):
            return
        names = sorted({n for n in _FIELD.findall(body) if n != "csrfmiddlewaretoken"})
        method = attrs.get("method", "get").upper()
        for value in AWKWARD:
            data = dict.fromkeys(names, value)
            if method == "POST":
                status, _ = self.fetch("POST", action, data)
            else:
                status, _ = self.fetch("GET", f"{action}?{urllib.parse.urlencode(data)}", None)
            self.statuses.append((status, method, action))


def http_fetcher(base: str, username: str | None, password: str | None) -> Fetch:
    """A fetcher for a running server: a cookie jar, the CSRF token sent back, redirects followed."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def fetch(method: str, path: str, data: dict | None) -> tuple[int, str]:
        body = None
        headers = {"Referer": base + "/"}
        if method == "POST":
            token = next((c.value for c in jar if c.name == "csrftoken"), "")
            body = urllib.parse.urlencode({**(data or {}), "csrfmiddlewaretoken": token}).encode()
            headers["X-CSRFToken"] = token
        request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, ""

    if username:
        fetch("GET", "/accounts/login/", None)
        fetch("POST", "/accounts/login/", {"username": username, "password": password})
    return fetch


def main(argv: list[str]) -> int:
    base, *users = argv
    failures = 0
    for spec in users or ["-"]:
        username, _, password = spec.partition(":")
        crawl = Crawl(http_fetcher(base.rstrip("/"), None if username == "-" else username, password))
        bad = crawl.run()
        failures += len(bad)
        for status, method, path in bad:
            print(f"{status} {method} {path} (as {username})")
        print(f"{username}: {len(crawl.statuses)} requests, {len(crawl.seen)} pages, {len(bad)} answers 5xx")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
