//! Every token flow, against the in-process emulator, with `tracing`
//! captured at TRACE level for all targets (the library's `msal::*` and the
//! emulator's own): no secret of any flow appears in the captured output,
//! every request the library sent is logged with its correlation id, and
//! the output shows each flow ran (so the test cannot pass by capturing
//! nothing).

use std::time::Duration;

use crate::common::{GRAPH_DEFAULT, daemon, public_app, web_app};
use msal::{
    AuthCodeFlow, AuthCodeFlowOptions, AuthResponse, AuthenticationResult, ClientCertificate, ClientSecret,
    ConfidentialClientApplication, FederatedCredential, ManagedIdentity, ManagedIdentityClient,
    ManagedIdentityEnvironment, Password, ResponseMode, SilentOptions, TargetUser, TokenCache, TokenSource,
    UserAssertion,
};
use msal_emulator::{Emulator, EmulatorConfig, builtin};
use msal_test_support::user;
use serde_json::Value;

const USER_READ: &str = "User.Read";
const GRAPH_USER_READ: &str = "https://graph.microsoft.com/User.Read";
const TOKEN_EXCHANGE: &str = "api://AzureADTokenExchange/.default";
const PUBLIC_REDIRECT: &str = "http://localhost:8765";
const WRONG_SECRET: &str = "wrong-daemon-secret-7f3c9a2e";

/// Which piece of a long secret to look for too.
enum Part {
    First,
    Middle,
    Last,
}

/// Every secret of the run, each with what it is, plus forms of it a
/// partial or encoded log would show: form-encoded, a JWT's payload and
/// signature, 16-character pieces of long random values, each line of a
/// PEM body.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(!value.trim().is_empty(), "{what} is empty");
        self.push(what.to_owned(), value);
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        if encoded != value {
            self.push(format!("{what} (form-encoded)"), &encoded);
        }
        let parts: Vec<&str> = value.split('.').collect();
        if parts.len() == 3 && value.starts_with("eyJ") {
            // Not the header: every token of a kind shares it, and it is no secret.
            self.push(format!("{what} (JWT payload)"), parts[1]);
            self.fragments(&format!("{what} (JWT payload)"), parts[1], &[Part::Middle]);
            self.push(format!("{what} (JWT signature)"), parts[2]);
            let all = [Part::First, Part::Middle, Part::Last];
            self.fragments(&format!("{what} (JWT signature)"), parts[2], &all);
        } else if value.contains("-----BEGIN") {
            for (i, line) in value.lines().enumerate() {
                let line = line.trim();
                if !line.is_empty() && !line.starts_with("-----") {
                    self.push(format!("{what} (PEM line {i})"), line);
                }
            }
        } else {
            // Opaque values may start with a fixed prefix (`1.AR.`): not the first characters.
            self.fragments(what, value, &[Part::Middle, Part::Last]);
        }
    }

    /// 16-character pieces of a long random `value`, as a truncated log would show it.
    fn fragments(&mut self, what: &str, value: &str, parts: &[Part]) {
        const LEN: usize = 16;
        if value.len() < 2 * LEN + 8 || !value.is_ascii() {
            return;
        }
        for part in parts {
            let (name, start) = match part {
                Part::First => ("first", 0),
                Part::Middle => ("middle", value.len() / 2 - LEN / 2),
                Part::Last => ("last", value.len() - LEN),
            };
            self.push(
                format!("{what} ({name} {LEN} characters)"),
                &value[start..start + LEN],
            );
        }
    }

    fn add_opt(&mut self, what: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.add(what, value);
        }
    }

    /// The access and ID tokens of a result.
    fn add_result(&mut self, flow: &str, result: &AuthenticationResult) {
        self.add(
            &format!("{flow}: access token"),
            result.access_token.expose_secret(),
        );
        self.add_opt(
            &format!("{flow}: ID token"),
            result.id_token.as_ref().map(|t| t.expose_secret()),
        );
    }

    /// Every refresh token and access token in `cache` (refresh tokens are
    /// not in results; they rotate, so this runs after each flow).
    fn add_cache(&mut self, what: &str, cache: &TokenCache) {
        let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
        for section in ["RefreshToken", "AccessToken", "IdToken"] {
            for entry in json[section].as_object().into_iter().flat_map(|s| s.values()) {
                let secret = entry["secret"].as_str().expect("a cached secret");
                self.add(&format!("{what}: cached {section}"), secret);
            }
        }
    }

    fn push(&mut self, what: String, value: &str) {
        if !self.0.iter().any(|(_, v)| v == value) {
            self.0.push((what, value.to_owned()));
        }
    }

    /// Where in `text` any secret appears: (what, line number, the line with
    /// every secret in it redacted).
    fn leaks(&self, text: &str) -> Vec<(String, usize, String)> {
        let mut found = Vec::new();
        for (number, line) in text.lines().enumerate() {
            for (what, value) in &self.0 {
                if line.contains(value.as_str()) {
                    found.push((what.clone(), number + 1, self.redact(line)));
                }
            }
        }
        found
    }

    /// `line` with every secret, and the run of token characters around
    /// it (the rest of a partly matched token), replaced by `[SECRET]`.
    fn redact(&self, line: &str) -> String {
        let bytes = line.as_bytes();
        let token_byte = |b: u8| b.is_ascii_alphanumeric() || b"-_.~%+/".contains(&b);
        let mut hidden = vec![false; bytes.len()];
        for (_, value) in &self.0 {
            for (start, _) in line.match_indices(value.as_str()) {
                let (mut from, mut to) = (start, start + value.len());
                while from > 0 && token_byte(bytes[from - 1]) {
                    from -= 1;
                }
                while to < bytes.len() && token_byte(bytes[to]) {
                    to += 1;
                }
                hidden[from..to].iter_mut().for_each(|h| *h = true);
            }
        }
        let mut shown = String::new();
        for (i, c) in line.char_indices() {
            if !hidden[i] {
                shown.push(c);
            } else if i == 0 || !hidden[i - 1] {
                shown.push_str("[SECRET]");
            }
        }
        shown
    }
}

