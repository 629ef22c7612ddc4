"""Drives MSAL Python with oidc_authority against panva's oidc-provider (the
harness in msal-test-support/src/oidc_provider.rs starts it).

Usage: python oidc_provider.py '<json args>'. Args: action, oidc_authority,
client_id, scopes, cache_path (optional), and per action:
  client_credentials  acquire_token_for_client. The credential: the secret
            from MSAL_CLIENT_SECRET, or private_key_path with
            public_certificate_path (PS256) or thumbprint (RS256).
  sign_in   username, password, redirect_uri, prompt (optional):
            initiate_auth_code_flow, the
            user on the provider's login and consent pages (as a browser
            would, with cookies), then acquire_token_by_auth_code_flow.
  accounts  get_accounts, then acquire_token_silent for the first account.
  refresh   acquire_token_silent(force_refresh=True) for the first account,
            which redeems the cached refresh token.
  discover  only builds the application (which fetches and checks the
            discovery document); reports a refusal as "refused".
A web app's secret comes from MSAL_CLIENT_SECRET; without one (and without a
key) the app is a PublicClientApplication. Prints one JSON line; writes the
cache file back when it changed.
"""
import html.parser
import json
import os
import sys
import urllib.parse

import msal
import requests

RESULT_KEYS = ("access_token", "token_source", "token_type", "error", "error_description",
               "scope", "id_token_claims")


class FormReader(html.parser.HTMLParser):
    """The action and input values of the form with the given id (or the first)."""

    def __init__(self, form_id=None):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.action = None
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None and (
                self.form_id is None or attrs.get("id") == self.form_id):
            self.action = attrs.get("action")
            self.inside = True
        elif tag == "input" and self.inside and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def sign_in_on_pages(auth_uri, username, password):
    """What the user does in a browser; returns the authorization response."""
    session = requests.Session()
    origin = urllib.parse.urlparse(auth_uri).netloc
    url, data = auth_uri, None
    for _ in range(12):
        if data is None:
            response = session.get(url, allow_redirects=False, timeout=30)
        else:
            response = session.post(url, data=data, allow_redirects=False, timeout=30)
        if response.is_redirect:
            url = urllib.parse.urljoin(url, response.headers["Location"])
            data = None
            if urllib.parse.urlparse(url).netloc != origin:
                return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
            continue
        response.raise_for_status()
        page = response.text
        if 'id="login-form"' in page:
            form = FormReader("login-form")
            form.feed(page)
            form.fields.update(username=username, password=password)
        elif 'id="consent-form"' in page:
            form = FormReader("consent-form")
            form.feed(page)
        else:
            # response_mode=form_post: the page posts the response to the app.
            form = FormReader()
            form.feed(page)
            return form.fields
        url, data = urllib.parse.urljoin(url, form.action), form.fields
    raise RuntimeError("the sign-in did not finish at " + url)


def build_app(args, cache):
    common = dict(oidc_authority=args["oidc_authority"], token_cache=cache)
    secret = os.environ.get("MSAL_CLIENT_SECRET")
    if "private_key_path" in args:
        with open(args["private_key_path"]) as f:
            credential = {"private_key": f.read()}
        if "public_certificate_path" in args:
            with open(args["public_certificate_path"]) as f:
                credential["public_certificate"] = f.read()
        else:
            credential["thumbprint"] = args["thumbprint"]
        return msal.ConfidentialClientApplication(
            args["client_id"], client_credential=credential, **common)
    if secret:
        return msal.ConfidentialClientApplication(
            args["client_id"], client_credential=secret, **common)
    return msal.PublicClientApplication(args["client_id"], **common)


def pick(result):
    return {key: (result or {}).get(key) for key in RESULT_KEYS}


def main():
    args = json.loads(sys.argv[1])
    cache = msal.SerializableTokenCache()
    cache_path = args.get("cache_path")
    if cache_path and os.path.exists(cache_path):
        with open(cache_path) as f:
            cache.deserialize(f.read())
    try:
        app = build_app(args, cache)
    except ValueError as error:
        # MSAL Python refuses a bad authority (an issuer mismatch) this way.
        print(json.dumps({"refused": str(error)}))
        return
    action = args["action"]
    if action == "discover":
        out = {"refused": None}
    elif action == "client_credentials":
        out = pick(app.acquire_token_for_client(args["scopes"]))
    elif action == "sign_in":
        flow = app.initiate_auth_code_flow(
            args["scopes"], redirect_uri=args["redirect_uri"], prompt=args.get("prompt"))
        auth_response = sign_in_on_pages(flow["auth_uri"], args["username"], args["password"])
        out = pick(app.acquire_token_by_auth_code_flow(flow, auth_response))
    elif action in ("accounts", "refresh"):
        accounts = app.get_accounts()
        out = {"accounts": accounts}
        if accounts:
            out["silent"] = pick(app.acquire_token_silent(
                args["scopes"], account=accounts[0], force_refresh=action == "refresh"))
    else:
        raise SystemExit("unknown action " + action)
    if cache_path and cache.has_state_changed:
        with open(cache_path, "w") as f:
            f.write(cache.serialize())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
