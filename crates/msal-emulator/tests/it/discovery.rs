//! OpenID configuration, instance discovery and JWKS over real HTTPS.

use crate::common;
use crate::common::{assert_entra_error, get};
use msal_emulator::builtin::{CONSUMERS_TENANT_ID, CONTOSO_DOMAIN, CONTOSO_TENANT_ID, CONTOSO_TENANT_NAME};
use msal_test_support::{client, start};
use serde_json::json;

#[tokio::test]
async fn openid_configuration_by_name_domain_and_guid_agree() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let base = em.url();
    let mut docs = Vec::new();
    for tenant in [
        CONTOSO_TENANT_NAME,
        CONTOSO_DOMAIN,
        CONTOSO_TENANT_ID,
        "CONTOSO.onmicrosoft.COM",
    ] {
        let url = format!("{base}/{tenant}/v2.0/.well-known/openid-configuration");
        let reply = get(&http, &url).await;
        assert_eq!(reply.status, 200, "{tenant}: {}", reply.body);
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        docs.push(reply.body);
    }
    assert!(docs.windows(2).all(|w| w[0] == w[1]));
    let doc = &docs[0];
    let t = CONTOSO_TENANT_ID;
    assert_eq!(doc["token_endpoint"], format!("{base}/{t}/oauth2/v2.0/token"));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/{t}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{base}/{t}/oauth2/v2.0/devicecode")
    );
    assert_eq!(doc["jwks_uri"], format!("{base}/{t}/discovery/v2.0/keys"));
    assert_eq!(doc["issuer"], format!("{base}/{t}/v2.0"));
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{base}/{t}/oauth2/v2.0/logout")
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post", "private_key_jwt", "client_secret_basic"])
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(
        doc["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(doc["http_logout_supported"], true);
    assert_eq!(doc["msgraph_host"], "graph.microsoft.com");
    for key in [
        "response_modes_supported",
        "subject_types_supported",
        "response_types_supported",
        "userinfo_endpoint",
        "frontchannel_logout_supported",
        "claims_supported",
        "kerberos_endpoint",
        "tenant_region_scope",
        "cloud_instance_name",
        "cloud_graph_host_name",
        "rbac_url",
    ] {
        assert!(doc.get(key).is_some(), "missing {key}");
    }
}

#[tokio::test]
async fn multi_tenant_segments_keep_the_segment_and_template_the_issuer() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let base = em.url();
    for segment in ["common", "organizations", "consumers"] {
        let url = format!("{base}/{segment}/v2.0/.well-known/openid-configuration");
        let doc = get(&http, &url).await.body;
        assert_eq!(
            doc["token_endpoint"],
            format!("{base}/{segment}/oauth2/v2.0/token")
        );
        // `consumers` tokens all come from the personal accounts' tenant:
        // Entra's document names its issuer, not a template.
        let issuer = if segment == "consumers" {
            format!("{base}/{CONSUMERS_TENANT_ID}/v2.0")
        } else {
            format!("{base}/{{tenantid}}/v2.0")
        };
        assert_eq!(doc["issuer"], issuer);
        assert_eq!(doc["tenant_region_scope"], serde_json::Value::Null);
    }
}

#[tokio::test]
async fn endpoints_follow_the_host_the_client_used() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let base = format!("https://localhost:{}", em.port());
    let url = format!("{base}/contoso/v2.0/.well-known/openid-configuration");
    let doc = get(&http, &url).await.body;
    assert_eq!(
        doc["token_endpoint"],
        format!("{base}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token")
    );
}

#[tokio::test]
async fn unknown_tenant_is_aadsts90002() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let url = format!("{}/nowhere/v2.0/.well-known/openid-configuration", em.url());
    let reply = common::Reply::from_response(
        http.get(&url)
            .header("client-request-id", "0b7c9d7e-1111-4a6b-9c57-2f3c4b5a6d7e")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_entra_error(&reply, 400, "invalid_tenant", 90002);
    let description = reply.body["error_description"].as_str().unwrap();
    assert!(description.starts_with("AADSTS90002: Tenant 'nowhere' not found."));
    assert_eq!(
        reply.body["correlation_id"],
        "0b7c9d7e-1111-4a6b-9c57-2f3c4b5a6d7e"
    );
    assert_eq!(
        reply.header("client-request-id"),
        Some("0b7c9d7e-1111-4a6b-9c57-2f3c4b5a6d7e")
    );
}

