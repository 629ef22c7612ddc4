"""MSAL Python's side of bench/compare's whole-process rows: what a script
printing a token from a shared cache file looks like, timed by bench/compare
from process start to exit.

    process_peer.py app|user CACHE_FILE HTTP_CACHE AUTHORITY CLIENT_ID SCOPE [USERNAME]

`app`: the client credentials token (secret in MSAL_CLIENT_SECRET); `user`:
USERNAME's token, silently. The cache file goes through msal-extensions'
PersistedTokenCache. MSAL Python fetches the authority's OpenID configuration
when an application is built, so a process that must start while the
identity provider is unreachable keeps its HTTP cache (`http_cache=`, MSAL
Python's recipe: a `shelve` file) from an earlier run, as this one does.
Prints the access token, or the error on stderr with exit code 1.
"""

import os
import shelve
import sys

import msal
import msal_extensions


def main():
    kind, cache_file, http_cache_file, authority, client_id, scope = sys.argv[1:7]
    cache = msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(cache_file))
    with shelve.open(http_cache_file) as http_cache:
        common = dict(authority=authority, token_cache=cache, http_cache=http_cache, instance_discovery=False)
        if kind == "app":
            app = msal.ConfidentialClientApplication(
                client_id, client_credential=os.environ["MSAL_CLIENT_SECRET"], **common)
            result = app.acquire_token_for_client([scope])
        else:
            app = msal.PublicClientApplication(client_id, **common)
            accounts = app.get_accounts(username=sys.argv[7])
            result = app.acquire_token_silent([scope], accounts[0]) if accounts else None
    if not result or "access_token" not in result:
        sys.exit("no token: %s" % ((result or {}).get("error_description") or result))
    print(result["access_token"])


if __name__ == "__main__":
    main()
