"""MSAL Python's acquire_token_by_username_password against the emulator.

Usage: ropc.py PORT CLIENT_ID   (REQUESTS_CA_BUNDLE names the emulator's CA)
Prints one JSON object: per case, whether a token came back and for whom.
"""
import json
import sys
import warnings

import msal
import requests

warnings.simplefilter("ignore", DeprecationWarning)  # ROPC is deprecated in MSAL


class PortKeepingSession(requests.Session):
    """MSAL Python builds the user realm URL from the authority's host name
    alone (a non-443 port is dropped); put the emulator's port back."""

    def __init__(self, port):
        super().__init__()
        self._prefix = "https://127.0.0.1:%s/" % port

    def request(self, method, url, *args, **kwargs):
        if url.startswith("https://127.0.0.1/"):
            url = self._prefix + url[len("https://127.0.0.1/"):]
        return super().request(method, url, *args, **kwargs)


def main():
    port, client_id = sys.argv[1], sys.argv[2]
    results = {}
    for label, tenant, user, password in [
        ("managed", "organizations", "alice@contoso.onmicrosoft.com", "Alice-P@ssw0rd"),
        ("federated", "organizations", "dave@woodgrove.com", "Dave-P@ssw0rd"),
        ("federated_wrong_password", "organizations", "dave@woodgrove.com", "wrong"),
        ("managed_wrong_password", "organizations", "alice@contoso.onmicrosoft.com", "wrong"),
    ]:
        app = msal.PublicClientApplication(
            client_id,
            authority="https://127.0.0.1:%s/%s" % (port, tenant),
            instance_discovery=False,
            http_client=PortKeepingSession(port),
        )
        try:
            result = app.acquire_token_by_username_password(user, password, scopes=["User.Read"])
        except Exception as e:  # a WS-Trust fault surfaces as an exception
            results[label] = {"exception": "%s: %s" % (type(e).__name__, e)}
            continue
        results[label] = {
            "access_token": "access_token" in result,
            "refresh_token": "refresh_token" in result,
            "error_codes": result.get("error_codes"),
            "username": result.get("id_token_claims", {}).get("preferred_username"),
            "tid": result.get("id_token_claims", {}).get("tid"),
            "accounts": [a["username"] for a in app.get_accounts()],
        }
    print(json.dumps(results))


main()
