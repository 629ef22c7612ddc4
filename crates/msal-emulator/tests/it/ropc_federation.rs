//! Username/password sign-in over HTTPS: user realm discovery, the password
//! grant for managed users, and for federated users the federation server
//! (MEX, WS-Trust 1.3 and 2005) and the SAML bearer grants.

use std::time::Duration;

use crate::common::{Reply, assert_entra_error, get, post_form};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use msal_emulator::builtin::*;
use msal_emulator::{Emulator, Endpoint};
use msal_test_support::{client, start};
use reqwest::Client;
use serde_json::Value;
use sha2::{Digest, Sha256};

const SAML11_GRANT: &str = "urn:ietf:params:oauth:grant-type:saml1_1-bearer";
const SAML2_GRANT: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";
const ACTION_13: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue";
const ACTION_2005: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue";

fn token_url(em: &Emulator, tenant: &str) -> String {
    format!("{}/oauth2/v2.0/token", em.authority(tenant))
}

/// The claims of a JWT, unverified (signatures are covered elsewhere).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn user_realm_tells_managed_federated_and_unknown() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let url = |tenant: &str, user: &str| format!("{}/{tenant}/userrealm/{user}?api-version=1.0", em.url());

    let managed = get(&http, &url("common", ALICE_UPN)).await;
    assert_eq!(managed.status, 200);
    assert_eq!(
        managed.body,
        serde_json::json!({
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": CONTOSO_DOMAIN,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        })
    );
    assert_eq!(
        managed.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let federated = get(&http, &url("common", DAVE_UPN)).await;
    let body = &federated.body;
    assert_eq!(body["account_type"], "Federated", "{body}");
    assert_eq!(body["domain_name"], WOODGROVE_FEDERATED_DOMAIN);
    assert_eq!(body["federation_protocol"], "WSTrust");
    assert_eq!(
        body["federation_metadata_url"],
        format!("{}/adfs/services/trust/mex", em.url())
    );
    assert_eq!(
        body["federation_active_auth_url"],
        format!("{}/adfs/services/trust/2005/usernamemixed", em.url())
    );
    assert_eq!(body["cloud_audience_urn"], "urn:federation:MicrosoftOnline");

    // Per domain: a managed domain of the federated tenant is managed, and
    // an unknown user of a federated domain is still federated.
    let other = get(&http, &url("organizations", "erin@WOODGROVE.onmicrosoft.com")).await;
    assert_eq!(other.body["account_type"], "Managed");
    let nobody = get(&http, &url(WOODGROVE_TENANT_NAME, "nobody@woodgrove.com")).await;
    assert_eq!(nobody.body["account_type"], "Federated");

    for unknown in ["someone@example.com", "no-at-sign"] {
        let reply = get(&http, &url("common", unknown)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["account_type"], "Unknown", "{unknown}");
        assert!(reply.body.get("domain_name").is_none());
    }
    assert_eq!(em.request_count(Endpoint::UserRealm), 6);
    em.shutdown().await;
}

fn password_form<'a>(user: &'a str, password: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("client_id", PUBLIC_CLIENT_ID),
        ("username", user),
        ("password", password),
        ("scope", scope),
        ("client_info", "1"),
    ]
}

#[tokio::test]
async fn password_grant_for_managed_users_only() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let scope = "User.Read openid profile offline_access";

    let ok = post_form(
        &http,
        &token_url(&em, "organizations"),
        &password_form(ALICE_UPN, ALICE_PASSWORD, scope),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["token_type"], "Bearer");
    assert!(ok.body["refresh_token"].is_string());
    assert!(ok.body["client_info"].is_string());
    let id = claims(ok.body["id_token"].as_str().unwrap());
    assert_eq!(id["preferred_username"], ALICE_UPN);
    assert_eq!(id["tid"], CONTOSO_TENANT_ID);
    assert_eq!(id["aud"], PUBLIC_CLIENT_ID);
    let access = claims(ok.body["access_token"].as_str().unwrap());
    assert_eq!(access["upn"], ALICE_UPN);
    assert_eq!(access["scp"], "User.Read");

    // Without offline_access there is no refresh token.
    let no_rt = post_form(
        &http,
        &token_url(&em, CONTOSO_TENANT_NAME),
        &password_form(ALICE_UPN, ALICE_PASSWORD, "User.Read"),
    )
    .await;
    assert_eq!(no_rt.status, 200);
    assert!(no_rt.body.get("refresh_token").is_none());

    let wrong = post_form(
        &http,
        &token_url(&em, "organizations"),
        &password_form(ALICE_UPN, "wrong", scope),
    )
    .await;
    assert_entra_error(&wrong, 400, "invalid_grant", 50126);

    let unknown = post_form(
        &http,
        &token_url(&em, "organizations"),
        &password_form("nobody@contoso.onmicrosoft.com", "x", scope),
    )
    .await;
    assert_entra_error(&unknown, 400, "invalid_grant", 50034);

    let elsewhere = post_form(
        &http,
        &token_url(&em, WOODGROVE_TENANT_NAME),
        &password_form(ALICE_UPN, ALICE_PASSWORD, scope),
    )
    .await;
    assert_entra_error(&elsewhere, 400, "invalid_grant", 50020);

    // Dave's password is the federation server's to check, even the right one.
    let federated = post_form(
        &http,
        &token_url(&em, "organizations"),
        &password_form(DAVE_UPN, DAVE_PASSWORD, scope),
    )
    .await;
    assert_entra_error(&federated, 400, "invalid_grant", 50126);
    let description = federated.body["error_description"].as_str().unwrap();
    assert!(
        description.contains("federated") && description.contains(WOODGROVE_FEDERATED_DOMAIN),
        "{description}"
    );
    em.shutdown().await;
}

