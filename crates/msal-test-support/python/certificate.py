"""Drives MSAL Python's ConfidentialClientApplication with a certificate
credential for the interop tests.

Usage: python certificate.py '<json args>'. Args: authority, client_id,
scopes, and one of: key_path + thumbprint (PEM key, SHA-1 thumbprint: RS256
with x5t), key_path + cert_path (PEM key and public_certificate: PS256 with
x5t#S256 and x5c), pfx_path + passphrase (PKCS#12: PS256 with x5t#S256).
Key material is read from the files; nothing secret is in the arguments
except a test PFX passphrase. Prints one JSON line: token_source,
access_token, error, error_codes.
"""
import json
import sys

import msal


def read(path):
    with open(path) as f:
        return f.read()


def main():
    args = json.loads(sys.argv[1])
    if "pfx_path" in args:
        credential = {"private_key_pfx_path": args["pfx_path"], "passphrase": args["passphrase"]}
    elif "cert_path" in args:
        credential = {"private_key": read(args["key_path"]), "public_certificate": read(args["cert_path"])}
    else:
        credential = {"private_key": read(args["key_path"]), "thumbprint": args["thumbprint"]}
    app = msal.ConfidentialClientApplication(
        args["client_id"],
        client_credential=credential,
        authority=args["authority"],
        instance_discovery=False)
    result = app.acquire_token_for_client(args["scopes"])
    print(json.dumps({
        "token_source": result.get("token_source"),
        "access_token": result.get("access_token"),
        "error": result.get("error"),
        "error_codes": result.get("error_codes"),
    }))


if __name__ == "__main__":
    main()
