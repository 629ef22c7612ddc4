//! The Azure Instance Metadata Service (IMDS) of a VM: the managed identity
//! token endpoint and the instance metadata clients read their region from.
//!
//! | request | answer |
//! |---|---|
//! | `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=…\|msi_res_id=…\|object_id=…]` | `{"access_token", "client_id", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type"}`, numbers as strings |
//! | `GET /metadata/instance/compute/location?format=text&api-version=V` | the region, as text (without `format=text`: a JSON string) |
//! | `GET /metadata/instance/compute?api-version=V` | the compute metadata (`location`, `name`, `vmId`, `azEnvironment`, ...) |
//! | `GET /metadata/instance?api-version=V` | `{"compute": {...}, "network": {...}}` |
//!
//! Every request needs `Metadata: true`. Token errors are 400
//! `{"error": "invalid_request" | "invalid_resource", "error_description"}`:
//! no metadata header ("Required metadata header not specified"), a missing
//! or other api-version, no resource, more than one id parameter, an
//! unknown identity ("Identity not found"), an unknown resource
//! (`invalid_resource`, AADSTS500011). Instance metadata errors are 400
//! `{"error": "Bad request. …"}` as IMDS words them; any `YYYY-MM-DD`
//! api-version from 2017-03-01 on is accepted there.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{IdKind, IssueError, ManagedIdentitySource, Query, SelectError, Shape};
use crate::context::RequestContext;
use crate::reply;
use crate::server::AppState;
use crate::stats::Endpoint;

/// The token path (IMDS's, and Azure Arc's and Service Fabric's too).
pub(crate) const TOKEN_PATH: &str = "/metadata/identity/oauth2/token";

/// The only api-version IMDS's token endpoint accepts here (MSAL's).
const API_VERSION: &str = "2018-02-01";

/// The oldest api-version the instance metadata endpoints accept.
const OLDEST_INSTANCE_API_VERSION: &str = "2017-03-01";

/// The id parameters IMDS reads, in MSAL's order.
const ID_PARAMS: [(&str, IdKind); 3] = [
    ("client_id", IdKind::Client),
    ("msi_res_id", IdKind::Resource),
    ("object_id", IdKind::Object),
];

/// What the instance metadata says about the emulated VM.
pub(crate) struct Instance {
    region: String,
    name: String,
    vm_id: String,
    subscription_id: String,
    resource_group: String,
    resource_id: String,
}

impl Instance {
    /// The VM in `region` whose system-assigned identity the directory has
    /// (its name, subscription and group come from the identity's resource
    /// id), with a fresh `vmId`.
    pub(crate) fn new(region: String, directory: &crate::Directory) -> Instance {
        let resource_id = directory
            .system_assigned_identity()
            .map(|mi| mi.resource_id.clone())
            .unwrap_or_else(|| {
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/msal-emulator\
                 /providers/Microsoft.Compute/virtualMachines/msal-emulator-vm"
                    .to_owned()
            });
        let segments: Vec<&str> = resource_id.split('/').collect();
        let segment = |i: usize| segments.get(i).copied().unwrap_or("").to_owned();
        Instance {
            region,
            name: segments.last().copied().unwrap_or("").to_owned(),
            vm_id: uuid::Uuid::new_v4().to_string(),
            subscription_id: segment(2),
            resource_group: segment(4),
            resource_id,
        }
    }

    fn compute(&self) -> Value {
        json!({
            "azEnvironment": "AzurePublicCloud",
            "location": self.region,
            "name": self.name,
            "osType": "Linux",
            "resourceGroupName": self.resource_group,
            "resourceId": self.resource_id,
            "subscriptionId": self.subscription_id,
            "vmId": self.vm_id,
            "vmSize": "Standard_D2s_v3",
            "zone": "",
        })
    }
}

/// IMDS's routes.
pub(crate) fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route(TOKEN_PATH, super::route(state, Endpoint::Imds, "GET", get(token)))
        .route(
            "/metadata/instance",
            super::route(state, Endpoint::ImdsInstance, "GET", get(instance)),
        )
        .route(
            "/metadata/instance/compute",
            super::route(state, Endpoint::ImdsInstance, "GET", get(compute)),
        )
        .route(
            "/metadata/instance/compute/location",
            super::route(state, Endpoint::ImdsInstance, "GET", get(location)),
        )
}

