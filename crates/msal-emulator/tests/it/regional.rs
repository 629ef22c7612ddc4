//! The public cloud's hosts and regional hosts, answered by the emulator
//! when a client's resolver sends them to it (never `/etc/hosts`): the TLS
//! certificate names them, documents follow the host used, regional
//! requests are counted per region, and a region can be made to fail.

use std::net::{Ipv4Addr, SocketAddr};

use crate::common::{Reply, assert_entra_error, get, post_form};
use msal_emulator::builtin::{CONTOSO_TENANT_ID, DAEMON_CLIENT_ID, DAEMON_CLIENT_SECRET};
use msal_emulator::{Emulator, Endpoint};
use msal_test_support::{client_builder, start};
use reqwest::Client;

/// A client trusting only the emulator's CA, resolving `hosts` to it.
fn routed(em: &Emulator, hosts: &[&str]) -> Client {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, em.port()));
    let mut builder = client_builder(em).unwrap();
    for host in hosts {
        builder = builder.resolve(host, addr);
    }
    builder.build().unwrap()
}

fn daemon_form() -> [(&'static str, &'static str); 4] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", DAEMON_CLIENT_ID),
        ("client_secret", DAEMON_CLIENT_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ]
}

#[tokio::test]
async fn cloud_hosts_are_served_and_documents_name_the_host_used() {
    let em = start().await.unwrap();
    let hosts = [
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
    ];
    let http = routed(&em, &hosts);
    for host in hosts {
        // Without a port (the resolver picks the emulator's) and with it.
        for base in [format!("https://{host}"), format!("https://{host}:{}", em.port())] {
            let doc = get(
                &http,
                &format!("{base}/contoso/v2.0/.well-known/openid-configuration"),
            )
            .await;
            assert_eq!(doc.status, 200, "{base}: {}", doc.body);
            assert_eq!(
                doc.body["token_endpoint"],
                format!("{base}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token")
            );
        }
    }
    assert_eq!(em.regional_requests(), 0);
}

#[tokio::test]
async fn regional_hosts_issue_tokens_and_are_counted_per_region() {
    let em = start().await.unwrap();
    let http = routed(
        &em,
        &["westus2.login.microsoft.com", "eastus.login.microsoftonline.com"],
    );
    for (host, region) in [
        ("westus2.login.microsoft.com", "westus2"),
        ("eastus.login.microsoftonline.com", "eastus"),
    ] {
        let url = format!("https://{host}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token");
        let reply = post_form(&http, &url, &daemon_form()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body["access_token"].is_string());
        assert_eq!(em.regional_requests_to(region), 1);
    }
    assert_eq!(em.regional_requests(), 2);
    assert_eq!(em.request_count(Endpoint::Token), 2);
    em.reset_counts();
    assert_eq!(em.regional_requests(), 0);
}

#[tokio::test]
async fn a_failing_region_answers_503_and_the_global_host_still_serves() {
    let em = start().await.unwrap();
    let http = routed(&em, &["westus2.login.microsoft.com", "login.microsoftonline.com"]);
    let regional = format!("https://westus2.login.microsoft.com/{CONTOSO_TENANT_ID}/oauth2/v2.0/token");
    let global = format!("https://login.microsoftonline.com/{CONTOSO_TENANT_ID}/oauth2/v2.0/token");
    em.fail_region("WestUS2");
    let reply: Reply = post_form(&http, &regional, &daemon_form()).await;
    assert_entra_error(&reply, 503, "temporarily_unavailable", 90033);
    assert_eq!(reply.header("retry-after"), None);
    assert_eq!(em.regional_requests_to("westus2"), 1);
    assert_eq!(post_form(&http, &global, &daemon_form()).await.status, 200);
    em.restore_region("westus2");
    assert_eq!(post_form(&http, &regional, &daemon_form()).await.status, 200);
    assert_eq!(em.regional_requests_to("westus2"), 2);
}

#[tokio::test]
async fn the_certificate_names_no_other_hosts() {
    let em = start().await.unwrap();
    for host in ["login.example.com", "a.b.login.microsoft.com"] {
        let http = routed(&em, &[host]);
        let result = http
            .get(format!(
                "https://{host}/contoso/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await;
        assert!(result.is_err(), "{host} must fail TLS verification");
    }
}
