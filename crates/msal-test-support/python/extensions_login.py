"""Signs a user in with MSAL Python through msal-extensions' persisted
(file) cache with its cross-process lock, for the multi-process cache
tests.

Usage: python extensions_login.py '<json args>'. Args: cache_path,
authority, client_id, scopes, and either username + password (sign in
with username/password) or list (print the accounts). Prints one JSON line.
"""
import json
import sys

import msal
from msal_extensions import FilePersistence, PersistedTokenCache

from user_flows import PortKeepingSession


def main():
    args = json.loads(sys.argv[1])
    cache = PersistedTokenCache(FilePersistence(args["cache_path"]))
    app = msal.PublicClientApplication(
        args["client_id"], authority=args["authority"], instance_discovery=False,
        token_cache=cache, http_client=PortKeepingSession(args["authority"]))
    if args.get("list"):
        # Every account entry the file holds, through MSAL Python's cache API:
        # get_accounts() only shows this authority's environment, and on
        # loopback MSAL Node writes the host with its port.
        accounts = cache.find(msal.TokenCache.CredentialType.ACCOUNT)
        print(json.dumps({"usernames": sorted({a["username"] for a in accounts})}))
        return
    result = app.acquire_token_by_username_password(
        args["username"], args["password"], scopes=args["scopes"])
    print(json.dumps({"error": result.get("error"), "error_description": result.get("error_description"),
                      "token_source": result.get("token_source")}))


if __name__ == "__main__":
    main()
