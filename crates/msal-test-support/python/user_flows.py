"""Drives MSAL Python's user flows against the emulator for the interop tests.

Usage: python user_flows.py '<json args>'. Args: action, authority, client_id,
scopes, cache_path, and per action:
  sign_in   username, password, redirect_uri: initiate_auth_code_flow, sign in
            on the emulator's page (as a browser would: GET the page, POST its
            form), then acquire_token_by_auth_code_flow.
  accounts  username (optional): get_accounts, then acquire_token_silent for
            the first account.
  refresh   username: acquire_token_silent(force_refresh=True) for that
            account, which redeems the cached refresh token.
  device_flow  username, password: initiate_device_flow, a user completing
            the emulator's verification pages (on a thread, as a person on
            another device would), then acquire_token_by_device_flow.
  username_password  username, password: acquire_token_by_username_password.
With route_hosts and connect ("127.0.0.1:PORT"), requests for those host
names go to the emulator's loopback address (see HostRoutingSession). A
confidential web app's secret comes from MSAL_CLIENT_SECRET. Prints one JSON
line; writes the cache file back when it changed.
"""
import html.parser
import json
import os
import sys
import threading
import time
import urllib.parse

import msal
import requests


class FormReader(html.parser.HTMLParser):
    """Collects the sign-in form's action and input values."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "signin-form":
            self.action = attrs.get("action")
        elif tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""


def sign_in_on_page(auth_uri, username, password, session=None):
    """What a user does in the browser; returns the redirect's parameters."""
    session = session or requests.Session()
    page = session.get(auth_uri, allow_redirects=False, timeout=30)
    page.raise_for_status()
    form = FormReader()
    form.feed(page.text)
    if not form.action:
        raise RuntimeError("no sign-in form on the page: " + page.text[:500])
    form.fields["username"] = username
    form.fields["password"] = password
    done = session.post(urllib.parse.urljoin(auth_uri, form.action), data=form.fields,
                        allow_redirects=False, timeout=30)
    if done.status_code != 302:
        raise RuntimeError("sign-in did not redirect: %s %s" % (done.status_code, done.text[:500]))
    query = urllib.parse.urlparse(done.headers["Location"]).query
    return dict(urllib.parse.parse_qsl(query))


def complete_device_login(verification_uri, user_code, username, password):
    """A person at /devicelogin: enters the code, signs in, approves."""
    session = requests.Session()
    page = session.get(verification_uri, timeout=30)
    for _ in range(6):
        form = FormReader()
        form.feed(page.text)
        if 'id="done"' in page.text:
            return
        if "otc" in form.fields:
            form.fields["otc"] = user_code
        if "password" in form.fields:
            form.fields["username"] = username
            form.fields["password"] = password
        if 'id="approve"' in page.text:
            form.fields["action"] = "approve"
        action = form.action or _first_form_action(page.text)
        page = session.post(urllib.parse.urljoin(page.url, action), data=form.fields, timeout=30)
    raise RuntimeError("the device login pages did not finish: " + page.text[:500])


def _first_form_action(text):
    start = text.index("<form")
    tag = text[start:text.index(">", start)]
    return tag.split('action="', 1)[1].split('"', 1)[0]


class PortKeepingSession(requests.Session):
    """MSAL Python builds the user realm URL from the authority's host name
    alone, dropping a non-443 port (real Entra hosts never have one): put the
    emulator's port back. Everything else goes through unchanged."""

    def __init__(self, authority):
        super().__init__()
        parsed = urllib.parse.urlparse(authority)
        self._bare = "https://%s/" % parsed.hostname
        self._full = "https://%s/" % parsed.netloc

    def request(self, method, url, *args, **kwargs):
        if url.startswith(self._bare) and self._bare != self._full:
            url = self._full + url[len(self._bare):]
        return super().request(method, url, *args, **kwargs)