/// Line numbers of anything that looks like a JWT (`eyJ….eyJ…`): the
/// client assertions the library signs with the certificate are secrets
/// the test cannot read back, so it looks for their shape instead (which
/// also catches any other token logged in part).
fn jwt_shaped(text: &str) -> Vec<usize> {
    let is_b64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("eyJ") {
            let candidate = &rest[start..];
            let header_len = candidate.find(|c: char| !is_b64url(c)).unwrap_or(candidate.len());
            let after = &candidate[header_len..];
            if header_len >= 10
                && let Some(payload) = after.strip_prefix('.')
                && payload.starts_with("eyJ")
                && payload.chars().take_while(|&c| is_b64url(c)).count() >= 10
            {
                lines.push(number + 1);
                break;
            }
            rest = &candidate[3..];
        }
    }
    lines
}

/// The signed-in user's authorization response for `flow`, from the
/// emulator's sign-in page.
async fn sign_in(emulator: &Emulator, flow: &AuthCodeFlow, who: (&str, &str)) -> AuthResponse {
    user::sign_in(emulator, flow.auth_uri(), who.0, who.1)
        .await
        .unwrap()
}

fn query() -> AuthCodeFlowOptions {
    AuthCodeFlowOptions::default().response_mode(ResponseMode::Query)
}

/// The PKCE code verifier and nonce a started flow keeps (read through its
/// serialized form, as a session store holds it).
fn flow_secrets(flow: &AuthCodeFlow) -> (String, String) {
    let json = serde_json::to_value(flow).unwrap();
    let verifier = json["code_verifier"]
        .as_str()
        .expect("the flow keeps code_verifier");
    let nonce = json["nonce"].as_str().expect("the flow keeps nonce");
    (verifier.to_owned(), nonce.to_owned())
}