#[tokio::test]
async fn mex_lists_both_username_password_endpoints() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let response = http
        .get(format!("{}/adfs/services/trust/mex", em.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/soap+xml; charset=utf-8"
    );
    let mex = response.text().await.unwrap();
    assert!(mex.starts_with("<wsdl:definitions "), "{mex}");
    for path in ["13", "2005"] {
        let address = format!(
            "<wsa10:Address>{}/adfs/services/trust/{path}/usernamemixed</wsa10:Address>",
            em.url()
        );
        assert!(mex.contains(&address), "{path}: {mex}");
    }
    for needle in [
        &format!("soapAction=\"{ACTION_13}\""),
        &format!("soapAction=\"{ACTION_2005}\""),
        "<sp:SignedEncryptedSupportingTokens>",
        "<sp2005:SignedSupportingTokens>",
        "<sp:WssUsernameToken10>",
        "<sp2005:WssUsernameToken10>",
        "<sp:TransportBinding>",
        "<sp2005:TransportBinding>",
        "transport=\"http://schemas.xmlsoap.org/soap/http\"",
    ] {
        assert!(mex.contains(needle), "{needle}");
    }
    assert_eq!(em.request_count(Endpoint::Federation), 1);
    em.shutdown().await;
}

/// The RST MSAL Python sends (UsernameToken in the header, AppliesTo Entra).
fn rst(em: &Emulator, v13: bool, user: &str, password: &str, applies_to: &str) -> String {
    let (action, wst, key_type, request_type, path) = if v13 {
        (
            ACTION_13,
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer",
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
            "13",
        )
    } else {
        (
            ACTION_2005,
            "http://schemas.xmlsoap.org/ws/2005/02/trust",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
            "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
            "2005",
        )
    };
    let to = format!("{}/adfs/services/trust/{path}/usernamemixed", em.url());
    format!(
        "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope' xmlns:wsa='http://www.w3.org/2005/08/addressing' \
         xmlns:wsu='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd'>\n\
         <s:Header><wsa:Action s:mustUnderstand='1'>{action}</wsa:Action>\
         <wsa:MessageID>urn:uuid:0b7f2a3c-4a53-4b8e-9a55-1d2b3c4d5e6f</wsa:MessageID>\
         <wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>\
         <wsa:To s:mustUnderstand='1'>{to}</wsa:To>\
         <wsse:Security s:mustUnderstand='1' xmlns:wsse='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd'>\
         <wsu:Timestamp wsu:Id='_0'><wsu:Created>2024-01-01T00:00:00Z</wsu:Created><wsu:Expires>2024-01-01T00:10:00Z</wsu:Expires></wsu:Timestamp>\
         <wsse:UsernameToken wsu:Id='ADALUsernameToken'><wsse:Username>{user}</wsse:Username><wsse:Password>{password}</wsse:Password></wsse:UsernameToken>\
         </wsse:Security></s:Header>\n<s:Body><wst:RequestSecurityToken xmlns:wst='{wst}'>\
         <wsp:AppliesTo xmlns:wsp='http://schemas.xmlsoap.org/ws/2004/09/policy'><wsa:EndpointReference><wsa:Address>{applies_to}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>\
         <wst:KeyType>{key_type}</wst:KeyType><wst:RequestType>{request_type}</wst:RequestType>\
         </wst:RequestSecurityToken></s:Body></s:Envelope>"
    )
}