class HostRoutingSession(PortKeepingSession):
    """Sends requests for the emulator's host names (B2C, CIAM, ...) to its
    loopback address with the name in the Host header, as a hosts file
    mapping them to 127.0.0.1 would; TLS is checked against the emulator's
    certificate, which names 127.0.0.1 too."""

    def __init__(self, authority, hosts, connect):
        super().__init__(authority)
        self._hosts = {h.lower() for h in hosts}
        self._connect = connect

    def request(self, method, url, *args, **kwargs):
        parsed = urllib.parse.urlparse(url)
        if parsed.hostname and parsed.hostname.lower() in self._hosts:
            headers = dict(kwargs.pop("headers", None) or {})
            headers["Host"] = parsed.netloc
            url = parsed._replace(netloc=self._connect).geturl()
            kwargs["headers"] = headers
            return requests.Session.request(self, method, url, *args, **kwargs)
        return super().request(method, url, *args, **kwargs)


def session_for(args):
    """The HTTP session for MSAL Python and the scripted browser."""
    if args.get("route_hosts"):
        return HostRoutingSession(args["authority"], args["route_hosts"], args["connect"])
    return PortKeepingSession(args["authority"])


def main():
    args = json.loads(sys.argv[1])
    cache = msal.SerializableTokenCache()
    cache_path = args["cache_path"]
    if os.path.exists(cache_path):
        with open(cache_path) as f:
            cache.deserialize(f.read())
    common = dict(authority=args["authority"], instance_discovery=False, token_cache=cache,
                  http_client=session_for(args))
    secret = os.environ.get("MSAL_CLIENT_SECRET")
    if secret:
        app = msal.ConfidentialClientApplication(args["client_id"], client_credential=secret, **common)
    else:
        app = msal.PublicClientApplication(args["client_id"], **common)

    out = {}
    if args["action"] == "sign_in":
        flow = app.initiate_auth_code_flow(args["scopes"], redirect_uri=args["redirect_uri"])
        auth_response = sign_in_on_page(flow["auth_uri"], args["username"], args["password"],
                                        session_for(args) if args.get("route_hosts") else None)
        result = app.acquire_token_by_auth_code_flow(flow, auth_response)
        out = {
            "error": result.get("error"),
            "error_description": result.get("error_description"),
            "access_token": result.get("access_token"),
            "token_source": result.get("token_source"),
            "id_token_claims": result.get("id_token_claims"),
        }
    elif args["action"] == "accounts":
        accounts = app.get_accounts(username=args.get("username"))
        out["accounts"] = accounts
        if accounts:
            result = app.acquire_token_silent(args["scopes"], account=accounts[0]) or {}
            out["silent"] = {
                "access_token": result.get("access_token"),
                "token_source": result.get("token_source"),
                "error": result.get("error"),
            }
    elif args["action"] == "refresh":
        accounts = app.get_accounts(username=args["username"])
        result = app.acquire_token_silent(args["scopes"], account=accounts[0], force_refresh=True) or {}
        out = {key: result.get(key) for key in ("access_token", "token_source", "error", "error_description")}
    elif args["action"] == "device_flow":
        flow = app.initiate_device_flow(scopes=args["scopes"])
        if "user_code" not in flow:
            raise RuntimeError("no device flow: %s" % flow)
        user = threading.Thread(target=complete_device_login, args=(
            flow["verification_uri"], flow["user_code"], args["username"], args["password"]))
        started = time.time()
        user.start()
        result = app.acquire_token_by_device_flow(flow)
        user.join()
        out = {key: result.get(key) for key in ("access_token", "token_source", "error", "error_description")}
        out["interval"] = flow.get("interval")
        out["seconds"] = time.time() - started
    elif args["action"] == "username_password":
        result = app.acquire_token_by_username_password(args["username"], args["password"], scopes=args["scopes"])
        out = {key: result.get(key) for key in ("access_token", "token_source", "error", "error_description")}
        out["id_token_claims"] = result.get("id_token_claims")
    else:
        raise SystemExit("unknown action " + args["action"])

    if cache.has_state_changed:
        with open(cache_path, "w") as f:
            f.write(cache.serialize())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
