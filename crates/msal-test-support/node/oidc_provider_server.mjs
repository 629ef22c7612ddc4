// A real, OpenID Certified provider for the tests: panva's oidc-provider
// (pinned in package.json), served over HTTPS on 127.0.0.1 and mounted under
// /op, so its issuer is https://127.0.0.1:PORT/op. The Rust harness
// (msal-test-support/src/oidc_provider.rs) starts it and reads its one ready
// line. Usage: node oidc_provider_server.mjs CONFIG_PATH, where the JSON file
// (written by the harness, readable only by its owner) holds:
//   tls_cert_path, tls_key_path   the server's certificate chain and key (PEM)
//   confidential_client_id, client_secret
//                                 a client_secret_post client (MSAL's way)
//   assertion_client_id, assertion_certificate_pem
//                                 a private_key_jwt client, its key from this certificate
//   public_client_id              a native client (no secret, PKCE, loopback redirects)
//   web_redirect_uri              the confidential client's redirect URI
//   resource, resource_scopes     the API its access tokens are for (JWTs)
//   username, password, subject   the one user who can sign in
// Prints {"ready": true, "issuer", "port", ...} on stdout, then serves until
// stdin closes (so a test that dies leaves no server behind).
//
// Besides /op it serves /impostor/.well-known/openid-configuration: the
// provider's endpoints under an issuer on another host, the discovery
// document an attacker's mirror would serve, which clients must refuse.
import { readFileSync } from "node:fs";
import { createPublicKey, randomBytes } from "node:crypto";
import https from "node:https";
import process from "node:process";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { errors } from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const MOUNT = "/op";
const IMPOSTOR_ISSUER = "https://impostor.example/op";