#[tokio::test]
async fn instance_discovery_versions_and_errors() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let port = em.port();
    for (host, version) in [("127.0.0.1", "1.0"), ("localhost", "1.1")] {
        let authorize = format!("https://{host}:{port}/contoso/oauth2/v2.0/authorize");
        let url = reqwest::Url::parse_with_params(
            &format!("{}/common/discovery/instance", em.url()),
            [("api-version", version), ("authorization_endpoint", &authorize)],
        )
        .unwrap();
        let reply = get(&http, url.as_str()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            reply.body,
            json!({
                "tenant_discovery_endpoint":
                    format!("https://{host}:{port}/contoso/v2.0/.well-known/openid-configuration"),
                "api-version": "1.1",
                "metadata": [{
                    "preferred_network": "127.0.0.1",
                    "preferred_cache": "127.0.0.1",
                    "aliases": ["127.0.0.1", "localhost"],
                }],
            })
        );
    }

    // MSAL Python drops the port: the loopback host means this emulator.
    let url = reqwest::Url::parse_with_params(
        &format!("{}/common/discovery/instance", em.url()),
        [
            ("api-version", "1.0"),
            (
                "authorization_endpoint",
                "https://localhost/contoso/oauth2/v2.0/authorize",
            ),
        ],
    )
    .unwrap();
    assert_eq!(
        get(&http, url.as_str()).await.body["tenant_discovery_endpoint"],
        format!("https://localhost:{port}/contoso/v2.0/.well-known/openid-configuration")
    );

    // Also served under a tenant path.
    let authorize = format!("https://127.0.0.1:{port}/fabrikam/oauth2/v2.0/authorize");
    let url = reqwest::Url::parse_with_params(
        &format!("{}/contoso/discovery/instance", em.url()),
        [("api-version", "1.1"), ("authorization_endpoint", &authorize)],
    )
    .unwrap();
    assert_eq!(get(&http, url.as_str()).await.status, 200);

    // The public cloud's host (served when a client routes it here) keeps
    // its form and has the public cloud's aliases.
    let url = reqwest::Url::parse_with_params(
        &format!("{}/common/discovery/instance", em.url()),
        [
            ("api-version", "1.1"),
            (
                "authorization_endpoint",
                "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize",
            ),
        ],
    )
    .unwrap();
    let reply = get(&http, url.as_str()).await;
    assert_eq!(
        reply.body["tenant_discovery_endpoint"],
        "https://login.microsoftonline.com/contoso/v2.0/.well-known/openid-configuration"
    );
    assert_eq!(
        reply.body["metadata"][0]["aliases"],
        json!([
            "login.microsoftonline.com",
            "login.microsoft.com",
            "login.windows.net",
            "sts.windows.net"
        ])
    );

    let bad_endpoints = [
        "https://login.example.com/contoso/oauth2/v2.0/authorize".to_owned(),
        format!(
            "https://127.0.0.1:{}/contoso/oauth2/v2.0/authorize",
            port.wrapping_add(1)
        ),
        format!("http://127.0.0.1:{port}/contoso/oauth2/v2.0/authorize"),
        format!("https://127.0.0.1:{port}/"),
        "not a url".to_owned(),
    ];
    for endpoint in &bad_endpoints {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/common/discovery/instance", em.url()),
            [("api-version", "1.1"), ("authorization_endpoint", endpoint)],
        )
        .unwrap();
        let reply = get(&http, url.as_str()).await;
        assert_entra_error(&reply, 400, "invalid_instance", 50049);
    }
    let missing = format!("{}/common/discovery/instance?api-version=1.1", em.url());
    assert_entra_error(&get(&http, &missing).await, 400, "invalid_instance", 50049);

    let no_version = format!(
        "{}/common/discovery/instance?authorization_endpoint=https://127.0.0.1:{port}/contoso",
        em.url()
    );
    assert_entra_error(&get(&http, &no_version).await, 400, "invalid_request", 900144);
    let bad_version = format!("{}/common/discovery/instance?api-version=2.0", em.url());
    assert_entra_error(&get(&http, &bad_version).await, 400, "invalid_request", 9002313);
}

#[tokio::test]
async fn jwks_publishes_the_current_and_the_next_signing_key() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let url = format!("{}/contoso/discovery/v2.0/keys", em.url());
    let reply = get(&http, &url).await;
    assert_eq!(reply.status, 200);
    // Entra publishes several keys at once: "there's always more than one
    // valid key available" (signing key rollover); the first signs now, the
    // second is the next.
    let keys = reply.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0]["kid"], keys[1]["kid"]);
    let key = &keys[0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["e"], "AQAB");
    assert_eq!(key["kid"], key["x5t"]);
    assert_eq!(key["issuer"], format!("{}/{CONTOSO_TENANT_ID}/v2.0", em.url()));
    // 2048-bit modulus: 256 bytes, 342 base64url characters.
    assert_eq!(key["n"].as_str().unwrap().len(), 342);
    let x5c = key["x5c"].as_array().unwrap();
    assert_eq!(x5c.len(), 1);
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(x5c[0].as_str().unwrap())
        .unwrap();
    assert_eq!(der[0], 0x30, "x5c is a DER certificate");

    let common = get(&http, &format!("{}/common/discovery/v2.0/keys", em.url())).await;
    assert_eq!(common.body["keys"][0]["kid"], key["kid"]);
    assert_eq!(
        common.body["keys"][0]["issuer"],
        format!("{}/{{tenantid}}/v2.0", em.url())
    );
    let unknown = get(&http, &format!("{}/nowhere/discovery/v2.0/keys", em.url())).await;
    assert_entra_error(&unknown, 400, "invalid_tenant", 90002);
}
