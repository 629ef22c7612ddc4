//! The emulated directory: tenants, app registrations and users.
//!
//! Owns the data model, its JSON form (load, parse with field-precise errors,
//! pretty print), validation, and the lookups the endpoints need (tenant by
//! name/domain/GUID, app by client id, resource by identifier, managed
//! identity by client id, object id or Azure resource id).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default access-token lifetime, the value Entra reports in `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3599;

/// Longest token lifetime a directory may ask for (one day).
const MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// Tenant segments Entra reserves for multi-tenant authorities.
pub const RESERVED_TENANT_SEGMENTS: [&str; 3] = ["common", "organizations", "consumers"];

/// Microsoft Graph's application id, the same in every tenant.
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Microsoft Graph's application ID URI.
pub const MICROSOFT_GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// The `$id` of [`Directory::json_schema`]: where the repository keeps it.
const SCHEMA_ID: &str = "https://github.com/msal-rs/msal/blob/main/docs/emulator-config.schema.json";

/// A whole emulated directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    /// The tenants (Entra directories); at least one.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub tenants: Vec<Tenant>,
    /// App registrations, each with a home tenant.
    #[serde(default)]
    pub apps: Vec<App>,
    /// User accounts, each in one tenant.
    #[serde(default)]
    pub users: Vec<User>,
    /// Lifetime of issued access tokens in seconds (`expires_in`).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// Managed identities the emulated Azure hosts (VM, App Service, ...)
    /// get tokens for: at most one system-assigned, any user-assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_identities: Vec<ManagedIdentity>,
    /// AD FS servers, each on a host of its own, signing in the users of
    /// one tenant's federated domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adfs: Vec<AdfsServer>,
    /// External identity providers (social accounts) B2C tenants offer on
    /// their sign-in pages, each on a host of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_providers: Vec<IdentityProvider>,
}

/// The kind of directory a tenant is, which decides the hosts and protocol
/// that serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    /// A workforce Entra ID tenant: served on the loopback URL and on the
    /// public and sovereign clouds' hosts.
    #[default]
    Entra,
    /// The personal Microsoft accounts' tenant (the `consumers` authority):
    /// its id must be [`CONSUMERS_TENANT_ID`]; at most one.
    Consumers,
    /// An Azure AD B2C tenant: served on `{name}.b2clogin.com` with user
    /// flows (`policies`) in the path.
    B2c,
    /// An External ID (CIAM) tenant: served on `{name}.ciamlogin.com` (and
    /// `{id}.ciamlogin.com`, its issuer's host).
    Ciam,
}

impl TenantKind {
    fn is_entra(&self) -> bool {
        *self == TenantKind::Entra
    }
}

/// The fixed id of Entra's tenant of personal Microsoft accounts.
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// An AD FS server (Windows Server 2019 AD FS with OpenID Connect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdfsServer {
    /// Its host name (`adfs.woodgrove.com`); the authority is
    /// `https://{host}/adfs`.
    pub host: String,
    /// The tenant (name, domain or GUID) whose users of federated domains
    /// sign in here, with the apps usable in that tenant.
    pub tenant: String,
}

/// An external identity provider (a social account provider) with its own
/// sign-in page on its own host, offered by B2C tenants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// Short name: what tenants' `identity_providers` and users'
    /// `identity_provider` refer to (`social`).
    pub name: String,
    /// The button's text on the B2C sign-in page.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Its host name (`social.emulator.test`).
    pub host: String,
    /// The `idp` claim of tokens for its users (`google.com`-style).
    pub idp: String,
}

fn default_token_lifetime() -> u64 {
    DEFAULT_TOKEN_LIFETIME_SECS
}

/// A tenant: one Entra directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Tenant id, a GUID; endpoints and the `tid` claim use it.
    pub id: String,
    /// Short name (`contoso`); accepted as the authority's tenant segment.
    pub name: String,
    /// Human-readable name used in error messages; defaults to `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Verified domains (`contoso.onmicrosoft.com`); each also names the tenant.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Those of `domains` that are federated: their users sign in at the
    /// emulator's federation server (WS-Trust, as with AD FS), not with a
    /// password Entra checks. Every other domain is managed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_domains: Vec<String>,
    /// What kind of directory this is (Entra ID when absent).
    #[serde(default, skip_serializing_if = "TenantKind::is_entra")]
    pub kind: TenantKind,
    /// B2C only: the user flows (`B2C_1_signupsignin`), matched in any case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// B2C only: the external identity providers (their `name`s) its
    /// sign-in page offers besides local accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_providers: Vec<String>,
}

impl Tenant {
    /// The policy named `name` (any case), as the tenant spells it.
    pub fn policy(&self, name: &str) -> Option<&str> {
        self.policies
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }

    /// The host that serves a B2C or CIAM tenant (`{name}.b2clogin.com`,
    /// `{name}.ciamlogin.com`), lowercase.
    pub fn login_host(&self) -> Option<String> {
        match self.kind {
            TenantKind::B2c => Some(format!("{}.b2clogin.com", self.name.to_ascii_lowercase())),
            TenantKind::Ciam => Some(format!("{}.ciamlogin.com", self.name.to_ascii_lowercase())),
            TenantKind::Entra | TenantKind::Consumers => None,
        }
    }

    /// The name Entra shows for the directory in messages.
    pub fn shown_name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.name
        } else {
            &self.display_name
        }
    }

    /// Whether `key` (name, domain or GUID, any case) names this tenant.
    pub fn is_named(&self, key: &str) -> bool {
        self.id.eq_ignore_ascii_case(key)
            || self.name.eq_ignore_ascii_case(key)
            || self.domains.iter().any(|d| d.eq_ignore_ascii_case(key))
    }

    /// Whether `domain` (any case) is one of this tenant's federated domains.
    pub fn is_federated_domain(&self, domain: &str) -> bool {
        self.federated_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// Whether an app can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// Desktop, mobile or CLI app: no credentials.
    Public,
    /// Web app, web API or daemon: authenticates with a secret (or, later, a certificate).
    #[default]
    Confidential,
}