/// The orders API (the on-behalf-of middle tier) against Contoso.
fn api_app(emulator: &Emulator, cache: &TokenCache) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::API_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_ID))
        .client_secret(ClientSecret::new(builtin::API_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(msal_test_support::msal_http(emulator).unwrap())
        .build()
        .unwrap()
}

/// The daemon with its certificate instead of its secret.
fn certificate_daemon(emulator: &Emulator, cache: &TokenCache) -> ConfidentialClientApplication {
    let certificate =
        ClientCertificate::from_pem(builtin::DAEMON_PRIVATE_KEY_PEM, builtin::DAEMON_CERTIFICATE_PEM)
            .unwrap();
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_credential(certificate)
        .token_cache(cache.clone())
        .http_client(msal_test_support::msal_http(emulator).unwrap())
        .build()
        .unwrap()
}

/// The INFO lines `msal::http` wrote for requests with `correlation_id`.
fn http_lines<'a>(text: &'a str, correlation_id: &str) -> Vec<&'a str> {
    let field = format!("correlation_id={correlation_id}");
    text.lines()
        .filter(|l| l.contains(" INFO ") && l.contains("msal::http:"))
        .filter(|l| l.split([' ', '{', '}']).any(|w| w == field))
        .collect()
}

#[tokio::test]
async fn every_flow_keeps_its_secrets_out_of_trace_logs_and_logs_correlation_ids() {
    // Every event this test's thread logs, at every level (the emulator's
    // tasks run on this current-thread runtime too).
    let logs = msal_test_support::logs::capture().unwrap();
    tracing::info!(target: "trace_no_secrets", "capture started");

    let arc_tokens = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(
        EmulatorConfig::default()
            .with_device_code_interval(Duration::from_secs(1))
            .with_managed_identity(true)
            .with_arc_token_directory(arc_tokens.path().to_owned()),
    )
    .await
    .expect("emulator starts");
    let contoso = builtin::CONTOSO_TENANT_NAME;
    let alice = (builtin::ALICE_UPN, builtin::ALICE_PASSWORD);
    let bob = (builtin::BOB_UPN, builtin::BOB_PASSWORD);

    let mut secrets = Secrets::default();
    for (what, value) in [
        ("daemon client secret", builtin::DAEMON_CLIENT_SECRET),
        ("web app client secret", builtin::WEBAPP_CLIENT_SECRET),
        ("API app client secret", builtin::API_CLIENT_SECRET),
        ("wrong client secret", WRONG_SECRET),
        ("Alice's password", builtin::ALICE_PASSWORD),
        ("Bob's password", builtin::BOB_PASSWORD),
        ("Dave's (federated) password", builtin::DAVE_PASSWORD),
        ("certificate private key PEM", builtin::DAEMON_PRIVATE_KEY_PEM),
    ] {
        secrets.add(what, value);
    }
    // Results that came from the identity provider: their correlation ids must be logged.
    let mut from_idp: Vec<(&str, AuthenticationResult)> = Vec::new();

    // Client credentials with a secret.
    let daemon_cache = TokenCache::new();
    let secret_daemon = daemon(&emulator, contoso, builtin::DAEMON_CLIENT_SECRET, &daemon_cache);
    let result = secret_daemon
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    secrets.add_result("client credentials (secret)", &result);
    from_idp.push(("client credentials (secret)", result));
    // ... and from the cache.
    let cached = secret_daemon
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    assert_eq!(cached.token_source, TokenSource::Cache);

    // Client credentials with a certificate.
    let cert_cache = TokenCache::new();
    let cert_daemon = certificate_daemon(&emulator, &cert_cache);
    let result = cert_daemon
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    secrets.add_result("client credentials (certificate)", &result);
    from_idp.push(("client credentials (certificate)", result));

    // Auth code flow, public client.
    let public_cache = TokenCache::new();
    let public = public_app(&emulator, contoso, &public_cache);
    let flow = public
        .initiate_auth_code_flow([USER_READ], PUBLIC_REDIRECT, &query())
        .await
        .unwrap();
    let (verifier, nonce) = flow_secrets(&flow);
    secrets.add("public auth code flow: PKCE code verifier", &verifier);
    secrets.add("public auth code flow: nonce", &nonce);
    let response = sign_in(&emulator, &flow, alice).await;
    secrets.add(
        "public auth code flow: authorization code",
        response.get("code").unwrap(),
    );
    let result = public
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    secrets.add_result("auth code (public)", &result);
    secrets.add_cache("auth code (public)", &public_cache);
    let public_account = result.account.clone().expect("an account");
    from_idp.push(("auth code (public)", result));

    // Silent: a cache hit, then a forced refresh (refresh token grant).
    let hit = public
        .acquire_token_silent([USER_READ], &public_account)
        .await
        .unwrap();
    assert_eq!(hit.token_source, TokenSource::Cache);
    let refreshed = public
        .acquire_token_silent_with(
            [USER_READ],
            &public_account,
            &SilentOptions::default().force_refresh(true),
        )
        .await
        .unwrap();
    secrets.add_result("silent (force refresh)", &refreshed);
    secrets.add_cache("silent (force refresh)", &public_cache);
    from_idp.push(("silent (force refresh)", refreshed));

    // acquire_token_by_refresh_token: the public app's refresh token, migrated to a new cache.
    let rt_json: Value = serde_json::from_str(&public_cache.serialize()).unwrap();
    let old_rt = rt_json["RefreshToken"]
        .as_object()
        .and_then(|s| s.values().next())
        .and_then(|rt| rt["secret"].as_str())
        .expect("a refresh token")
        .to_owned();
    let migrated_cache = TokenCache::new();
    let migrated = public_app(&emulator, contoso, &migrated_cache);
    let result = migrated
        .acquire_token_by_refresh_token(&old_rt, [USER_READ])
        .await
        .unwrap();
    secrets.add_result("acquire_token_by_refresh_token", &result);
    secrets.add_cache("acquire_token_by_refresh_token", &migrated_cache);
    from_idp.push(("acquire_token_by_refresh_token", result));

    // Auth code flow, confidential web app.
    let web_cache = TokenCache::new();
    let web = web_app(&emulator, contoso, &web_cache);
    let flow = web
        .initiate_auth_code_flow(
            [USER_READ],
            builtin::WEBAPP_REDIRECT_URI,
            &query().login_hint(builtin::BOB_UPN),
        )
        .await
        .unwrap();
    let (verifier, nonce) = flow_secrets(&flow);
    secrets.add("web app auth code flow: PKCE code verifier", &verifier);
    secrets.add("web app auth code flow: nonce", &nonce);
    let response = sign_in(&emulator, &flow, bob).await;
    secrets.add(
        "web app auth code flow: authorization code",
        response.get("code").unwrap(),
    );
    let result = web
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    secrets.add_result("auth code (web app)", &result);
    secrets.add_cache("auth code (web app)", &web_cache);
    let web_account = result.account.clone().expect("an account");
    from_idp.push(("auth code (web app)", result));
    // The confidential client's refresh token grant too.
    let refreshed = web
        .acquire_token_silent_with(
            [USER_READ],
            &web_account,
            &SilentOptions::default().force_refresh(true),
        )
        .await
        .unwrap();
    secrets.add_result("silent (web app, force refresh)", &refreshed);
    secrets.add_cache("silent (web app, force refresh)", &web_cache);
    from_idp.push(("silent (web app, force refresh)", refreshed));

    // Device code, approved by the user on the emulator's pages while the library polls.
    let device_cache = TokenCache::new();
    let device_app = public_app(&emulator, contoso, &device_cache);
    let device_flow = device_app.initiate_device_flow([USER_READ]).await.unwrap();
    secrets.add("device code", device_flow.device_code());
    let (result, done) = tokio::join!(device_app.acquire_token_by_device_flow(&device_flow), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        user::device_login(
            &emulator,
            device_flow.verification_uri(),
            device_flow.user_code(),
            builtin::ALICE_UPN,
            builtin::ALICE_PASSWORD,
            user::DeviceDecision::Approve,
        )
        .await
        .unwrap()
    });
    assert!(done.contains("You have signed in"), "{done}");
    let result = result.expect("tokens after approval");
    secrets.add_result("device code", &result);
    secrets.add_cache("device code", &device_cache);
    from_idp.push(("device code", result));

    // Username/password: a managed user (password grant) ...
    let ropc_cache = TokenCache::new();
    let ropc = public_app(&emulator, contoso, &ropc_cache);
    let result = ropc
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            [USER_READ],
        )
        .await
        .unwrap();
    secrets.add_result("username/password (managed)", &result);
    secrets.add_cache("username/password (managed)", &ropc_cache);
    from_idp.push(("username/password (managed)", result));

    // ... and a federated one (MEX, WS-Trust, SAML bearer grant).
    let federated_cache = TokenCache::new();
    let federated = public_app(&emulator, builtin::WOODGROVE_TENANT_NAME, &federated_cache);
    let result = federated
        .acquire_token_by_username_password(
            builtin::DAVE_UPN,
            Password::new(builtin::DAVE_PASSWORD),
            [USER_READ],
        )
        .await
        .unwrap();
    secrets.add_result("username/password (federated)", &result);
    secrets.add_cache("username/password (federated)", &federated_cache);
    from_idp.push(("username/password (federated)", result));

    // On-behalf-of: the desktop app's token for the API is the incoming assertion.
    let incoming_cache = TokenCache::new();
    let desktop = public_app(&emulator, contoso, &incoming_cache);
    let orders_read = format!("{}/Orders.Read", builtin::API_IDENTIFIER_URI);
    let flow = desktop
        .initiate_auth_code_flow([orders_read.as_str()], PUBLIC_REDIRECT, &query())
        .await
        .unwrap();
    let (verifier, nonce) = flow_secrets(&flow);
    secrets.add("OBO caller's auth code flow: PKCE code verifier", &verifier);
    secrets.add("OBO caller's auth code flow: nonce", &nonce);
    let response = sign_in(&emulator, &flow, alice).await;
    secrets.add(
        "OBO caller's auth code flow: authorization code",
        response.get("code").unwrap(),
    );
    let caller = desktop
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    secrets.add_result("OBO caller (auth code)", &caller);
    secrets.add_cache("OBO caller (auth code)", &incoming_cache);
    let incoming = UserAssertion::new(caller.access_token.expose_secret());
    secrets.add("on-behalf-of incoming assertion", incoming.expose_secret());
    from_idp.push(("OBO caller (auth code)", caller));
    let api_cache = TokenCache::new();
    let api = api_app(&emulator, &api_cache);
    let result = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    secrets.add_result("on-behalf-of", &result);
    secrets.add_cache("on-behalf-of", &api_cache);
    from_idp.push(("on-behalf-of", result));
    let again = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);

    // User federated identity credential: the daemon's token for the token
    // exchange audience, exchanged for Alice's tokens.
    let fic_cache = TokenCache::new();
    let fic_app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &fic_cache,
    );
    let fic_token = fic_app.acquire_token_for_client([TOKEN_EXCHANGE]).await.unwrap();
    secrets.add_result("FIC (app token)", &fic_token);
    let fic = FederatedCredential::new(fic_token.access_token.expose_secret());
    secrets.add("federated identity credential", fic.expose_secret());
    from_idp.push(("FIC (app token)", fic_token));
    let result = fic_app
        .acquire_token_by_user_federated_identity_credential(
            [USER_READ],
            &fic,
            &TargetUser::Username(builtin::ALICE_UPN.into()),
        )
        .await
        .unwrap();
    secrets.add_result("user FIC", &result);
    secrets.add_cache("user FIC", &fic_cache);
    from_idp.push(("user FIC", result));

    // A failing request: the wrong client secret.
    let bad = daemon(&emulator, contoso, WRONG_SECRET, &TokenCache::new());
    let error = bad.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap_err();
    let service = error
        .service_error()
        .unwrap_or_else(|| panic!("expected the identity provider's refusal, got {error:?}"));
    assert_eq!(service.error, "invalid_client", "{service:?}");

    // Managed identity on every host: the hosts' secrets (identity header,
    // MSI secret) and tokens; Arc's key is checked by the JWT shape check
    // below and by its file being gone.
    let mut mi_caches = Vec::new();
    let mut mi_clients = Vec::new();
    for source in msal_emulator::ManagedIdentitySource::ALL {
        let vars = emulator.managed_identity_env(source);
        for (name, value) in &vars {
            if matches!(name.as_str(), "IDENTITY_HEADER" | "MSI_SECRET") {
                secrets.add(&format!("{} {name}", source.name()), value);
            }
        }
        let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
            .environment(
                ManagedIdentityEnvironment::from_vars(vars).with_arc_token_directory(arc_tokens.path()),
            )
            .build()
            .unwrap();
        let result = client
            .acquire_token_for_client(builtin::KEY_VAULT_RESOURCE)
            .await
            .unwrap();
        secrets.add_result(&format!("managed identity ({})", source.name()), &result);
        from_idp.push(("managed identity", result));
        mi_caches.push(client.token_cache().clone());
        mi_clients.push(client);
    }

    // Every cache once more, after all rotations.
    for (what, cache) in [
        ("daemon", &daemon_cache),
        ("certificate daemon", &cert_cache),
        ("public", &public_cache),
        ("migrated", &migrated_cache),
        ("web app", &web_cache),
        ("device", &device_cache),
        ("managed user", &ropc_cache),
        ("federated user", &federated_cache),
        ("OBO caller", &incoming_cache),
        ("API", &api_cache),
        ("FIC", &fic_cache),
    ] {
        secrets.add_cache(&format!("{what} cache (final)"), cache);
    }
    for cache in &mi_caches {
        secrets.add_cache("managed identity cache", cache);
    }
    assert!(secrets.0.len() > 60, "{} secrets collected", secrets.0.len());
    assert!(secrets.0.iter().any(|(w, _)| w.contains("cached RefreshToken")));

    drop(emulator);
    let text = logs.text();

    // 3. The capture worked and shows every flow: the library's own lines
    //    (the grant each token request used) and the emulator's.
    assert!(text.len() > 10_000, "{} bytes captured", text.len());
    assert!(text.contains("capture started"));
    let grant_logged = |grant: &str| {
        let (quoted, plain) = (format!("grant_type=\"{grant}\""), format!("grant_type={grant} "));
        text.lines()
            .any(|l| l.contains("msal") && (l.contains(&quoted) || format!("{l} ").contains(&plain)))
    };
    for (flow, grant) in [
        ("client credentials", "client_credentials"),
        ("auth code", "authorization_code"),
        ("refresh token", "refresh_token"),
        ("device code", "urn:ietf:params:oauth:grant-type:device_code"),
        ("managed username/password", "password"),
        (
            "federated username/password",
            "urn:ietf:params:oauth:grant-type:saml2-bearer",
        ),
        ("on-behalf-of", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("user FIC", "user_fic"),
    ] {
        assert!(
            grant_logged(grant),
            "no token request logged for {flow} ({grant})"
        );
    }
    for (what, needle) in [
        ("device code request", "purpose=\"device_code\""),
        ("device code poll", "purpose=\"device_code_poll\""),
        ("managed identity", "purpose=\"managed_identity\""),
        ("managed identity on IMDS", "purpose=\"managed_identity_imds\""),
        ("WS-Trust request", "purpose=\"federation\""),
        ("discovery", "purpose=\"discovery\""),
        ("a cache hit", "served from the cache"),
        ("the emulator's app tokens", "issued app token"),
        ("the emulator's user tokens", "issued user tokens"),
        ("the emulator's authorization codes", "issued authorization code"),
        ("the emulator's device codes", "issued device code"),
        (
            "the emulator's federation server",
            "federation server issued an assertion",
        ),
    ] {
        assert!(text.contains(needle), "{what} not logged ({needle})");
    }

    // 2. Each request the library sent is logged with its correlation id.
    for (flow, result) in &from_idp {
        assert_eq!(result.token_source, TokenSource::IdentityProvider, "{flow}");
        let id = result
            .correlation_id
            .as_deref()
            .unwrap_or_else(|| panic!("{flow}: a result from the identity provider has a correlation id"));
        assert!(!id.is_empty(), "{flow}");
        let lines = http_lines(&text, id);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("purpose=") && l.contains("status=")),
            "{flow}: no msal::http line with correlation_id={id}"
        );
    }
    // The failure too, with its status.
    let id = service
        .correlation_id
        .as_deref()
        .expect("the error carries the correlation id");
    let status = format!("status={}", service.status);
    assert!(
        http_lines(&text, id).iter().any(|l| l.contains(&status)),
        "the failed request (correlation_id={id}, {status}) is not logged"
    );
    // Every request line names its correlation id, but those to the
    // federation server (MEX, WS-Trust), which is not Entra and gets no
    // library headers, as in MSAL Python.
    let mut requests = 0;
    for line in text
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains("msal::http:"))
    {
        requests += 1;
        assert!(line.contains("duration_ms="), "{line}");
        let id = line
            .split("correlation_id=")
            .nth(1)
            .and_then(|rest| rest.split([' ', '}']).next())
            .unwrap_or_default();
        assert!(
            !id.is_empty() || line.contains("/adfs/"),
            "a request logged without a correlation id: {line}"
        );
    }
    assert!(requests > from_idp.len(), "{requests} requests logged");

    // 1. No secret anywhere in the logs, whole or in part.
    let leaks = secrets.leaks(&text);
    assert!(
        leaks.is_empty(),
        "secrets in the logs ({} hits):\n{}",
        leaks.len(),
        leaks
            .iter()
            .map(|(what, line, redacted)| format!("  {what} at log line {line}: {redacted}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Secrets the test cannot read back (the certificate's client
    // assertions, the SAML assertion) by their shape.
    let jwts = jwt_shaped(&text);
    assert!(jwts.is_empty(), "JWT-shaped values in the logs at lines {jwts:?}");
    for marker in [
        "saml:Assertion",
        "SignatureValue",
        // base64 of "<saml:Assertion", as the saml2-bearer grant sends it.
        "PHNhbWw6QXNzZXJ0aW9u",
        "client_assertion=",
        "BEGIN PRIVATE KEY",
    ] {
        assert!(!text.contains(marker), "{marker} in the logs");
    }

    // The Debug and Display forms of everything the test holds, likewise.
    let shown = [
        format!("{error:?}"),
        error.to_string(),
        format!("{from_idp:?}"),
        format!("{device_flow:?}"),
        format!("{flow:?}"),
        format!("{response:?}"),
        format!("{incoming:?}"),
        format!("{fic:?}"),
        format!("{secret_daemon:?}{cert_daemon:?}{web:?}{api:?}{public:?}"),
        format!("{public_cache:?}"),
        format!("{mi_clients:?}"),
    ]
    .join("\n");
    let leaks = secrets.leaks(&shown);
    assert!(
        leaks.is_empty(),
        "secrets in Debug/Display output: {:?}",
        leaks.iter().map(|(what, _, _)| what).collect::<Vec<_>>()
    );

    // Personal data: the library's request lines name the user realm
    // endpoint without the username it asks about.
    let realm_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("msal::http") && l.contains("userrealm"))
        .collect();
    assert!(!realm_lines.is_empty(), "the user realm requests are logged");
    for line in realm_lines {
        for upn in [builtin::ALICE_UPN, builtin::DAVE_UPN] {
            assert!(!line.contains(upn), "{upn} in a request line: {line}");
        }
    }
}
