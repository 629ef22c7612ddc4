// MSAL Node's side of bench/compare's whole-process rows: what a script
// printing a token from a shared cache file looks like, timed by
// bench/compare from process start to exit.
//
//   node process_peer.mjs [seed] app|user CACHE_FILE METADATA_FILE AUTHORITY CLIENT_ID SCOPE [USERNAME]
//
// `app`: the client credentials token (secret in MSAL_CLIENT_SECRET); `user`:
// USERNAME's token, silently. The cache file goes through
// msal-node-extensions' PersistenceCachePlugin. MSAL Node resolves the
// authority over the network before it reads the cache unless given
// `authorityMetadata` and `cloudDiscoveryMetadata`, so a process that must
// start while the identity provider is unreachable passes what an earlier
// run saved: `seed` first fetches the OpenID configuration into
// METADATA_FILE (NODE_EXTRA_CA_CERTS must name the provider's CA) with the
// cloud discovery metadata of the authority's host, then gets the token as
// usual (from the provider if the cache has none MSAL Node can use). Prints
// the access token, or the error with exit code 1.
import { readFileSync, writeFileSync } from "node:fs";
import { ConfidentialClientApplication, PublicClientApplication } from "@azure/msal-node";
// By path: the package's index loads keytar, which is not built (see peer.mjs).
import { FilePersistence } from "./node_modules/@azure/msal-node-extensions/dist/persistence/FilePersistence.mjs";
import { PersistenceCachePlugin } from "./node_modules/@azure/msal-node-extensions/dist/persistence/PersistenceCachePlugin.mjs";

const seed = process.argv[2] === "seed";
const [kind, cacheFile, metadataFile, authority, clientId, scope, username] = process.argv.slice(seed ? 3 : 2);
try {
    if (seed) {
        const response = await fetch(`${authority}/v2.0/.well-known/openid-configuration`);
        if (!response.ok) throw new Error(`openid-configuration: HTTP ${response.status}`);
        // The cache's `environment` is the host without the port, as MSAL
        // Python and ours write it (and as Entra's hosts have none); MSAL Node
        // matches it with the port unless the port-less name is an alias.
        const url = new URL(authority);
        const cloud = {
            tenant_discovery_endpoint: `${authority}/v2.0/.well-known/openid-configuration`,
            "api-version": "1.1",
            metadata: [{ preferred_network: url.host, preferred_cache: url.hostname, aliases: [url.host, url.hostname] }],
        };
        writeFileSync(metadataFile, JSON.stringify({
            authorityMetadata: await response.text(),
            cloudDiscoveryMetadata: JSON.stringify(cloud),
        }));
    }
    const cachePlugin = new PersistenceCachePlugin(await FilePersistence.create(cacheFile));
    const auth = {
        clientId,
        authority,
        knownAuthorities: [new URL(authority).host],
        ...JSON.parse(readFileSync(metadataFile, "utf8")),
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