async fn post_rst(http: &Client, em: &Emulator, v13: bool, body: String) -> (u16, String) {
    let (path, action) = if v13 {
        ("13", ACTION_13)
    } else {
        ("2005", ACTION_2005)
    };
    let response = http
        .post(format!("{}/adfs/services/trust/{path}/usernamemixed", em.url()))
        .header("content-type", "application/soap+xml; charset=utf-8")
        .header("SOAPAction", action)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The text between the first `<…tag…>` and the next `</…tag>`, as MSAL takes it.
fn inner<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let start = xml.find(open).expect("open tag") + open.len();
    let end = start + xml[start..].find(close).expect("close tag");
    &xml[start..end]
}

/// Checks the enveloped RSA-SHA256 signature of an assertion the emulator
/// wrote in canonical form: the digest covers the assertion without its
/// `ds:Signature`, the signature covers `ds:SignedInfo` with `ds` declared.
fn assert_signed(em: &Emulator, assertion: &str) {
    let start = assertion.find("<ds:Signature").expect("signature");
    let end = assertion.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let unsigned = format!("{}{}", &assertion[..start], &assertion[end..]);
    let digest = inner(assertion, "<ds:DigestValue>", "</ds:DigestValue>");
    assert_eq!(STANDARD.encode(Sha256::digest(unsigned.as_bytes())), digest);

    let signed_info = format!(
        "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">{}</ds:SignedInfo>",
        inner(assertion, "<ds:SignedInfo>", "</ds:SignedInfo>")
    );
    let signature = STANDARD
        .decode(inner(assertion, "<ds:SignatureValue>", "</ds:SignatureValue>"))
        .unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, em.federation_public_key_der())
        .verify(signed_info.as_bytes(), &signature)
        .expect("the assertion's signature verifies with the federation key");

    let cert: String = em
        .federation_certificate_pem()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(
        inner(assertion, "<ds:X509Certificate>", "</ds:X509Certificate>"),
        cert
    );
}

fn saml_form<'a>(grant: &'a str, assertion: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", grant),
        ("client_id", PUBLIC_CLIENT_ID),
        ("assertion", assertion),
        ("scope", "User.Read openid profile offline_access"),
        ("client_info", "1"),
    ]
}

/// Signs Dave in at the federation server and returns the raw assertion.
async fn dave_assertion(http: &Client, em: &Emulator, v13: bool) -> String {
    let (status, rstr) = post_rst(
        http,
        em,
        v13,
        rst(em, v13, DAVE_UPN, DAVE_PASSWORD, "urn:federation:MicrosoftOnline"),
    )
    .await;
    assert_eq!(status, 200, "{rstr}");
    inner(&rstr, "RequestedSecurityToken>", "</t:RequestedSecurityToken").to_owned()
}

#[tokio::test]
async fn ws_trust_issues_signed_assertions_the_token_endpoint_redeems() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    for (v13, grant, token_type, namespace) in [
        (
            false,
            SAML11_GRANT,
            "urn:oasis:names:tc:SAML:1.0:assertion",
            "urn:oasis:names:tc:SAML:1.0:assertion",
        ),
        (
            true,
            SAML2_GRANT,
            "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
            "urn:oasis:names:tc:SAML:2.0:assertion",
        ),
    ] {
        let (status, rstr) = post_rst(
            &http,
            &em,
            v13,
            rst(
                &em,
                v13,
                DAVE_UPN,
                DAVE_PASSWORD,
                "urn:federation:MicrosoftOnline",
            ),
        )
        .await;
        assert_eq!(status, 200, "{rstr}");
        assert!(
            rstr.contains("<t:RequestSecurityTokenResponse>")
                || rstr.contains("<t:RequestSecurityTokenResponse xmlns:t=")
        );
        assert_eq!(rstr.contains("RequestSecurityTokenResponseCollection"), v13);
        assert_eq!(inner(&rstr, "<t:TokenType>", "</t:TokenType>"), token_type);
        assert!(rstr.contains("<a:RelatesTo>urn:uuid:0b7f2a3c-4a53-4b8e-9a55-1d2b3c4d5e6f</a:RelatesTo>"));
        // MSAL takes the element's content as-is: it must be the assertion alone.
        let assertion = inner(&rstr, "<t:RequestedSecurityToken>", "</t:RequestedSecurityToken>");
        assert!(
            assertion.starts_with(&format!("<saml:Assertion xmlns:saml=\"{namespace}\" ")),
            "{assertion}"
        );
        assert!(assertion.ends_with("</saml:Assertion>"));
        assert!(assertion.contains(DAVE_UPN));
        assert!(assertion.contains("<saml:Audience>urn:federation:MicrosoftOnline</saml:Audience>"));
        assert_signed(&em, assertion);

        // MSAL Python sends url-safe base64 without padding; standard works too.
        for encoded in [URL_SAFE_NO_PAD.encode(assertion), STANDARD.encode(assertion)] {
            let reply = post_form(
                &http,
                &token_url(&em, "organizations"),
                &saml_form(grant, &encoded),
            )
            .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert!(reply.body["refresh_token"].is_string());
            let id = claims(reply.body["id_token"].as_str().unwrap());
            assert_eq!(id["preferred_username"], DAVE_UPN);
            assert_eq!(id["oid"], DAVE_OBJECT_ID);
            assert_eq!(id["name"], DAVE_DISPLAY_NAME);
            assert_eq!(id["tid"], WOODGROVE_TENANT_ID);
        }

        // The assertion's kind must match the grant.
        let other_grant = if v13 { SAML11_GRANT } else { SAML2_GRANT };
        let reply = post_form(
            &http,
            &token_url(&em, "organizations"),
            &saml_form(other_grant, &URL_SAFE_NO_PAD.encode(assertion)),
        )
        .await;
        assert_entra_error(&reply, 400, "invalid_grant", 50008);

        // A Contoso authority does not take a Woodgrove user's assertion.
        let reply = post_form(
            &http,
            &token_url(&em, CONTOSO_TENANT_NAME),
            &saml_form(grant, &URL_SAFE_NO_PAD.encode(assertion)),
        )
        .await;
        assert_entra_error(&reply, 400, "invalid_grant", 50020);
    }
    assert_eq!(em.request_count(Endpoint::Federation), 2);
    em.shutdown().await;
}

