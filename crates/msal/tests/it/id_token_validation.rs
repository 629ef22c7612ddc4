//! Opt-in ID token validation against the emulator: its tokens pass (the
//! keys fetched once), and a token with a broken signature, another
//! issuer, another audience, an expired or a not-yet-valid one is refused
//! with its typed error and nothing cached. A transport between the
//! library and the emulator does the meddling.

use std::time::Duration;

use msal::http::BoxFuture;
use msal::{
    Error, HttpClient, HttpRequest, HttpResponse, IdTokenError, Password, PublicClientApplication,
    ReqwestHttpClient, TokenCache, TransportError,
};
use msal_emulator::{Directory, Emulator, EmulatorConfig, Endpoint, builtin};
use msal_test_support::{msal_http, start, start_with};

/// What the meddling transport does.
#[derive(Clone, Default)]
struct Meddle {
    /// Flip a character of the ID token's signature.
    break_signature: bool,
    /// Replace the `issuer` of the OpenID configuration.
    issuer: Option<String>,
    /// Send the token request as this client (the answer is for it).
    as_client: Option<(&'static str, &'static str)>,
    /// Hold the token response this long.
    delay: Option<Duration>,
}

struct Meddler {
    inner: ReqwestHttpClient,
    meddle: Meddle,
}

impl HttpClient for Meddler {
    fn execute(&self, mut request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let is_token = request.url.path().ends_with("/oauth2/v2.0/token");
            if is_token && let Some((from, to)) = self.meddle.as_client {
                let body = String::from_utf8(request.body.clone()).unwrap().replace(from, to);
                request = request.with_body(body.into_bytes());
            }
            let is_configuration = request.url.path().ends_with("/openid-configuration");
            let mut response = self.inner.execute(request).await?;
            if is_configuration && let Some(issuer) = &self.meddle.issuer {
                let mut document: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
                document["issuer"] = serde_json::json!(issuer);
                response = HttpResponse::new(
                    response.status,
                    response.headers.clone(),
                    document.to_string().into_bytes(),
                );
            }
            if is_token {
                if let Some(delay) = self.meddle.delay {
                    tokio::time::sleep(delay).await;
                }
                if self.meddle.break_signature {
                    let mut body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
                    let token = body["id_token"].as_str().unwrap().to_owned();
                    let (rest, signature) = token.rsplit_once('.').unwrap();
                    let flipped = if signature.starts_with('A') { "B" } else { "A" };
                    body["id_token"] = serde_json::json!(format!("{rest}.{flipped}{}", &signature[1..]));
                    response = HttpResponse::new(
                        response.status,
                        response.headers.clone(),
                        body.to_string().into_bytes(),
                    );
                }
            }
            Ok(response)
        })
    }
}

fn app(emulator: &Emulator, meddle: Meddle, skew: Duration, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .validate_id_tokens(true)
        .id_token_clock_skew(skew)
        .token_cache(cache.clone())
        .http_client(Meddler {
            inner: msal_http(emulator).unwrap(),
            meddle,
        })
        .build()
        .unwrap()
}

async fn sign_in(app: &PublicClientApplication) -> msal::Result<msal::AuthenticationResult> {
    app.acquire_token_by_username_password(
        builtin::ALICE_UPN,
        Password::new(builtin::ALICE_PASSWORD),
        ["User.Read"],
    )
    .await
}

#[tokio::test]
async fn the_emulators_id_tokens_pass_and_the_keys_are_fetched_once() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = app(&emulator, Meddle::default(), Duration::from_secs(300), &cache);
    let first = sign_in(&app).await.unwrap();
    assert!(first.id_token.is_some());
    sign_in(&app).await.unwrap();
    assert_eq!(
        emulator.request_count(Endpoint::Jwks),
        1,
        "keys kept between tokens"
    );
    // Refresh tokens bring ID tokens too: validated the same way.
    let account = app.get_accounts(None).into_iter().next().unwrap();
    let options = msal::SilentOptions::default().force_refresh(true);
    app.acquire_token_silent_with(["User.Read"], &account, &options)
        .await
        .unwrap();

    // A multi-tenant authority: the issuer's `{tenantid}` is the token's `tid`.
    let common = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority("organizations"))
        .validate_id_tokens(true)
        .http_client(msal_http(&emulator).unwrap())
        .build()
        .unwrap();
    sign_in(&common).await.unwrap();
}

#[tokio::test]
async fn forged_or_misdirected_id_tokens_are_refused_and_nothing_is_cached() {
    // Tokens that live one second, for the expired case.
    let mut directory = Directory::builtin();
    directory.token_lifetime_secs = 1;
    let short = start_with(EmulatorConfig::new(directory)).await.unwrap();
    let emulator = start().await.unwrap();
    let cases: Vec<(&str, &Emulator, Meddle, Duration)> = vec![
        (
            "signature",
            &emulator,
            Meddle {
                break_signature: true,
                ..Meddle::default()
            },
            Duration::from_secs(300),
        ),
        (
            "issuer",
            &emulator,
            Meddle {
                issuer: Some("https://evil.example/{tenantid}/v2.0".into()),
                ..Meddle::default()
            },
            Duration::from_secs(300),
        ),
        (
            "audience",
            &emulator,
            Meddle {
                as_client: Some((builtin::PUBLIC_CLIENT_ID, builtin::FOCI_APP_A_CLIENT_ID)),
                ..Meddle::default()
            },
            Duration::from_secs(300),
        ),
        (
            "expired",
            &short,
            Meddle {
                delay: Some(Duration::from_millis(2100)),
                ..Meddle::default()
            },
            Duration::ZERO,
        ),
    ];
    for (case, emulator, meddle, skew) in cases {
        let cache = TokenCache::new();
        let app = app(emulator, meddle, skew, &cache);
        let error = sign_in(&app).await.unwrap_err();
        let refused = match &error {
            Error::IdToken(refused) => refused,
            other => panic!("{case}: {other:?}"),
        };
        let expected = match (case, refused) {
            ("signature", IdTokenError::Signature) => true,
            ("issuer", IdTokenError::Issuer { actual, expected }) => {
                expected.starts_with("https://evil.example/") && actual.starts_with(&emulator.url())
            }
            ("audience", IdTokenError::Audience { expected, actual }) => {
                expected == builtin::PUBLIC_CLIENT_ID && actual.contains(builtin::FOCI_APP_A_CLIENT_ID)
            }
            ("expired", IdTokenError::Expired { .. }) => true,
            _ => false,
        };
        assert!(expected, "{case}: {refused:?}");
        assert_eq!(cache.access_token_count(), 0, "{case}: nothing cached");
        assert!(app.get_accounts(None).is_empty(), "{case}: no account");
    }

    // Not yet valid: the emulator's clock runs an hour ahead.
    let ahead = start().await.unwrap();
    ahead.advance_clock(Duration::from_secs(3600));
    let cache = TokenCache::new();
    match sign_in(&app(&ahead, Meddle::default(), Duration::from_secs(60), &cache)).await {
        Err(Error::IdToken(IdTokenError::NotYetValid { .. })) => {}
        other => panic!("{other:?}"),
    }
    // Without validation (the default), the same token is accepted, as MSAL Python does.
    let lenient = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&ahead.authority(builtin::CONTOSO_TENANT_NAME))
        .http_client(msal_http(&ahead).unwrap())
        .build()
        .unwrap();
    sign_in(&lenient).await.unwrap();
}
