//! Entra-style OAuth error responses and the catalogue of AADSTS errors the
//! emulator returns.
//!
//! Every error body has Entra's shape: `error`, `error_description` (the
//! AADSTS code, a message, then trace id, correlation id and timestamp),
//! `error_codes`, `timestamp`, `trace_id`, `correlation_id` and `error_uri`.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::clock;
use crate::context::RequestContext;
use crate::reply;

/// One Entra error: HTTP status, OAuth `error`, AADSTS code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntraError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) code: u32,
    pub(crate) message: String,
    /// Entra's `suberror` (e.g. `client_mismatch`), also sent as the single
    /// entry of `error_additional_info`: MSAL libraries read one or the other.
    pub(crate) suberror: Option<&'static str>,
}

impl EntraError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        EntraError {
            status,
            error,
            code,
            message: message.into(),
            suberror: None,
        }
    }

    /// Entra's `error_description`: the AADSTS code, the message, then the
    /// trace id, correlation id and `timestamp`.
    pub(crate) fn description(&self, ctx: &RequestContext, timestamp: &str) -> String {
        format!(
            "AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}",
            self.code, self.message, ctx.trace_id, ctx.correlation_id, timestamp
        )
    }

    /// The full Entra response for this error in the context of one request.
    pub(crate) fn to_response(&self, ctx: &RequestContext) -> Response {
        let timestamp = clock::entra_timestamp();
        let description = self.description(ctx, &timestamp);
        let mut body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": ctx.trace_id.to_string(),
            "correlation_id": ctx.correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        if let (Some(suberror), Some(fields)) = (self.suberror, body.as_object_mut()) {
            fields.insert("suberror".into(), json!(suberror));
            fields.insert("error_additional_info".into(), json!([suberror]));
        }
        tracing::debug!(
            status = self.status.as_u16(),
            error = self.error,
            code = self.code,
            trace_id = %ctx.trace_id,
            "request rejected"
        );
        reply::json(self.status, &body)
    }

    /// Discovery of a tenant that does not exist.
    pub(crate) fn invalid_tenant(tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            tenant_not_found_message(tenant),
        )
    }

    /// A token request to a tenant that does not exist.
    pub(crate) fn token_tenant_not_found(tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            tenant_not_found_message(tenant),
        )
    }

    /// A required parameter is absent or empty.
    pub(crate) fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// The request cannot be understood (body, encoding, headers).
    pub(crate) fn malformed(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9002313,
            format!("Invalid request. Request is malformed or invalid. {detail}"),
        )
    }

    /// The request body exceeds the emulator's limit.
    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            9002313,
            format!(
                "Invalid request. Request is malformed or invalid. The request body is larger than {limit} bytes."
            ),
        )
    }

    /// The request took too long (slow client).
    pub(crate) fn timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            9002313,
            "Invalid request. Request is malformed or invalid. The request was not completed in time.",
        )
    }

    /// A `grant_type` the emulator does not implement.
    pub(crate) fn unsupported_grant_type(grant_type: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        )
    }

    /// No such app, or a single-tenant app used outside its home tenant.
    pub(crate) fn app_not_found(client_id: &str, directory: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// A secret that matches none of the app's secrets.
    pub(crate) fn invalid_client_secret(client_id: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// A confidential client that sent no credential.
    pub(crate) fn missing_client_credential() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// A public client used a grant only confidential clients may use.
    pub(crate) fn public_client_not_allowed(grant_type: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700025,
            format!(
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented, and the '{grant_type}' grant requires a confidential client."
            ),
        )
    }

    /// A client-credentials scope without the `/.default` suffix.
    pub(crate) fn client_credentials_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    /// A scope value that cannot be honoured (e.g. several resources at once).
    pub(crate) fn invalid_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        )
    }

    /// A resource that does not exist in the tenant.
    pub(crate) fn invalid_resource(resource: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// Instance discovery for a host this emulator does not serve.
    pub(crate) fn invalid_instance() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_instance",
            50049,
            "Unknown or invalid instance.",
        )
    }

    /// An `api-version` the endpoint does not support.
    pub(crate) fn unsupported_api_version(version: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9002313,
            format!(
                "Invalid request. Request is malformed or invalid. The api-version '{version}' is not supported; use '1.0' or '1.1'."
            ),
        )
    }

    /// A path the emulator does not serve.
    pub(crate) fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request",
            9002313,
            format!(
                "Invalid request. Request is malformed or invalid. The path '{path}' is not served by this emulator."
            ),
        )
    }

    /// A known path used with the wrong HTTP method; `allowed` reads like
    /// `POST` or `GET or POST`.
    pub(crate) fn method_not_allowed(allowed: &str, received: &Method) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            900561,
            format!("The endpoint only accepts {allowed} requests. Received a {received} request."),
        )
    }

    /// A token request to `common`/`organizations` for a grant that names no user.
    pub(crate) fn tenant_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any provided credentials.",
        )
    }

    /// A public client presented a secret or assertion.
    pub(crate) fn public_client_with_credential() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )
    }

    /// A redirect URI that is not registered for the app.
    pub(crate) fn redirect_uri_mismatch(redirect_uri: &str, client_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal."
            ),
        )
    }

    /// A `response_type` other than `code`.
    pub(crate) fn unsupported_response_type(response_type: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            70005,
            format!("response_type '{response_type}' is not enabled for the application."),
        )
    }

    /// A public client's authorize request without a PKCE challenge.
    pub(crate) fn pkce_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required for this client. Send a code_challenge with code_challenge_method=S256.",
        )
    }

    /// A `response_type` the app registration's implicit grant settings do
    /// not allow: AADSTS700054 for `id_token`, AADSTS700051 for `token`.
    pub(crate) fn response_type_not_enabled(response_type: &str, code: u32) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            code,
            format!("response_type '{response_type}' is not enabled for the application."),
        )
    }

    /// A PKCE challenge of the wrong length for its method.
    pub(crate) fn code_challenge_size() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            501491,
            "Invalid size of Code_Challenge parameter.",
        )
    }

    /// A browser (cross-origin) redemption of a code issued without PKCE.
    pub(crate) fn pkce_required_cross_origin() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
        )
    }

    /// `prompt=none` and nobody is signed in (or the session is too old).
    pub(crate) fn login_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        )
    }

    /// `prompt=none` and several signed-in users could answer.
    pub(crate) fn interaction_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "interaction_required",
            16000,
            "Either multiple user identities are available for the current request or selected account is not supported for the scenario.",
        )
    }

    /// A sign-in with a user name the directory does not know.
    pub(crate) fn user_not_found(upn: &str, directory: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50034,
            format!(
                "The user account {upn} does not exist in the {directory} directory. To sign into this application, the account must be added to the directory."
            ),
        )
    }

    /// A sign-in with the wrong password.
    pub(crate) fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    }

    /// A user signing in to a tenant (or app) outside their home tenant.
    pub(crate) fn user_not_in_tenant(upn: &str, tenant: &str, client_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50020,
            format!(
                "User account '{upn}' from identity provider 'https://sts.windows.net/' does not exist in tenant '{tenant}' and cannot access the application '{client_id}' in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account."
            ),
        )
    }

    /// A personal Microsoft account signing in where only work and school
    /// accounts may (`organizations`, or a tenant).
    pub(crate) fn personal_account_not_supported(upn: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            500200,
            format!(
                "User account '{upn}' is a personal Microsoft account. Personal Microsoft accounts are not supported for this application unless explicitly invited to an organization. Try signing out and signing back in with an organizational account."
            ),
        )
    }

    /// A work or school account signing in at `consumers`.
    pub(crate) fn work_account_at_consumers(upn: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50034,
            format!(
                "The user account {upn} does not exist in the Microsoft account directory. The consumers authority signs in personal Microsoft accounts only: use organizations, common or the account's tenant."
            ),
        )
    }

    /// A personal account signing in to an app not configured for them.
    pub(crate) fn app_not_enabled_for_consumers(client_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "The client '{client_id}' does not exist or is not enabled for consumers. If you are the application developer, configure a new application through the App Registrations in the Azure Portal."
            ),
        )
    }

    /// A delegated scope the resource app does not expose.
    pub(crate) fn scope_not_found(scope: &str, client_id: &str, resource: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            650053,
            format!(
                "The application '{client_id}' asked for scope '{scope}' that doesn't exist on the resource '{resource}'. Contact the app vendor."
            ),
        )
    }

    /// Scopes of more than one resource in one token request.
    pub(crate) fn multiple_resources(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            28000,
            format!(
                "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
            ),
        )
    }

    /// A code or refresh token the emulator never issued, revoked, or issued
    /// to someone else.
    pub(crate) fn invalid_grant(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70000,
            format!("Provided grant is invalid or malformed. {detail}"),
        )
    }

    /// An authorization code past its lifetime.
    pub(crate) fn code_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    /// An authorization code presented a second time.
    pub(crate) fn code_redeemed() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )
    }

    /// A PKCE verifier that does not hash to the code's challenge.
    pub(crate) fn code_verifier_mismatch() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    }

    /// A refresh token unused for longer than its inactivity lifetime.
    pub(crate) fn refresh_token_expired(issued: &str, inactive_days: u64) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {issued} and was inactive for {inactive_days}.00:00:00."
            ),
        )
    }

    /// A refresh token redeemed by another client than the one it was
    /// issued to, where the two are not both in the family of client ids.
    pub(crate) fn client_mismatch() -> Self {
        EntraError {
            suberror: Some("client_mismatch"),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed. The refresh token was issued to a different client, and the two clients are not in the same family.",
            )
        }
    }

    /// Device code polled before the user acted.
    pub(crate) fn authorization_pending() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    }

    /// Device code polled sooner than `interval` after the previous poll.
    pub(crate) fn slow_down(interval: u64) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "slow_down",
            70016,
            format!(
                "OAuth 2.0 device flow error. Authorization is pending and the client polls too often; wait at least {interval} seconds between requests."
            ),
        )
    }

    /// A password grant for a user of a federated domain: Entra cannot
    /// check that password (it answers as for a wrong one); the client must
    /// get a SAML assertion from the federation server instead.
    pub(crate) fn federated_user_password(domain: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50126,
            format!(
                "Error validating credentials due to invalid username or password. The domain '{domain}' is federated: sign in at its federation server (WS-Trust) and redeem the SAML assertion it issues."
            ),
        )
    }

    /// The user declined the device code sign-in.
    pub(crate) fn authorization_declined() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "authorization_declined",
            70000,
            "The end user declined the authorization request.",
        )
    }

    /// A device code past its lifetime.
    pub(crate) fn device_code_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        )
    }

    /// A device code the emulator never issued (or forgot).
    pub(crate) fn bad_verification_code() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_verification_code",
            70019,
            "The provided value for the input parameter 'device_code' is not valid.",
        )
    }

    /// A user code typed on the verification page that names no pending sign-in.
    pub(crate) fn bad_user_code() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70000,
            "The code you entered is not valid or has expired. Check the code and try again, or get a new code on your device.",
        )
    }

    /// A SAML assertion that is malformed or not usable here.
    pub(crate) fn saml_invalid(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50008,
            format!("SAML token is invalid. {detail}"),
        )
    }

    /// A SAML assertion whose digest or signature does not verify.
    pub(crate) fn saml_signature() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50006,
            "Signature verification failed because of an invalid signature.",
        )
    }

    /// A SAML assertion outside its validity window, or not for Entra.
    pub(crate) fn saml_assertion_rejected(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50013,
            format!("Assertion is invalid. {detail}"),
        )
    }

    /// A client assertion that is not a well-formed JWT with the claims
    /// Entra requires.
    pub(crate) fn client_assertion_malformed(detail: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            50027,
            format!("JWT token is invalid or malformed. {detail}"),
        )
    }

    /// A client assertion whose signature does not verify.
    pub(crate) fn client_assertion_signature(detail: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            format!("Client assertion failed signature validation. {detail}"),
        )
    }

    /// A client assertion signed with a certificate the app does not have.
    pub(crate) fn client_assertion_key_not_found(client_id: &str, thumbprint: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
            ),
        )
    }

    /// A client assertion whose `iss`/`sub` is not the client id.
    pub(crate) fn client_assertion_subject() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        )
    }

    /// A client assertion for another audience than this token endpoint.
    pub(crate) fn client_assertion_audience(audience: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700023,
            format!(
                "Client assertion audience claim does not match Realm issuer. The audience in the assertion was '{audience}'. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
            ),
        )
    }

    /// A client assertion with more than one audience.
    pub(crate) fn client_assertion_audience_count(count: usize) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            5002741,
            format!(
                "Number of audience values in the provided client credential exceed maximum allowed. {count} audience values provided, maximum allowed is 1."
            ),
        )
    }

    /// A client assertion outside its validity window.
    pub(crate) fn client_assertion_time(now: &str, valid_from: &str, expires: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {valid_from}, expiry time of assertion {expires}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
            ),
        )
    }

    /// A client assertion whose `jti` another assertion already used.
    pub(crate) fn client_assertion_replayed(jti: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            format!(
                "Client assertion failed validation: the assertion identifier (jti) '{jti}' was already used by another assertion. Create each assertion with a new jti."
            ),
        )
    }

    /// The emulator itself failed (e.g. signing).
    pub(crate) fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            "There was an error issuing a token or an issue with our sign-in service.",
        )
    }

    /// The service is briefly unavailable (a regional outage, for fallback tests).
    pub(crate) fn temporarily_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        )
    }
}

fn tenant_not_found_message(tenant: &str) -> String {
    format!(
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
    )
}