/// Application permissions (app roles) an app was granted on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPermission {
    /// The resource: an application ID URI (`https://graph.microsoft.com`,
    /// `api://…`) or the resource app's client id.
    pub resource: String,
    /// Granted role values (`User.Read.All`); they land in the token's `roles`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// An app registration (and its service principal in the tenants it is used in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Display name shown in messages.
    #[serde(default)]
    pub display_name: String,
    /// Home tenant: its name, a domain or its GUID.
    pub tenant: String,
    /// Public or confidential client.
    #[serde(default)]
    pub kind: AppKind,
    /// Whether tenants other than the home tenant may use the app.
    #[serde(default)]
    pub multi_tenant: bool,
    /// Other tenants (name, domain or GUID) the app is provisioned in, as
    /// when an administrator there consented to it: their users may use it
    /// although it is single-tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisioned_in: Vec<String>,
    /// Client secrets (plain text: this is an emulator).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Registered redirect URIs. Loopback ones (`http://localhost`,
    /// `http://127.0.0.1`) match a request on any port, as in Entra.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Application ID URIs (`api://<client id>`), under which the app is a resource.
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    /// App roles the app exposes as a resource (values).
    #[serde(default)]
    pub app_roles: Vec<String>,
    /// Delegated permissions (scope values such as `Orders.Read`) the app
    /// exposes as a resource; users' tokens for it carry them in `scp`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Application permissions granted to this app, per resource.
    #[serde(default)]
    pub app_permissions: Vec<AppPermission>,
    /// Whether the app is in the family of client ids (FOCI): its token
    /// responses carry `"foci": "1"` and any family app may redeem a refresh
    /// token issued to another family app. Only public clients can be in it.
    #[serde(default)]
    pub family: bool,
    /// Certificates (PEM, one `CERTIFICATE` block each) the app may sign
    /// client assertions with; the assertion names one by its `x5t` (SHA-1)
    /// or `x5t#S256` (SHA-256) thumbprint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<String>,
    /// CA certificates (PEM) the app trusts for subject name / issuer
    /// authentication: an assertion whose `x5c` chain leads to one of them
    /// is accepted although its certificate is not in `certificates`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_certificate_issuers: Vec<String>,
    /// Whether personal Microsoft accounts may use the app (sign-in
    /// audience "AzureADandPersonalMicrosoftAccount"): only then can users
    /// of the `consumers` tenant sign in to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub personal_accounts: bool,
    /// The access token version the app accepts as a resource, Entra's
    /// `accessTokenAcceptedVersion` (`requestedAccessTokenVersion`): `1` or
    /// `2`. Absent means 1, as in Entra: v1.0 tokens whatever endpoint the
    /// client used. Decides the shape of access tokens issued for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2))]
    pub access_token_version: Option<u8>,
    /// Whether the authorize endpoint may return ID tokens (`response_type`
    /// `id_token`, `code id_token`), Entra's implicit grant setting "ID
    /// tokens" (`enableIdTokenIssuance`); off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub implicit_id_tokens: bool,
    /// Whether the authorize endpoint may return access tokens
    /// (`response_type` `token`), Entra's implicit grant setting "Access
    /// tokens" (`enableAccessTokenIssuance`); off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub implicit_access_tokens: bool,
}

impl App {
    /// Whether the app may be used in `tenant`: its home tenant, a tenant it
    /// is provisioned in, or any if multi-tenant; in the personal accounts'
    /// tenant, only if it accepts personal accounts.
    pub fn usable_in(&self, tenant: &Tenant) -> bool {
        if tenant.kind == TenantKind::Consumers {
            return self.personal_accounts;
        }
        self.multi_tenant
            || tenant.is_named(&self.tenant)
            || self.provisioned_in.iter().any(|t| tenant.is_named(t))
    }

    /// The access token version it accepts as a resource (see
    /// [`App::access_token_version`]).
    pub fn accepted_token_version(&self) -> u8 {
        self.access_token_version.unwrap_or(1)
    }

    /// Whether `resource` (an identifier URI or the client id) names this app.
    pub fn is_resource_named(&self, resource: &str) -> bool {
        let resource = trim_one_slash(resource);
        self.client_id.eq_ignore_ascii_case(resource)
            || self
                .identifier_uris
                .iter()
                .any(|u| trim_one_slash(u).eq_ignore_ascii_case(resource))
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User principal name (`alice@contoso.onmicrosoft.com`).
    pub upn: String,
    /// Password (plain text: this is an emulator).
    pub password: String,
    /// Object id, a GUID (the `oid` claim).
    pub object_id: String,
    /// Display name (the `name` claim).
    #[serde(default)]
    pub display_name: String,
    /// The user's tenant: its name, a domain or its GUID.
    pub tenant: String,
    /// For a B2C user who signs in with a social account: the external
    /// identity provider (its `name`) that checks the password, on its own
    /// page; the `upn` is then the email the provider knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
}

/// A managed identity: the service principal an Azure resource (a VM, an
/// App Service app, ...) gets tokens as, without a secret of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagedIdentity {
    /// Display name; for a user-assigned identity, the last segment of
    /// `resource_id` by convention.
    pub name: String,
    /// User-assigned (a resource of its own, attachable to many hosts) or
    /// system-assigned (tied to the one host resource).
    #[serde(default)]
    pub user_assigned: bool,
    /// Client (application) id, a GUID: `appid` in its tokens, and the
    /// `client_id` parameter that selects it.
    pub client_id: String,
    /// Object (principal) id, a GUID: `oid` in its tokens, and the
    /// `object_id` parameter that selects it.
    pub object_id: String,
    /// Azure resource id: for a user-assigned identity
    /// `/subscriptions/<guid>/resourcegroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`,
    /// for a system-assigned one its host's (for a VM
    /// `/subscriptions/<guid>/resourcegroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>`).
    /// The `msi_res_id`/`mi_res_id` parameters select it (any case, as Azure
    /// compares resource ids), and tokens carry it as `xms_mirid`.
    pub resource_id: String,
    /// The tenant the identity lives in: its name, a domain or its GUID.
    pub tenant: String,
}

/// The provider segment of a user-assigned identity's resource id.
const USER_ASSIGNED_PROVIDER: &str = "/providers/microsoft.managedidentity/userassignedidentities/";

/// A resource a token can be issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource<'a> {
    /// Microsoft Graph, present in every tenant as in Entra.
    MicrosoftGraph,
    /// An app in this directory exposing an API.
    App(&'a App),
}

impl Resource<'_> {
    /// Whether `identifier` (from an `app_permissions` entry) names this resource.
    pub fn is_named(&self, identifier: &str) -> bool {
        match self {
            Resource::MicrosoftGraph => is_graph(identifier),
            Resource::App(app) => app.is_resource_named(identifier),
        }
    }
}

fn is_graph(identifier: &str) -> bool {
    let identifier = trim_one_slash(identifier);
    identifier.eq_ignore_ascii_case(MICROSOFT_GRAPH_RESOURCE)
        || identifier.eq_ignore_ascii_case(MICROSOFT_GRAPH_APP_ID)
}

/// `https://graph.microsoft.com/` and `https://graph.microsoft.com` name the same resource.
fn trim_one_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

