"""Validates a JWT with PyJWT, an independent implementation: signature
against the given JWKS, issuer, audience, expiry.

Usage: python validate_jwt.py '<json args>' with token, jwks, issuer,
audience. Prints one JSON line: {"valid": true, "claims": {...}} or
{"valid": false, "error": "..."}.
"""
import json
import sys

import jwt


def main():
    args = json.loads(sys.argv[1])
    try:
        kid = jwt.get_unverified_header(args["token"]).get("kid")
        keys = jwt.PyJWKSet.from_dict(args["jwks"])
        key = next(k for k in keys.keys if k.key_id == kid)
        claims = jwt.decode(args["token"], key=key.key, algorithms=["RS256"],
                            audience=args["audience"], issuer=args["issuer"],
                            options={"require": ["exp", "iat", "aud", "iss"]})
        print(json.dumps({"valid": True, "claims": claims}))
    except Exception as e:  # The test reports what PyJWT said.
        print(json.dumps({"valid": False, "error": "%s: %s" % (type(e).__name__, e)}))


if __name__ == "__main__":
    main()
