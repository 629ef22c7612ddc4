"""Drives MSAL Python's ManagedIdentityClient for the interop tests.

Usage: python managed_identity.py '<json args>', with the environment a
managed identity host sets (the emulator's). Args: resource, cache_path,
identity ({"ManagedIdentityIdType": ..., "Id": ...}, MSAL Python's own
form), verify (a CA bundle for the Service Fabric endpoint, optional).
Prints one JSON line: source, token_source, access_token, error fields.
"""
import json
import os
import sys

import msal
import requests


def main():
    args = json.loads(sys.argv[1])
    cache = msal.SerializableTokenCache()
    cache_path = args.get("cache_path")
    if cache_path and os.path.exists(cache_path):
        with open(cache_path) as f:
            cache.deserialize(f.read())
    session = requests.Session()
    if args.get("verify"):
        session.verify = args["verify"]
    client = msal.ManagedIdentityClient(
        args.get("identity") or msal.SystemAssignedManagedIdentity(),
        http_client=session,
        token_cache=cache)
    source = msal.managed_identity.get_managed_identity_source()
    names = {
        msal.managed_identity.APP_SERVICE: "app_service",
        msal.managed_identity.AZURE_ARC: "azure_arc",
        msal.managed_identity.CLOUD_SHELL: "cloud_shell",
        msal.managed_identity.MACHINE_LEARNING: "azure_ml",
        msal.managed_identity.SERVICE_FABRIC: "service_fabric",
        msal.managed_identity.DEFAULT_TO_VM: "imds",
    }
    try:
        result = client.acquire_token_for_client(resource=args["resource"])
    except Exception as e:  # The test reports what MSAL Python raised.
        result = {"error": type(e).__name__, "error_description": str(e)}
    if cache_path and cache.has_state_changed:
        with open(cache_path, "w") as f:
            f.write(cache.serialize())
    print(json.dumps({
        "source": names.get(source, "unknown"),
        "token_source": result.get("token_source"),
        "access_token": result.get("access_token"),
        "error": result.get("error"),
        "error_description": result.get("error_description"),
    }))


if __name__ == "__main__":
    main()
