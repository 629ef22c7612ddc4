"""Drives MSAL Python's ConfidentialClientApplication for the interop tests.

Usage: python client_credentials.py '<json args>'; the client secret comes
from MSAL_CLIENT_SECRET. Args: authority (or oidc_authority), client_id,
scopes, cache_path, fmi_path (optional). Prints one JSON line: the result's token_source,
access_token and error fields, and whether the cache file was written.
"""
import json
import os
import sys

import msal


def main():
    args = json.loads(sys.argv[1])
    cache = msal.SerializableTokenCache()
    cache_path = args.get("cache_path")
    if cache_path and os.path.exists(cache_path):
        with open(cache_path) as f:
            cache.deserialize(f.read())
    kwargs = {"oidc_authority": args["oidc_authority"]} if "oidc_authority" in args else {
        "authority": args["authority"], "instance_discovery": False}
    app = msal.ConfidentialClientApplication(
        args["client_id"],
        client_credential=os.environ["MSAL_CLIENT_SECRET"],
        token_cache=cache,
        **kwargs)
    result = app.acquire_token_for_client(
        args["scopes"], fmi_path=args.get("fmi_path"))
    wrote = False
    if cache_path and cache.has_state_changed:
        with open(cache_path, "w") as f:
            f.write(cache.serialize())
        wrote = True
    print(json.dumps({
        "token_source": result.get("token_source"),
        "access_token": result.get("access_token"),
        "token_type": result.get("token_type"),
        "expires_in": result.get("expires_in"),
        "error": result.get("error"),
        "error_description": result.get("error_description"),
        "error_codes": result.get("error_codes"),
        "wrote_cache": wrote,
    }))


if __name__ == "__main__":
    main()