/** Text made safe for HTML bodies and double-quoted attributes. */
function escape(text) {
  return String(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>
${body}
</body></html>`;
}

function loginPage(uid, params, error) {
  const hint = params.login_hint ?? "";
  return page("Sign in", `${error ? `<div id="error">${escape(error)}</div>` : ""}
<form id="login-form" method="post" action="/interaction/${escape(uid)}/login">
  <label>Username <input id="username" type="text" name="username" value="${escape(hint)}"></label>
  <label>Password <input id="password" type="password" name="password" value=""></label>
  <button id="signin" type="submit">Sign in</button>
</form>`);
}

function consentPage(uid, params) {
  return page("Consent", `<p>Allow <b>${escape(params.client_id)}</b> to use: ${escape(params.scope ?? "")}</p>
<form id="consent-form" method="post" action="/interaction/${escape(uid)}/confirm">
  <button id="approve" type="submit">Allow</button>
</form>`);
}

/** The body of a urlencoded POST. */
async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error("form too large");
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function send(res, status, type, body) {
  res.statusCode = status;
  res.setHeader("Content-Type", type);
  res.setHeader("Cache-Control", "no-store");
  res.end(body);
}

/** The login and consent pages the provider sends users to. */
async function interaction(provider, req, res, path) {
  const [uid, action] = path.split("/").filter(Boolean);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return send(res, 400, "text/plain", "interaction mismatch");
  }
  const { prompt, params, session } = details;
  if (req.method === "GET") {
    const html = prompt.name === "login" ? loginPage(uid, params) : consentPage(uid, params);
    return send(res, 200, "text/html; charset=utf-8", html);
  }
  if (req.method !== "POST") {
    return send(res, 405, "text/plain", "method not allowed");
  }
  if (action === "login") {
    const form = await readForm(req);
    if (form.get("username") !== config.username || form.get("password") !== config.password) {
      const html = loginPage(uid, { login_hint: form.get("username") ?? "" }, "Invalid username or password.");
      return send(res, 200, "text/html; charset=utf-8", html);
    }
    return provider.interactionFinished(req, res, { login: { accountId: config.subject } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (action === "confirm") {
    // The user allows everything asked for (scopes, claims, the API's scopes).
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return send(res, 404, "text/plain", "not found");
}

const server = https.createServer({
  cert: readFileSync(config.tls_cert_path),
  key: readFileSync(config.tls_key_path),
});
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(0, "127.0.0.1", resolve);
});
const { port } = server.address();
const origin = `https://127.0.0.1:${port}`;
const issuer = `${origin}${MOUNT}`;

// The key the provider signs ID tokens and JWT access tokens with (RS256).
const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: "op-signing-1", alg: "RS256", use: "sig" };
// The private_key_jwt client's key, from the certificate the harness made.
const assertionKey = {
  ...createPublicKey(config.assertion_certificate_pem).export({ format: "jwk" }),
  kid: "assertion-client-1",
  use: "sig",
};

const loopbackRedirects = [
  "http://localhost",
  "http://localhost/",
  "http://127.0.0.1",
  "http://127.0.0.1/",
];
// The one API: its scopes, and JWT access tokens with it as the audience.
const apiResourceServer = {
  scope: config.resource_scopes.join(" "),
  audience: config.resource,
  accessTokenFormat: "jwt",
  accessTokenTTL: 3600,
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.confidential_client_id,
      client_secret: config.client_secret,
      token_endpoint_auth_method: "client_secret_post",
      grant_types: ["client_credentials", "authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: [config.web_redirect_uri],
    },
    {
      client_id: config.assertion_client_id,
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [assertionKey] },
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
    },
    {
      // A native app (RFC 8252): any port on the loopback redirect URIs.
      client_id: config.public_client_id,
      application_type: "native",
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
      response_types: ["code"],
      redirect_uris: loopbackRedirects,
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString("base64url")] },
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email", "email_verified"],
  },
  async findAccount(ctx, sub) {
    if (sub !== config.subject) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: config.display_name,
          preferred_username: config.username,
          email: config.username,
          email_verified: true,
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every token is for the one API unless a request names another.
      defaultResource: async (ctx, client, oneOf) => oneOf ?? config.resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource, client) => {
        if (resource !== config.resource) throw new errors.InvalidTarget();
        return apiResourceServer;
      },
    },
  },
  interactions: {
    url: async (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  ttl: { AccessToken: 3600, ClientCredentials: 3600, IdToken: 3600, RefreshToken: 86400, Grant: 86400, Session: 86400 },
});
// Why a request was refused, for the harness's logs() (the responses keep
// the detail to themselves, as they should).
provider.on("server_error", (ctx, error) => console.error("oidc-provider server_error:", error));
for (const event of ["grant.error", "authorization.error", "introspection.error", "revocation.error"]) {
  provider.on(event, (ctx, error) => {
    const cause = error.cause ? ` (cause: ${error.cause.message ?? error.cause})` : "";
    console.error(`oidc-provider ${event}: ${error.message}: ${error.error_detail ?? ""}${cause}`);
  });
}

const providerCallback = provider.callback();
server.on("request", async (req, res) => {
  try {
    const url = new URL(req.url, origin);
    if (url.pathname === MOUNT || url.pathname.startsWith(`${MOUNT}/`)) {
      // Mounted as Express mounts it: the provider sees the path below /op
      // and finds the mount point from originalUrl.
      req.originalUrl = req.url;
      req.url = req.url.slice(MOUNT.length) || "/";
      return providerCallback(req, res);
    }
    if (url.pathname.startsWith("/interaction/")) {
      return await interaction(provider, req, res, url.pathname.slice("/interaction/".length));
    }
    if (url.pathname === "/impostor/.well-known/openid-configuration") {
      return send(res, 200, "application/json", JSON.stringify({
        issuer: IMPOSTOR_ISSUER,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
      }));
    }
    return send(res, 404, "text/plain", "not found");
  } catch (error) {
    console.error("request failed:", error);
    if (!res.headersSent) send(res, 500, "text/plain", "server error");
    else res.end();
  }
});

console.log(JSON.stringify({
  ready: true,
  issuer,
  port,
  impostor_issuer: IMPOSTOR_ISSUER,
  confidential_client_id: config.confidential_client_id,
  assertion_client_id: config.assertion_client_id,
  public_client_id: config.public_client_id,
}));

// The harness holds stdin open; when it closes (the test ended or died), stop.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
