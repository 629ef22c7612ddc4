// Validates a JWT with jose (panva/jose), an independent implementation:
// signature against the given JWKS, issuer, audience, expiry.
// Usage: node validate_jwt.mjs '<json args>' with token, jwks, issuer, audience.
// Prints one JSON line: {"valid": true, "claims": {...}} or {"valid": false, "error": "..."}.
import { createLocalJWKSet, jwtVerify } from "jose";

const args = JSON.parse(process.argv[2]);
try {
  const keys = createLocalJWKSet(args.jwks);
  const { payload, protectedHeader } = await jwtVerify(args.token, keys, {
    issuer: args.issuer,
    audience: args.audience,
    algorithms: ["RS256"],
  });
  console.log(JSON.stringify({ valid: true, alg: protectedHeader.alg, claims: payload }));
} catch (error) {
  console.log(JSON.stringify({ valid: false, error: `${error.code ?? ""} ${error.message}` }));
}