/// Why a directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The file could not be read.
    #[error("cannot read directory file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A problem in a directory file.
    #[error("directory file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        source: Box<DirectoryError>,
    },
    /// The JSON is malformed or does not match the schema.
    #[error("invalid directory JSON at `{field}`: {message}")]
    Json {
        /// Path of the offending field, e.g. `apps[1].kind` (`.` for the top level).
        field: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message, including line and column.
        message: String,
    },
    /// The JSON parsed but the content is inconsistent.
    #[error("invalid directory at `{field}`: {message}")]
    Invalid {
        /// Path of the offending field, e.g. `apps[0].tenant`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl Directory {
    /// The built-in directory: see [`crate::builtin`].
    pub fn builtin() -> Directory {
        crate::builtin::directory()
    }

    /// Parses and validates a directory from JSON.
    pub fn from_json(json: &str) -> Result<Directory, DirectoryError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let directory: Directory =
            serde_path_to_error::deserialize(&mut de).map_err(|e| DirectoryError::Json {
                field: e.path().to_string(),
                line: e.inner().line(),
                column: e.inner().column(),
                message: e.inner().to_string(),
            })?;
        // Reject trailing garbage after the top-level object.
        de.end().map_err(|e| DirectoryError::Json {
            field: ".".into(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        directory.validate()?;
        Ok(directory)
    }

    /// Reads, parses and validates a directory JSON file.
    pub fn load(path: &Path) -> Result<Directory, DirectoryError> {
        let json = std::fs::read_to_string(path).map_err(|source| DirectoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        Directory::from_json(&json).map_err(|e| DirectoryError::File {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// The JSON Schema (draft 2020-12) of the directory's JSON form, from
    /// these types and their documentation: editors validate and complete
    /// config files with it. What it cannot say (references between
    /// entries, GUID and host syntax) [`Directory::validate`] checks.
    pub fn json_schema() -> serde_json::Value {
        let generated = schemars::schema_for!(Directory).to_value();
        let serde_json::Value::Object(mut generated) = generated else {
            return generated;
        };
        // The identifying members first, as readers expect them.
        let mut schema = serde_json::Map::new();
        for key in ["$schema", "$id", "title", "description"] {
            if let Some(value) = generated.remove(key) {
                schema.insert(key.into(), value);
            }
            if key == "$schema" {
                schema.insert("$id".into(), serde_json::Value::String(SCHEMA_ID.into()));
            }
        }
        schema.extend(generated);
        // `tenants` has a serde default (so the parser's error can say what
        // is missing) but no file is valid without it.
        schema.insert("required".into(), serde_json::json!(["tenants"]));
        if let Some(tenants) = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut("tenants"))
            .and_then(serde_json::Value::as_object_mut)
        {
            tenants.remove("default");
        }
        serde_json::Value::Object(schema)
    }

    /// The directory as pretty-printed JSON (the format [`Directory::from_json`] reads).
    pub fn to_json_pretty(&self) -> String {
        // Plain structs with string keys: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks ids, references and uniqueness; [`crate::Emulator::start`] calls it too.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        if self.tenants.is_empty() {
            return Err(invalid(
                "tenants",
                "a directory needs at least one tenant (see `msal emulator defaults` for a starting point)",
            ));
        }
        if self.token_lifetime_secs == 0 || self.token_lifetime_secs > MAX_TOKEN_LIFETIME_SECS {
            return Err(invalid(
                "token_lifetime_secs",
                format!(
                    "must be between 1 and {MAX_TOKEN_LIFETIME_SECS}, got {}",
                    self.token_lifetime_secs
                ),
            ));
        }
        self.validate_identity_providers()?;
        self.validate_tenants()?;
        self.validate_adfs()?;
        self.validate_hosts()?;
        self.validate_apps()?;
        self.validate_users()?;
        self.validate_managed_identities()
    }

    fn validate_identity_providers(&self) -> Result<(), DirectoryError> {
        let mut names = HashSet::new();
        for (i, idp) in self.identity_providers.iter().enumerate() {
            let at = |f: &str| format!("identity_providers[{i}].{f}");
            if idp.name.trim().is_empty() || idp.name.contains(char::is_whitespace) {
                return Err(invalid(at("name"), format!("'{}' is not a valid name", idp.name)));
            }
            if !names.insert(idp.name.to_ascii_lowercase()) {
                return Err(invalid(
                    at("name"),
                    format!("duplicate identity provider '{}'", idp.name),
                ));
            }
            check_host(&at("host"), &idp.host)?;
            if idp.idp.trim().is_empty() {
                return Err(invalid(at("idp"), "must not be empty"));
            }
        }
        Ok(())
    }

    /// The kind-specific rules: the consumers tenant's fixed id, B2C and
    /// CIAM names that make host names, B2C policies and providers.
    fn validate_tenant_kind(&self, i: usize, t: &Tenant) -> Result<(), DirectoryError> {
        let at = |f: &str| format!("tenants[{i}].{f}");
        let is_consumers_id = t.id.eq_ignore_ascii_case(CONSUMERS_TENANT_ID);
        match t.kind {
            TenantKind::Consumers if !is_consumers_id => {
                return Err(invalid(
                    at("id"),
                    format!(
                        "the consumers tenant's id is {CONSUMERS_TENANT_ID}, not '{}'",
                        t.id
                    ),
                ));
            }
            TenantKind::Entra | TenantKind::B2c | TenantKind::Ciam if is_consumers_id => {
                return Err(invalid(
                    at("kind"),
                    format!(
                        "{CONSUMERS_TENANT_ID} is the personal accounts' tenant: its kind is \"consumers\""
                    ),
                ));
            }
            TenantKind::B2c | TenantKind::Ciam if !is_dns_label(&t.name) => {
                return Err(invalid(
                    at("name"),
                    format!(
                        "'{}' must be a DNS label (lowercase letters, digits, '-'): it names the tenant's host",
                        t.name
                    ),
                ));
            }
            _ => {}
        }
        if t.kind == TenantKind::B2c {
            if t.policies.is_empty() {
                return Err(invalid(
                    at("policies"),
                    "a B2C tenant needs at least one user flow",
                ));
            }
            let mut seen = HashSet::new();
            for (j, p) in t.policies.iter().enumerate() {
                let well_formed = !p.is_empty()
                    && p.len() <= 128
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
                if !well_formed {
                    return Err(invalid(
                        at(&format!("policies[{j}]")),
                        format!("'{p}' is not a valid policy name"),
                    ));
                }
                if !seen.insert(p.to_ascii_lowercase()) {
                    return Err(invalid(
                        at(&format!("policies[{j}]")),
                        format!("duplicate policy '{p}'"),
                    ));
                }
            }
            for (j, name) in t.identity_providers.iter().enumerate() {
                if self.identity_provider(name).is_none() {
                    return Err(invalid(
                        at(&format!("identity_providers[{j}]")),
                        format!("no identity provider named '{name}'"),
                    ));
                }
            }
        } else if !t.policies.is_empty() {
            return Err(invalid(at("policies"), "only B2C tenants have user flows"));
        } else if !t.identity_providers.is_empty() {
            return Err(invalid(
                at("identity_providers"),
                "only B2C tenants offer identity providers",
            ));
        }
        Ok(())
    }

    fn validate_adfs(&self) -> Result<(), DirectoryError> {
        for (i, server) in self.adfs.iter().enumerate() {
            check_host(&format!("adfs[{i}].host"), &server.host)?;
            match self.tenant(&server.tenant) {
                Some(t) if t.kind == TenantKind::Entra => {}
                Some(_) => {
                    return Err(invalid(
                        format!("adfs[{i}].tenant"),
                        format!("'{}' is not a workforce (Entra ID) tenant", server.tenant),
                    ));
                }
                None => {
                    return Err(invalid(
                        format!("adfs[{i}].tenant"),
                        format!("no tenant named '{}'", server.tenant),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every host the directory adds must be new: not a cloud's, not
    /// loopback, not another tenant's or server's.
    fn validate_hosts(&self) -> Result<(), DirectoryError> {
        let mut hosts: HashSet<String> = crate::site::FIXED_HOSTS.iter().map(|h| (*h).to_owned()).collect();
        let tenants = self.tenants.iter().enumerate().flat_map(|(i, t)| {
            let id_host =
                (t.kind == TenantKind::Ciam).then(|| format!("{}.ciamlogin.com", t.id.to_ascii_lowercase()));
            t.login_host()
                .into_iter()
                .chain(id_host)
                .map(move |h| (format!("tenants[{i}].name"), h))
        });
        let servers = self
            .adfs
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("adfs[{i}].host"), s.host.to_ascii_lowercase()));
        let providers = self.identity_providers.iter().enumerate().map(|(i, p)| {
            (
                format!("identity_providers[{i}].host"),
                p.host.to_ascii_lowercase(),
            )
        });
        for (field, host) in tenants.chain(servers).chain(providers) {
            if crate::regional::region_of(&host).is_some() || !hosts.insert(host.clone()) {
                return Err(invalid(field, format!("the host '{host}' is already served")));
            }
        }
        Ok(())
    }

    fn validate_managed_identities(&self) -> Result<(), DirectoryError> {
        // An identity's ids select it in requests: each must select one.
        let mut client_ids: HashSet<String> = self
            .apps
            .iter()
            .map(|a| a.client_id.to_ascii_lowercase())
            .collect();
        let mut object_ids: HashSet<String> = self
            .users
            .iter()
            .map(|u| u.object_id.to_ascii_lowercase())
            .collect();
        let mut resource_ids = HashSet::new();
        let mut system_assigned = None;
        for (i, mi) in self.managed_identities.iter().enumerate() {
            let at = |f: &str| format!("managed_identities[{i}].{f}");
            if mi.name.trim().is_empty() {
                return Err(invalid(at("name"), "must not be empty"));
            }
            check_guid(&at("client_id"), &mi.client_id)?;
            if !client_ids.insert(mi.client_id.to_ascii_lowercase()) {
                return Err(invalid(
                    at("client_id"),
                    format!(
                        "'{}' is already the client id of an app or identity",
                        mi.client_id
                    ),
                ));
            }
            check_guid(&at("object_id"), &mi.object_id)?;
            if !object_ids.insert(mi.object_id.to_ascii_lowercase()) {
                return Err(invalid(
                    at("object_id"),
                    format!(
                        "'{}' is already the object id of a user or identity",
                        mi.object_id
                    ),
                ));
            }
            check_resource_id(&at("resource_id"), mi)?;
            if !resource_ids.insert(mi.resource_id.to_ascii_lowercase()) {
                return Err(invalid(at("resource_id"), "duplicate resource id"));
            }
            if self.tenant(&mi.tenant).is_none() {
                return Err(invalid(at("tenant"), format!("no tenant named '{}'", mi.tenant)));
            }
            if !mi.user_assigned {
                if let Some(first) = system_assigned {
                    return Err(invalid(
                        at("user_assigned"),
                        format!(
                            "managed_identities[{first}] is already the system-assigned identity; \
                             a host has at most one"
                        ),
                    ));
                }
                system_assigned = Some(i);
            }
        }
        Ok(())
    }

    fn validate_tenants(&self) -> Result<(), DirectoryError> {
        // Every name, domain and id must identify exactly one tenant.
        let mut keys = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            check_guid(&format!("tenants[{i}].id"), &t.id)?;
            if t.name.trim().is_empty() {
                return Err(invalid(format!("tenants[{i}].name"), "must not be empty"));
            }
            let names = std::iter::once((format!("tenants[{i}].id"), &t.id))
                .chain(std::iter::once((format!("tenants[{i}].name"), &t.name)))
                .chain(
                    t.domains
                        .iter()
                        .enumerate()
                        .map(|(j, d)| (format!("tenants[{i}].domains[{j}]"), d)),
                );
            for (field, key) in names {
                let lower = key.to_ascii_lowercase();
                if RESERVED_TENANT_SEGMENTS.contains(&lower.as_str()) {
                    return Err(invalid(field, format!("'{key}' is reserved by Entra")));
                }
                if lower.contains('/') || lower.trim().is_empty() {
                    return Err(invalid(field, format!("'{key}' is not a valid tenant name")));
                }
                if !keys.insert(lower) {
                    return Err(invalid(field, format!("'{key}' already names another tenant")));
                }
            }
            self.validate_tenant_kind(i, t)?;
            if t.kind == TenantKind::Consumers
                && let Some(first) = self.tenants[..i]
                    .iter()
                    .position(|o| o.kind == TenantKind::Consumers)
            {
                return Err(invalid(
                    format!("tenants[{i}].kind"),
                    format!("tenants[{first}] is already the consumers tenant"),
                ));
            }
            // Federation is a property of a verified domain, as in Entra.
            for (j, d) in t.federated_domains.iter().enumerate() {
                if !t.domains.iter().any(|x| x.eq_ignore_ascii_case(d)) {
                    return Err(invalid(
                        format!("tenants[{i}].federated_domains[{j}]"),
                        format!("'{d}' is not one of the tenant's domains"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_apps(&self) -> Result<(), DirectoryError> {
        let mut client_ids = HashSet::new();
        let mut uris = HashSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            let at = |f: &str| format!("apps[{i}].{f}");
            check_guid(&at("client_id"), &app.client_id)?;
            if !client_ids.insert(app.client_id.to_ascii_lowercase()) {
                return Err(invalid(at("client_id"), "duplicate client id"));
            }
            match self.tenant(&app.tenant) {
                None => return Err(invalid(at("tenant"), format!("no tenant named '{}'", app.tenant))),
                // Apps for personal accounts live in an organisation's tenant.
                Some(t) if t.kind == TenantKind::Consumers => {
                    return Err(invalid(
                        at("tenant"),
                        "apps are registered in an organisation's tenant; set personal_accounts to let personal accounts in",
                    ));
                }
                Some(_) => {}
            }
            // MSAL shares family refresh tokens only between public client
            // apps; a confidential family app would let a secret-less
            // client mint tokens for a confidential one.
            if app.family && app.kind != AppKind::Public {
                return Err(invalid(at("family"), "only public clients can be in the family"));
            }
            for (j, t) in app.provisioned_in.iter().enumerate() {
                if self.tenant(t).is_none() {
                    return Err(invalid(
                        at(&format!("provisioned_in[{j}]")),
                        format!("no tenant named '{t}'"),
                    ));
                }
            }
            if app.kind == AppKind::Public && !app.secrets.is_empty() {
                return Err(invalid(at("secrets"), "a public client has no secrets"));
            }
            if let Some(j) = app.secrets.iter().position(|s| s.is_empty()) {
                return Err(invalid(at(&format!("secrets[{j}]")), "must not be empty"));
            }
            if app.kind == AppKind::Public
                && !(app.certificates.is_empty() && app.trusted_certificate_issuers.is_empty())
            {
                return Err(invalid(at("certificates"), "a public client has no certificates"));
            }
            for (field, pems) in [
                ("certificates", &app.certificates),
                ("trusted_certificate_issuers", &app.trusted_certificate_issuers),
            ] {
                for (j, pem) in pems.iter().enumerate() {
                    crate::token::assertion::parse_certificate_pem(pem)
                        .map_err(|message| invalid(at(&format!("{field}[{j}]")), message))?;
                }
            }
            if let Some(v) = app.access_token_version
                && v != 1
                && v != 2
            {
                return Err(invalid(
                    at("access_token_version"),
                    format!("must be 1 or 2 (Entra's accessTokenAcceptedVersion), got {v}"),
                ));
            }
            for (j, uri) in app.redirect_uris.iter().enumerate() {
                check_redirect_uri(&at(&format!("redirect_uris[{j}]")), uri)?;
            }
            let mut scopes = HashSet::new();
            for (j, scope) in app.scopes.iter().enumerate() {
                let field = at(&format!("scopes[{j}]"));
                if scope.is_empty() || scope.contains(char::is_whitespace) || scope.contains('/') {
                    return Err(invalid(field, format!("'{scope}' is not a valid scope value")));
                }
                if scope.eq_ignore_ascii_case(".default") {
                    return Err(invalid(field, "'.default' is reserved by Entra"));
                }
                if !scopes.insert(scope.to_ascii_lowercase()) {
                    return Err(invalid(field, format!("duplicate scope '{scope}'")));
                }
            }
            for (j, uri) in app.identifier_uris.iter().enumerate() {
                if is_graph(uri) || !uris.insert(trim_one_slash(uri).to_ascii_lowercase()) {
                    return Err(invalid(
                        at(&format!("identifier_uris[{j}]")),
                        format!("'{uri}' is already used by another app"),
                    ));
                }
            }
        }
        // Grants are checked once every app is known, so order does not matter.
        for (i, app) in self.apps.iter().enumerate() {
            for (j, grant) in app.app_permissions.iter().enumerate() {
                let field = format!("apps[{i}].app_permissions[{j}]");
                match self.resource_named(&grant.resource) {
                    None => {
                        return Err(invalid(
                            format!("{field}.resource"),
                            format!("no resource named '{}'", grant.resource),
                        ));
                    }
                    Some(Resource::App(resource)) => {
                        if let Some(role) = grant
                            .roles
                            .iter()
                            .find(|r| !resource.app_roles.iter().any(|x| x == *r))
                        {
                            return Err(invalid(
                                format!("{field}.roles"),
                                format!("app '{}' exposes no app role '{role}'", resource.client_id),
                            ));
                        }
                    }
                    // Graph's role catalogue is not modelled: any role can be granted.
                    Some(Resource::MicrosoftGraph) => {}
                }
            }
        }
        Ok(())
    }

    fn validate_users(&self) -> Result<(), DirectoryError> {
        let mut upns = HashSet::new();
        let mut oids = HashSet::new();
        for (i, user) in self.users.iter().enumerate() {
            let at = |f: &str| format!("users[{i}].{f}");
            if !user.upn.contains('@') {
                return Err(invalid(
                    at("upn"),
                    format!("'{}' is not a user principal name (name@domain)", user.upn),
                ));
            }
            if !upns.insert(user.upn.to_ascii_lowercase()) {
                return Err(invalid(at("upn"), "duplicate user principal name"));
            }
            check_guid(&at("object_id"), &user.object_id)?;
            if !oids.insert(user.object_id.to_ascii_lowercase()) {
                return Err(invalid(at("object_id"), "duplicate object id"));
            }
            let Some(tenant) = self.tenant(&user.tenant) else {
                return Err(invalid(
                    at("tenant"),
                    format!("no tenant named '{}'", user.tenant),
                ));
            };
            // A workforce user's UPN suffix is a verified domain of their
            // tenant (or its initial `{name}.onmicrosoft.com`), as Entra
            // requires; B2C, CIAM and personal accounts sign in with any email.
            let domain = user.upn.rsplit_once('@').map_or("", |(_, d)| d);
            let initial = format!("{}.onmicrosoft.com", tenant.name);
            let verified = tenant.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
                || initial.eq_ignore_ascii_case(domain);
            if tenant.kind == TenantKind::Entra && !verified {
                let mut domains = tenant.domains.clone();
                if !domains.iter().any(|d| d.eq_ignore_ascii_case(&initial)) {
                    domains.push(initial);
                }
                return Err(invalid(
                    at("upn"),
                    format!(
                        "the domain '{domain}' of '{}' is not a domain of its tenant '{}' ({})",
                        user.upn,
                        user.tenant,
                        domains.join(", ")
                    ),
                ));
            }
            if let Some(idp) = &user.identity_provider
                && !tenant
                    .identity_providers
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(idp))
            {
                return Err(invalid(
                    at("identity_provider"),
                    format!(
                        "the user's tenant '{}' offers no identity provider named '{idp}'",
                        user.tenant
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The tenant named `key`: its GUID, name or one of its domains (any case).
    pub fn tenant(&self, key: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.is_named(key))
    }

    /// The personal Microsoft accounts' tenant, if the directory has one.
    pub fn consumers_tenant(&self) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.kind == TenantKind::Consumers)
    }

    /// The external identity provider named `name` (any case).
    pub fn identity_provider(&self, name: &str) -> Option<&IdentityProvider> {
        self.identity_providers
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The app with this client id (any case).
    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The user with this user principal name (any case).
    pub fn user(&self, upn: &str) -> Option<&User> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    /// The tenant that verified `domain` (any case), if any.
    pub fn tenant_of_domain(&self, domain: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
    }

    /// Whether the user signs in through federation: the domain of their
    /// UPN is federated in their home tenant.
    pub fn is_federated(&self, user: &User) -> bool {
        let Some((_, domain)) = user.upn.rsplit_once('@') else {
            return false;
        };
        self.tenant(&user.tenant)
            .is_some_and(|t| t.is_federated_domain(domain))
    }

    /// The system-assigned managed identity, if the directory has one.
    pub fn system_assigned_identity(&self) -> Option<&ManagedIdentity> {
        self.managed_identities.iter().find(|m| !m.user_assigned)
    }

    /// The managed identity with this client id (any case).
    pub fn managed_identity_by_client_id(&self, client_id: &str) -> Option<&ManagedIdentity> {
        self.managed_identities
            .iter()
            .find(|m| m.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The managed identity with this object (principal) id (any case).
    pub fn managed_identity_by_object_id(&self, object_id: &str) -> Option<&ManagedIdentity> {
        self.managed_identities
            .iter()
            .find(|m| m.object_id.eq_ignore_ascii_case(object_id))
    }

    /// The managed identity with this Azure resource id (any case, as
    /// Azure compares them).
    pub fn managed_identity_by_resource_id(&self, resource_id: &str) -> Option<&ManagedIdentity> {
        self.managed_identities
            .iter()
            .find(|m| m.resource_id.eq_ignore_ascii_case(resource_id))
    }

    /// The resource named by an application ID URI or client id, in any tenant.
    pub fn resource_named(&self, identifier: &str) -> Option<Resource<'_>> {
        if is_graph(identifier) {
            return Some(Resource::MicrosoftGraph);
        }
        self.apps
            .iter()
            .find(|a| a.is_resource_named(identifier))
            .map(Resource::App)
    }
}

/// Entra's rules for a redirect URI: absolute, no fragment, and `https`
/// unless it is a loopback `http` URI.
fn check_redirect_uri(field: &str, value: &str) -> Result<(), DirectoryError> {
    let url = url::Url::parse(value)
        .map_err(|e| invalid(field, format!("'{value}' is not an absolute URI: {e}")))?;
    if url.fragment().is_some() {
        return Err(invalid(field, format!("'{value}' must not have a fragment")));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(invalid(
            field,
            format!("'{value}': plain http is only allowed for localhost and 127.0.0.1"),
        )),
        // Custom schemes (`msal{client_id}://auth`) are how mobile apps register.
        _ if url.cannot_be_a_base() => Err(invalid(field, format!("'{value}' is not a redirect URI"))),
        _ => Ok(()),
    }
}

/// Whether `url` points at the loopback interface (`localhost`, `127.0.0.1`, `[::1]`).
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A managed identity's resource id: `/subscriptions/<guid>/resourcegroups/<rg>/providers/...`,
/// the user-assigned identity provider for (only) user-assigned ones.
fn check_resource_id(field: &str, mi: &ManagedIdentity) -> Result<(), DirectoryError> {
    let id = &mi.resource_id;
    let lower = id.to_ascii_lowercase();
    let segments: Vec<&str> = lower.split('/').collect();
    let well_formed = segments.len() >= 9
        && segments[0].is_empty()
        && segments[1] == "subscriptions"
        && uuid::Uuid::try_parse(segments[2]).is_ok()
        && segments[3] == "resourcegroups"
        && !segments[4].is_empty()
        && segments[5] == "providers"
        && segments.iter().all(|s| !s.contains(char::is_whitespace))
        && segments[1..].iter().all(|s| !s.is_empty());
    if !well_formed {
        return Err(invalid(
            field,
            format!(
                "'{id}' is not an Azure resource id (/subscriptions/<guid>/resourcegroups/<group>/providers/...)"
            ),
        ));
    }
    if mi.user_assigned != lower.contains(USER_ASSIGNED_PROVIDER) {
        let wanted = if mi.user_assigned {
            "a user-assigned identity's resource id names Microsoft.ManagedIdentity/userAssignedIdentities"
        } else {
            "a system-assigned identity's resource id is its host's, not a Microsoft.ManagedIdentity one"
        };
        return Err(invalid(field, format!("'{id}': {wanted}")));
    }
    Ok(())
}

/// Whether `name` is one DNS label as B2C and CIAM tenant names are.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A host name the emulator can serve and name in its certificate.
fn check_host(field: &str, host: &str) -> Result<(), DirectoryError> {
    let well_formed = host.len() <= 253 && host.contains('.') && host.split('.').all(is_dns_label);
    if well_formed {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("'{host}' is not a lowercase DNS host name (labels of letters, digits and '-')"),
        ))
    }
}

fn check_guid(field: &str, value: &str) -> Result<(), DirectoryError> {
    uuid::Uuid::try_parse(value)
        .map(|_| ())
        .map_err(|_| invalid(field, format!("'{value}' is not a GUID")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_is_valid_and_round_trips() {
        let dir = Directory::builtin();
        dir.validate().unwrap();
        let json = dir.to_json_pretty();
        assert_eq!(Directory::from_json(&json).unwrap(), dir);
    }

    #[test]
    fn minimal_config_uses_defaults() {
        let json = r#"{
          "tenants": [{"id": "6a5c1925-7e6f-4058-b305-d3d1a0aea11c", "name": "tiny"}],
          "apps": [{"client_id": "0cc28077-b601-4ac0-b90a-0248da2c1127", "tenant": "tiny",
                    "secrets": ["s3cret"],
                    "app_permissions": [{"resource": "https://graph.microsoft.com", "roles": ["User.Read.All"]}]}]
        }"#;
        let dir = Directory::from_json(json).unwrap();
        assert_eq!(dir.token_lifetime_secs, 3599);
        assert_eq!(dir.apps[0].kind, AppKind::Confidential);
        assert!(!dir.apps[0].multi_tenant);
        assert!(dir.users.is_empty());
        assert_eq!(
            dir.tenant("TINY").map(|t| t.id.as_str()),
            Some(dir.tenants[0].id.as_str())
        );
    }

    #[test]
    fn lookups_by_name_domain_and_guid() {
        let dir = Directory::builtin();
        let by_guid = dir.tenant(crate::builtin::CONTOSO_TENANT_ID).unwrap();
        assert_eq!(dir.tenant("Contoso"), Some(by_guid));
        assert_eq!(dir.tenant("CONTOSO.onmicrosoft.com"), Some(by_guid));
        assert!(dir.tenant("nope").is_none());
        assert_eq!(
            dir.resource_named("https://graph.microsoft.com/"),
            Some(Resource::MicrosoftGraph)
        );
    }

    #[test]
    fn federation_and_provisioning() {
        use crate::builtin::*;
        let dir = Directory::builtin();
        let dave = dir.user(DAVE_UPN).unwrap();
        assert!(dir.is_federated(dave));
        assert!(!dir.is_federated(dir.user(ALICE_UPN).unwrap()));
        let woodgrove = dir.tenant_of_domain("WOODGROVE.com").unwrap();
        assert_eq!(woodgrove.id, WOODGROVE_TENANT_ID);
        assert!(dir.tenant_of_domain(WOODGROVE_TENANT_NAME).is_none());
        let public = dir.app(PUBLIC_CLIENT_ID).unwrap();
        assert!(public.usable_in(woodgrove));
        assert!(!public.usable_in(dir.tenant(FABRIKAM_TENANT_NAME).unwrap()));
    }

    #[test]
    fn type_error_names_field_and_line() {
        let json = "{\n  \"tenants\": [],\n  \"apps\": [\n    {\"client_id\": \"x\", \"tenant\": \"t\", \"kind\": \"daemon\"}\n  ]\n}";
        match Directory::from_json(json) {
            Err(DirectoryError::Json {
                field, line, message, ..
            }) => {
                assert_eq!(field, "apps[0].kind");
                assert_eq!(line, 4);
                assert!(message.contains("unknown variant `daemon`"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_field_and_typo_are_reported() {
        let missing = r#"{"tenants": [{"name": "x"}]}"#;
        let err = Directory::from_json(missing).unwrap_err().to_string();
        assert!(
            err.contains("tenants[0]") && err.contains("missing field `id`"),
            "{err}"
        );

        let typo = r#"{"tenants": [], "app": []}"#;
        let err = Directory::from_json(typo).unwrap_err().to_string();
        assert!(err.contains("unknown field `app`"), "{err}");

        let syntax = "{\"tenants\": [\n}";
        match Directory::from_json(syntax) {
            Err(DirectoryError::Json { line, .. }) => assert_eq!(line, 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn inconsistent_content_is_reported() {
        let mut dir = Directory::builtin();
        dir.apps[0].tenant = "nowhere".into();
        let err = dir.validate().unwrap_err().to_string();
        assert!(err.contains("apps[0].tenant") && err.contains("nowhere"), "{err}");

        let mut dir = Directory::builtin();
        dir.tenants[1].domains.push("contoso.onmicrosoft.com".into());
        let err = dir.validate().unwrap_err().to_string();
        assert!(err.contains("already names another tenant"), "{err}");

        let mut dir = Directory::builtin();
        dir.apps[0].redirect_uris.push("http://example.com/cb".into());
        let err = dir.validate().unwrap_err().to_string();
        assert!(
            err.contains("apps[0].redirect_uris[0]") && err.contains("plain http"),
            "{err}"
        );

        let mut dir = Directory::builtin();
        dir.apps[0].scopes = vec!["A".into(), "a".into()];
        let err = dir.validate().unwrap_err().to_string();
        assert!(
            err.contains("apps[0].scopes[1]") && err.contains("duplicate"),
            "{err}"
        );

        // apps[0] is the confidential daemon: it cannot join the family.
        let mut dir = Directory::builtin();
        dir.apps[0].family = true;
        let err = dir.validate().unwrap_err().to_string();
        assert!(err.contains("apps[0].family") && err.contains("public"), "{err}");

        let mut dir = Directory::builtin();
        dir.tenants[0].federated_domains.push("elsewhere.com".into());
        let err = dir.validate().unwrap_err().to_string();
        assert!(err.contains("tenants[0].federated_domains[0]"), "{err}");

        let mut dir = Directory::builtin();
        dir.apps[0].provisioned_in.push("nowhere".into());
        let err = dir.validate().unwrap_err().to_string();
        assert!(err.contains("apps[0].provisioned_in[0]"), "{err}");

        let mut dir = Directory::builtin();
        dir.users[0].object_id = "not-a-guid".into();
        let err = dir.validate().unwrap_err().to_string();
        assert!(err.contains("users[0].object_id"), "{err}");
    }

    #[test]
    fn managed_identities_are_validated_and_found() {
        use crate::builtin::*;
        let dir = Directory::builtin();
        assert_eq!(
            dir.system_assigned_identity().map(|m| m.client_id.as_str()),
            Some(MI_SYSTEM_ASSIGNED_CLIENT_ID)
        );
        let ua = dir
            .managed_identity_by_resource_id(&MI_USER_ASSIGNED_RESOURCE_ID.to_ascii_uppercase())
            .unwrap();
        assert_eq!(ua.client_id, MI_USER_ASSIGNED_CLIENT_ID);
        assert_eq!(
            dir.managed_identity_by_object_id(MI_USER_ASSIGNED_OBJECT_ID),
            Some(ua)
        );
        assert!(dir.resource_named(ARM_RESOURCE).is_some());
        assert!(dir.resource_named("https://management.azure.com").is_some());
        assert!(dir.resource_named("https://vault.azure.net/").is_some());

        let broken = |edit: &dyn Fn(&mut Directory)| {
            let mut dir = Directory::builtin();
            edit(&mut dir);
            dir.validate().unwrap_err().to_string()
        };
        let err = broken(&|d| d.managed_identities[1].user_assigned = false);
        assert!(err.contains("managed_identities[1]"), "{err}");
        let err = broken(&|d| {
            let mut second = d.managed_identities[0].clone();
            second.client_id = "0b6f0f7e-2b7a-4d43-9d55-2f5f3f6f1e01".into();
            second.object_id = "0b6f0f7e-2b7a-4d43-9d55-2f5f3f6f1e02".into();
            second.resource_id = second.resource_id.replace("contoso-vm", "other-vm");
            d.managed_identities.push(second);
        });
        assert!(
            err.contains("managed_identities[3].user_assigned") && err.contains("at most one"),
            "{err}"
        );
        let err = broken(&|d| d.managed_identities[2].client_id = MI_USER_ASSIGNED_CLIENT_ID.into());
        assert!(err.contains("managed_identities[2].client_id"), "{err}");
        let err = broken(&|d| d.managed_identities[2].client_id = DAEMON_CLIENT_ID.into());
        assert!(err.contains("managed_identities[2].client_id"), "{err}");
        let err = broken(&|d| d.managed_identities[0].object_id = "nope".into());
        assert!(err.contains("managed_identities[0].object_id"), "{err}");
        let err = broken(&|d| d.managed_identities[0].tenant = "nowhere".into());
        assert!(err.contains("managed_identities[0].tenant"), "{err}");
        let err = broken(&|d| d.managed_identities[1].resource_id = "/subscriptions/x/y".into());
        assert!(err.contains("managed_identities[1].resource_id"), "{err}");
        let err = broken(&|d| d.managed_identities[1].resource_id = MI_SYSTEM_ASSIGNED_RESOURCE_ID.into());
        assert!(err.contains("userAssignedIdentities"), "{err}");
        let err =
            broken(&|d| d.managed_identities[2].resource_id = MI_USER_ASSIGNED_RESOURCE_ID.to_uppercase());
        assert!(err.contains("managed_identities[2].resource_id"), "{err}");

        // Optional in the JSON form.
        let json = r#"{"tenants": [{"id": "6a5c1925-7e6f-4058-b305-d3d1a0aea11c", "name": "tiny"}]}"#;
        assert!(Directory::from_json(json).unwrap().managed_identities.is_empty());
    }

    #[test]
    fn authority_kinds_are_validated() {
        use crate::builtin::*;
        let dir = Directory::builtin();
        assert_eq!(
            dir.consumers_tenant().map(|t| t.id.as_str()),
            Some(CONSUMERS_TENANT_ID)
        );
        let b2c = dir.tenant(B2C_DOMAIN).unwrap();
        assert_eq!(b2c.policy("b2c_1_SIGNUPSIGNIN"), Some(B2C_SIGNUP_SIGNIN_POLICY));
        assert_eq!(b2c.login_host().as_deref(), Some(B2C_HOST));
        assert!(
            dir.app(PUBLIC_CLIENT_ID)
                .unwrap()
                .usable_in(dir.consumers_tenant().unwrap())
        );
        assert!(
            !dir.app(DAEMON_CLIENT_ID)
                .unwrap()
                .usable_in(dir.consumers_tenant().unwrap())
        );

        let broken = |edit: &dyn Fn(&mut Directory)| {
            let mut dir = Directory::builtin();
            edit(&mut dir);
            dir.validate().unwrap_err().to_string()
        };
        let at = |name: &str| dir.tenants.iter().position(|t| t.name == name).unwrap();
        let (msa, b2c, ciam) = (
            at(CONSUMERS_TENANT_NAME),
            at(B2C_TENANT_NAME),
            at(CIAM_TENANT_NAME),
        );
        let err = broken(&|d| d.tenants[msa].id = "6a5c1925-7e6f-4058-b305-d3d1a0aea11c".into());
        assert!(
            err.contains(&format!("tenants[{msa}].id")) && err.contains(CONSUMERS_TENANT_ID),
            "{err}"
        );
        let err = broken(&|d| d.tenants[0].id = CONSUMERS_TENANT_ID.into());
        assert!(err.contains("tenants[0].kind"), "{err}");
        let err = broken(&|d| d.tenants[b2c].policies.clear());
        assert!(err.contains(&format!("tenants[{b2c}].policies")), "{err}");
        let err = broken(&|d| d.tenants[b2c].policies.push("b2c_1_SignUpSignIn".into()));
        assert!(err.contains("duplicate policy"), "{err}");
        let err = broken(&|d| d.tenants[b2c].policies.push("a/b".into()));
        assert!(err.contains("not a valid policy name"), "{err}");
        let err = broken(&|d| d.tenants[b2c].identity_providers.push("nope".into()));
        assert!(err.contains("no identity provider named 'nope'"), "{err}");
        let err = broken(&|d| d.tenants[ciam].name = "Not A Label".into());
        assert!(
            err.contains(&format!("tenants[{ciam}].name")) && err.contains("DNS label"),
            "{err}"
        );
        let err = broken(&|d| d.tenants[0].policies.push("B2C_1_x".into()));
        assert!(err.contains("only B2C tenants"), "{err}");
        let err = broken(&|d| d.adfs[0].host = "login.microsoftonline.com".into());
        assert!(
            err.contains("adfs[0].host") && err.contains("already served"),
            "{err}"
        );
        let err = broken(&|d| d.adfs[0].tenant = B2C_TENANT_NAME.into());
        assert!(err.contains("adfs[0].tenant"), "{err}");
        let err = broken(&|d| d.identity_providers[0].host = "Bad Host".into());
        assert!(err.contains("identity_providers[0].host"), "{err}");
        let err = broken(&|d| d.apps[0].tenant = CONSUMERS_TENANT_NAME.into());
        assert!(
            err.contains("apps[0].tenant") && err.contains("personal_accounts"),
            "{err}"
        );
        let err = broken(&|d| d.users[0].identity_provider = Some(SOCIAL_IDP_NAME.into()));
        assert!(err.contains("users[0].identity_provider"), "{err}");

        // Old files (no kinds, no AD FS, no providers) stay valid.
        let json = r#"{"tenants": [{"id": "6a5c1925-7e6f-4058-b305-d3d1a0aea11c", "name": "tiny"}]}"#;
        let old = Directory::from_json(json).unwrap();
        assert_eq!(old.tenants[0].kind, TenantKind::Entra);
        assert!(old.adfs.is_empty() && old.identity_providers.is_empty());
        // An unknown kind names the field.
        let json =
            r#"{"tenants": [{"id": "6a5c1925-7e6f-4058-b305-d3d1a0aea11c", "name": "tiny", "kind": "b2b"}]}"#;
        let err = Directory::from_json(json).unwrap_err().to_string();
        assert!(
            err.contains("tenants[0].kind") && err.contains("unknown variant"),
            "{err}"
        );
    }

    #[test]
    fn empty_directory_and_foreign_upn_domains_are_refused() {
        let err = Directory::from_json("{}").unwrap_err().to_string();
        assert!(
            err.contains("`tenants`") && err.contains("at least one tenant"),
            "{err}"
        );

        let mut dir = Directory::builtin();
        dir.users[0].upn = "alice@fabrikam.onmicrosoft.com".into();
        let err = dir.validate().unwrap_err().to_string();
        assert!(
            err.contains("users[0].upn")
                && err.contains("fabrikam.onmicrosoft.com")
                && err.contains("contoso.onmicrosoft.com"),
            "{err}"
        );
        // The tenant's initial domain needs no listing.
        let json = r#"{"tenants": [{"id": "6a5c1925-7e6f-4058-b305-d3d1a0aea11c", "name": "tiny"}],
            "users": [{"upn": "a@tiny.onmicrosoft.com", "password": "p", "tenant": "tiny",
                       "object_id": "0b6f0f7e-2b7a-4d43-9d55-2f5f3f6f1e01"}]}"#;
        Directory::from_json(json).unwrap();
    }

    #[test]
    fn load_reports_file_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dir.json");
        std::fs::write(&path, "{\"tenants\": 5}").unwrap();
        let err = Directory::load(&path).unwrap_err().to_string();
        assert!(err.contains("dir.json") && err.contains("`tenants`"), "{err}");
        let err = Directory::load(&dir.path().join("absent.json")).unwrap_err();
        assert!(matches!(err, DirectoryError::Io { .. }));
    }
}
