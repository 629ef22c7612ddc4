// Signs a user in with MSAL Node through @azure/msal-node-extensions'
// persisted file cache and its cross-process lock (<cache>.lockfile), for
// the multi-process cache tests; or lists the accounts it reads.
// Usage: node extensions_login.mjs '<json args>' with cache_path, authority,
// client_id, scopes, and either username + password or list: true.
// Prints one JSON line. NODE_EXTRA_CA_CERTS must name the emulator's CA.
import { PublicClientApplication } from "@azure/msal-node";
// The package's own file persistence and cache plugin modules, imported by
// path: its index also loads the keyring persistences, whose native add-on
// (keytar) is not built here (npm ci --ignore-scripts) and not used.
import { FilePersistence } from "./node_modules/@azure/msal-node-extensions/dist/persistence/FilePersistence.mjs";
import { PersistenceCachePlugin } from "./node_modules/@azure/msal-node-extensions/dist/persistence/PersistenceCachePlugin.mjs";

const args = JSON.parse(process.argv[2]);
try {
  const persistence = await FilePersistence.create(args.cache_path);
  // Many processes contend for the lock at once: wait up to ~20 s.
  const plugin = new PersistenceCachePlugin(persistence, { retryNumber: 200, retryDelay: 100 });
  const host = new URL(args.authority).host;
  const app = new PublicClientApplication({
    auth: { clientId: args.client_id, authority: args.authority, knownAuthorities: [host] },
    cache: { cachePlugin: plugin },
  });
  if (args.list) {
    const accounts = await app.getTokenCache().getAllAccounts();
    console.log(JSON.stringify({
      usernames: accounts.map((a) => a.username).sort(),
      home_account_ids: accounts.map((a) => a.homeAccountId).sort(),
    }));
  } else {
    const result = await app.acquireTokenByUsernamePassword({
      scopes: args.scopes,
      username: args.username,
      password: args.password,
    });
    console.log(JSON.stringify({ error: null, username: result?.account?.username ?? null }));
  }
} catch (error) {
  console.log(JSON.stringify({ error: `${error.errorCode ?? error.code ?? ""} ${error.message}` }));
}
