"""Serving the emulator on loopback: a threaded ``wsgiref`` server, in a background thread
for tests (:func:`start_emulator`) or in the foreground for ``daylock emulator`` and
``python -m daylock.testing.discord_emulator``.
"""

from __future__ import annotations

import socketserver
import threading
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from requests import Session as HttpSession

from daylock.testing.discord_emulator.app import API_PREFIX, Emulator, Fault
from daylock.testing.discord_emulator.config import EmulatorConfig


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the emulator keeps its own request record)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _LoggingHandler(WSGIRequestHandler):
    pass


def make_emulator_server(
    emulator: Emulator, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True
) -> WSGIServer:
    handler = _QuietHandler if quiet else _LoggingHandler
    return make_server(
        host, port, emulator, server_class=_ThreadingWSGIServer, handler_class=handler
    )


class RunningEmulator:
    """An emulator served in a background thread of this process (tests).

    State is read directly from the :class:`Emulator` (same process); the same data is
    available over HTTP under ``/_emulator/`` for other processes.
    """

    def __init__(self, emulator: Emulator, server: WSGIServer) -> None:
        self.emulator = emulator
        self._server = server
        host, port = server.server_address[:2]
        self.host = host.decode() if isinstance(host, bytes) else str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self.base_api_url = self.url + API_PREFIX
        self.control_url = self.url + "/_emulator"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"discord-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        return self.emulator.requests(path)

    def clear_requests(self) -> None:
        self.emulator.clear_requests()

    def messages(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        return self.emulator.messages(channel_id)

    def role_changes(self) -> list[dict[str, Any]]:
        return self.emulator.role_changes()

    def delete_message(self, message_id: str) -> None:
        """A moderator deletes a message (a repeat of its nonce then answers 404)."""
        if self.emulator.delete_message(message_id) is None:
            raise KeyError(message_id)

    def invalid_requests(self) -> dict[str, Any]:
        """How many invalid requests (401, 403, 429) count towards the ban, and the ban."""
        return self.emulator.invalid_requests()

    def add_fault(self, kind: str, path: str = ".*", **options: Any) -> Fault:
        """Inject a fault, e.g. ``add_fault("rate_limit", "/messages", count=2, retry_after=0.1)``.

        Kinds: rate_limit, error, ban, delay (before the work), delay_after (after the
        work: the request takes effect but its answer comes late). Options: method,
        count, probability, retry_after, scope (user, global, shared), status and code
        (any 4xx/5xx and Discord's JSON code for "error"), message, delay.
        """
        return self.emulator.add_fault({"kind": kind, "path": path, **options})

    def advance_clock(self, seconds: float) -> None:
        self.emulator.advance_clock(seconds)

    def set_users(self, data: dict[str, Any]) -> None:
        self.emulator.set_users(data)

    def reset(self, config: EmulatorConfig | None = None) -> None:
        self.emulator.reset(config)

    def authorize(
        self,
        authorize_url: str,
        *,
        user_id: str | None = None,
        action: str = "authorize",
        session: HttpSession | None = None,
    ) -> str:
        """Play the user on the consent page: load it, submit the decision, and return
        the ``Location`` the emulator redirects to (the app's callback URL).

        Raises ``AssertionError`` with the page text when the emulator refuses the request.
        """
        http = session or HttpSession()
        page = http.get(authorize_url, allow_redirects=False, timeout=10)
        if page.status_code == 302:
            return str(page.headers["Location"])  # a redirected error (e.g. invalid_scope)
        if page.status_code != 200:
            raise AssertionError(f"consent page refused ({page.status_code}): {page.text}")
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        if user_id is None and self.config.users:
            user_id = self.config.users[0].id
        form = {**query, "action": action, "user_id": user_id or ""}
        post_url = authorize_url.split("?", 1)[0]
        decision = http.post(post_url, data=form, allow_redirects=False, timeout=10)
        if decision.status_code != 302:
            raise AssertionError(f"consent refused ({decision.status_code}): {decision.text}")
        return str(decision.headers["Location"])

    def log_in_as(
        self, authorize_url: str, *, username: str, session: HttpSession | None = None
    ) -> str:
        """Press the consent page's "Log in as USERNAME" button (see :func:`log_in_as`)."""
        return log_in_as(authorize_url, username=username, session=session)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ConsentForms(HTMLParser):
    """The forms of a consent page: each one's action, hidden fields and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({"action": attributes.get("action", ""), "hidden": {}, "buttons": []})
        elif self.forms and tag == "input" and attributes.get("type") == "hidden":
            self.forms[-1]["hidden"][attributes.get("name", "")] = attributes.get("value", "")
        elif self.forms and tag == "button":
            self._button = {**attributes, "text": ""}
            self.forms[-1]["buttons"].append(self._button)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button["text"] += data


def log_in_as(authorize_url: str, *, username: str, session: HttpSession | None = None) -> str:
    """Play QA on the consent page: load it, press the button that reads "Log in as
    USERNAME" (submitting its form as a browser would: the form's hidden fields and the
    button's name and value), and return the ``Location`` the emulator redirects to.

    Raises ``AssertionError`` when the page offers no such button or the emulator
    refuses the decision."""
    http = session or HttpSession()
    page = http.get(authorize_url, allow_redirects=False, timeout=10)
    if page.status_code != 200:
        raise AssertionError(f"consent page refused ({page.status_code}): {page.text}")
    parser = _ConsentForms()
    parser.feed(page.text)
    label = f"Log in as {username}"
    for form in parser.forms:
        for button in form["buttons"]:
            if button["text"].strip() == label:
                data = {**form["hidden"], button["name"]: button["value"]}
                target = urljoin(authorize_url, form["action"])
                decision = http.post(target, data=data, allow_redirects=False, timeout=10)
                if decision.status_code != 302:
                    raise AssertionError(
                        f"consent refused ({decision.status_code}): {decision.text}"
                    )
                return str(decision.headers["Location"])
    raise AssertionError(f"the consent page has no {label!r} button:\n{page.text}")


def start_emulator(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> RunningEmulator:
    """Start an emulator on ``host:port`` (0 = a free port) in a daemon thread."""
    emulator = Emulator(config)
    return RunningEmulator(emulator, make_emulator_server(emulator, host, port))


def serve_forever(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 8001
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C or SIGTERM)."""
    import signal
    import sys

    emulator = Emulator(config)
    server = make_emulator_server(emulator, host, port, quiet=False)
    bound_host, bound_port = server.server_address[:2]
    shown = bound_host.decode() if isinstance(bound_host, bytes) else bound_host
    base = f"http://{shown}:{bound_port}"
    print(
        f"Discord emulator listening on {base}{API_PREFIX} (control API: {base}/_emulator/)",
        flush=True,
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print("Discord emulator stopped", file=sys.stderr, flush=True)
