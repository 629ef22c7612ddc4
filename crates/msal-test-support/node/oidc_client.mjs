// A certified OpenID Connect relying party library (openid-client, panva)
// against the emulator: discovery, authorization code with PKCE, refresh,
// userinfo and the end-session URL. Two steps, because a user signs in in
// between. Usage: node oidc_client.mjs '<json args>':
//   {"step": "start", issuer, client_id, redirect_uri}
//     -> {"url", "verifier", "state", "nonce"}
//   {"step": "finish", issuer, client_id, redirect_uri, callback, verifier, state, nonce}
//     -> {"id_token_claims", "refreshed", "userinfo", "end_session_url"}
// The emulator's CA comes through NODE_EXTRA_CA_CERTS.
import * as client from "openid-client";

const args = JSON.parse(process.argv[2]);
const config = await client.discovery(new URL(args.issuer), args.client_id, {
  token_endpoint_auth_method: "none",
});
const scope = "openid profile offline_access User.Read";

if (args.step === "start") {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: args.redirect_uri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  console.log(JSON.stringify({ url: url.href, verifier, state, nonce }));
} else {
  const tokens = await client.authorizationCodeGrant(config, new URL(args.callback), {
    pkceCodeVerifier: args.verifier,
    expectedState: args.state,
    expectedNonce: args.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  let userinfo;
  try {
    userinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  } catch (error) {
    const payload = JSON.parse(Buffer.from(refreshed.access_token.split(".")[1], "base64url"));
    throw new Error(`userinfo refused (${error.message}); the access token says ${JSON.stringify(payload)}`);
  }
  const endSession = client.buildEndSessionUrl(config, {
    post_logout_redirect_uri: args.redirect_uri,
    id_token_hint: tokens.id_token,
    state: "signed-out-state",
  });
  console.log(JSON.stringify({
    id_token_claims: claims,
    refreshed: { has_access_token: !!refreshed.access_token, rotated: refreshed.refresh_token !== tokens.refresh_token },
    userinfo,
    end_session_url: endSession.href,
  }));
}