/// `GET /metadata/identity/oauth2/token`.
async fn token(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let source = ManagedIdentitySource::Imds;
    let bad = |message: &str| Shape::OAuth.error(&ctx, StatusCode::BAD_REQUEST, "invalid_request", message);
    let Some(hosts) = super::hosts(&state) else {
        return super::not_enabled(&ctx, Shape::OAuth);
    };
    if !super::has_metadata_header(request.headers()) {
        return bad("Required metadata header not specified");
    }
    let query = Query::parse(request.uri());
    match query.required("api-version") {
        Err(e) => return bad(&e.to_string()),
        Ok(API_VERSION) => {}
        Ok(other) => {
            return bad(&format!(
                "Invalid api-version '{other}': the identity endpoint supports {API_VERSION}"
            ));
        }
    }
    let resource = match query.required("resource") {
        Ok(resource) => resource,
        Err(e) => return bad(&e.to_string()),
    };
    let identity = match super::select(&state, &query, &ID_PARAMS) {
        Ok(identity) => identity,
        Err(SelectError::NotFound(_)) => return bad("Identity not found"),
        Err(e) => return bad(&e.to_string()),
    };
    let issued = match super::issue(&state, hosts, identity, resource, &[]) {
        Ok(issued) => issued,
        Err(IssueError::UnknownResource(message)) => {
            return Shape::OAuth.error(&ctx, StatusCode::BAD_REQUEST, "invalid_resource", &message);
        }
        Err(IssueError::Signing) => return signing_failed(&ctx),
    };
    let expires_in = issued.expires_in.to_string();
    let body = json!({
        "access_token": issued.access_token,
        "client_id": identity.client_id,
        "expires_in": expires_in,
        "expires_on": issued.expires_on.to_string(),
        "ext_expires_in": expires_in,
        "not_before": issued.issued_at.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    super::logged(
        source,
        Some(&identity.client_id),
        reply::json_no_store(StatusCode::OK, &body),
    )
}

/// A 500 for a token the emulator could not sign.
pub(crate) fn signing_failed(ctx: &RequestContext) -> Response {
    Shape::OAuth.error(
        ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "The token could not be signed",
    )
}

/// Checks the instance metadata request's header and api-version; what is
/// wrong with them, in IMDS's words, if anything.
fn check_instance_request(request: &Request) -> Result<Query, &'static str> {
    if !super::has_metadata_header(request.headers()) {
        return Err("Required metadata header not specified.");
    }
    let query = Query::parse(request.uri());
    match query.single("api-version") {
        Ok(Some(version)) if is_api_version(version) => Ok(query),
        Ok(None) => Err("api-version was not specified in the request."),
        _ => Err("api-version is invalid."),
    }
}

/// IMDS's refusal of an instance metadata request.
fn refuse(problem: &str) -> Response {
    reply::json(
        StatusCode::BAD_REQUEST,
        &json!({
            "error": format!("Bad request. {problem} For more information refer to aka.ms/azureimds"),
            "newest-versions": ["2023-07-01", "2021-12-13", "2021-11-15"],
        }),
    )
}

/// Whether `v` is a `YYYY-MM-DD` api-version IMDS has.
fn is_api_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && v >= OLDEST_INSTANCE_API_VERSION
}

/// `GET /metadata/instance`.
async fn instance(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let Some(hosts) = super::hosts(&state) else {
        return super::not_enabled(&ctx, Shape::OAuth);
    };
    if let Err(problem) = check_instance_request(&request) {
        return refuse(problem);
    }
    reply::json(
        StatusCode::OK,
        &json!({
            "compute": hosts.instance.compute(),
            "network": {"interface": [{
                "ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4", "publicIpAddress": ""}],
                         "subnet": [{"address": "10.0.0.0", "prefix": "24"}]},
                "ipv6": {"ipAddress": []},
                "macAddress": "000D3A000000",
            }]},
        }),
    )
}

/// `GET /metadata/instance/compute`.
async fn compute(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let Some(hosts) = super::hosts(&state) else {
        return super::not_enabled(&ctx, Shape::OAuth);
    };
    if let Err(problem) = check_instance_request(&request) {
        return refuse(problem);
    }
    reply::json(StatusCode::OK, &hosts.instance.compute())
}

/// `GET /metadata/instance/compute/location`: text with `format=text`
/// (what MSAL's region discovery asks for), else a JSON string.
async fn location(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let Some(hosts) = super::hosts(&state) else {
        return super::not_enabled(&ctx, Shape::OAuth);
    };
    let query = match check_instance_request(&request) {
        Ok(query) => query,
        Err(problem) => return refuse(problem),
    };
    if query.first("format") == Some("text") {
        let mut response = hosts.instance.region.clone().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    } else {
        reply::json(StatusCode::OK, &json!(hosts.instance.region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_dates_imds_has() {
        assert!(is_api_version("2021-01-01"));
        assert!(is_api_version("2017-03-01"));
        assert!(!is_api_version("2016-12-31"));
        assert!(!is_api_version("2021-1-01"));
        assert!(!is_api_version("latest"));
    }

    #[test]
    fn the_vm_is_the_system_assigned_identity_host() {
        let instance = Instance::new("westeurope".into(), &crate::Directory::builtin());
        let compute = instance.compute();
        assert_eq!(compute["location"], "westeurope");
        assert_eq!(compute["name"], crate::builtin::MI_SYSTEM_ASSIGNED_NAME);
        assert_eq!(compute["subscriptionId"], crate::builtin::MI_SUBSCRIPTION_ID);
        assert_eq!(compute["resourceGroupName"], crate::builtin::MI_RESOURCE_GROUP);
    }
}