#[tokio::test]
async fn ws_trust_faults_on_bad_credentials_and_requests() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    for v13 in [false, true] {
        for (user, password, applies_to, subcode) in [
            (
                DAVE_UPN,
                "wrong",
                "urn:federation:MicrosoftOnline",
                "FailedAuthentication",
            ),
            (
                "nobody@woodgrove.com",
                "x",
                "urn:federation:MicrosoftOnline",
                "FailedAuthentication",
            ),
            // A managed user is not known on premises.
            (
                ALICE_UPN,
                ALICE_PASSWORD,
                "urn:federation:MicrosoftOnline",
                "FailedAuthentication",
            ),
            (
                DAVE_UPN,
                DAVE_PASSWORD,
                "urn:other:relying-party",
                "InvalidRequest",
            ),
        ] {
            let (status, fault) = post_rst(&http, &em, v13, rst(&em, v13, user, password, applies_to)).await;
            assert_eq!(status, 500, "{fault}");
            assert!(fault.contains("<s:Fault>"), "{fault}");
            assert!(fault.contains(&format!(":{subcode}</s:Value>")), "{fault}");
            assert!(!fault.contains("Assertion"), "{fault}");
        }
    }
    // Garbage, a DTD, and the other version's RST are refused the same way.
    for body in [
        "not xml".to_owned(),
        "<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>".to_owned(),
        rst(
            &em,
            false,
            DAVE_UPN,
            DAVE_PASSWORD,
            "urn:federation:MicrosoftOnline",
        ),
    ] {
        let (status, fault) = post_rst(&http, &em, true, body).await;
        assert_eq!(status, 500);
        assert!(fault.contains(":InvalidRequest</s:Value>"), "{fault}");
    }
    let big = "x".repeat(100 * 1024);
    let (status, _) = post_rst(&http, &em, true, big).await;
    assert_eq!(status, 500);
    em.shutdown().await;
}

#[tokio::test]
async fn tampered_and_expired_assertions_are_refused() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    for (v13, grant) in [(false, SAML11_GRANT), (true, SAML2_GRANT)] {
        let assertion = dave_assertion(&http, &em, v13).await;
        // One byte of the UPN changed.
        let tampered = assertion.replacen("dave@woodgrove.com", "dbve@woodgrove.com", 1);
        assert_ne!(tampered, assertion);
        let reply: Reply = post_form(
            &http,
            &token_url(&em, "organizations"),
            &saml_form(grant, &URL_SAFE_NO_PAD.encode(&tampered)),
        )
        .await;
        assert_entra_error(&reply, 400, "invalid_grant", 50006);

        let reply = post_form(
            &http,
            &token_url(&em, "organizations"),
            &saml_form(grant, "%%%not-base64"),
        )
        .await;
        assert_entra_error(&reply, 400, "invalid_grant", 50008);
    }
    let assertion = dave_assertion(&http, &em, true).await;
    em.advance_clock(Duration::from_secs(3_600));
    let reply = post_form(
        &http,
        &token_url(&em, "organizations"),
        &saml_form(SAML2_GRANT, &URL_SAFE_NO_PAD.encode(&assertion)),
    )
    .await;
    assert_entra_error(&reply, 400, "invalid_grant", 50013);
    em.shutdown().await;
}
