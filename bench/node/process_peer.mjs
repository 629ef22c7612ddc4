// MSAL Node's side of bench/compare's whole-process rows: what a script
// printing a token from a shared cache file looks like, timed by
// bench/compare from process start to exit.
//
//   node process_peer.mjs app|user|seed CACHE_FILE METADATA_FILE AUTHORITY CLIENT_ID SCOPE [USERNAME]
//
// `app`: the client credentials token (secret in MSAL_CLIENT_SECRET); `user`:
// USERNAME's token, silently. The cache file goes through
// msal-node-extensions' PersistenceCachePlugin. MSAL Node resolves the
// authority's endpoints over the network before it reads the cache unless
// given `authorityMetadata`, so a process that must start while the identity
// provider is unreachable passes what an earlier run saved: `seed` fetches
// the OpenID configuration into METADATA_FILE (NODE_EXTRA_CA_CERTS must name
// the provider's CA). Prints the access token, or the error with exit code 1.
import { readFileSync, writeFileSync } from "node:fs";
import { ConfidentialClientApplication, PublicClientApplication } from "@azure/msal-node";
// By path: the package's index loads keytar, which is not built (see peer.mjs).
import { FilePersistence } from "./node_modules/@azure/msal-node-extensions/dist/persistence/FilePersistence.mjs";
import { PersistenceCachePlugin } from "./node_modules/@azure/msal-node-extensions/dist/persistence/PersistenceCachePlugin.mjs";

const [kind, cacheFile, metadataFile, authority, clientId, scope, username] = process.argv.slice(2);
try {
    if (kind === "seed") {
        const response = await fetch(`${authority}/v2.0/.well-known/openid-configuration`);
        if (!response.ok) throw new Error(`openid-configuration: HTTP ${response.status}`);
        writeFileSync(metadataFile, await response.text());
        process.exit(0);
    }
    const cachePlugin = new PersistenceCachePlugin(await FilePersistence.create(cacheFile));
    const auth = {
        clientId,
        authority,
        knownAuthorities: [new URL(authority).host],
        authorityMetadata: readFileSync(metadataFile, "utf8"),
    };
    let result;
    if (kind === "app") {
        const app = new ConfidentialClientApplication({
            auth: { ...auth, clientSecret: process.env.MSAL_CLIENT_SECRET },
            cache: { cachePlugin },
        });
        result = await app.acquireTokenByClientCredential({ scopes: [scope] });
    } else {
        const app = new PublicClientApplication({ auth, cache: { cachePlugin } });
        const accounts = await app.getTokenCache().getAllAccounts();
        const account = accounts.find((a) => a.username === username);
        if (!account) throw new Error(`no account ${username}`);
        result = await app.acquireTokenSilent({ account, scopes: [scope] });
    }
    if (!result?.accessToken) throw new Error("no token");
    console.log(result.accessToken);
} catch (error) {
    console.error(`no token: ${error.errorCode ?? ""} ${error.message}`);
    process.exit(1);
}
