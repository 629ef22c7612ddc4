//! The built-in directory and constants naming everything in it.
//!
//! Tests, docs and `msal emulator defaults` refer to these constants rather
//! than repeating literals. Secrets and passwords are deliberately public:
//! they only unlock this local emulator.

use crate::directory::{AppKind, AppPermission, DEFAULT_TOKEN_LIFETIME_SECS};
use crate::{App, Directory, Tenant, User};

/// Contoso's tenant id.
pub const CONTOSO_TENANT_ID: &str = "5354a335-0783-4fb0-af95-b5e129a79453";
/// Contoso's short tenant name.
pub const CONTOSO_TENANT_NAME: &str = "contoso";
/// Contoso's initial domain.
pub const CONTOSO_DOMAIN: &str = "contoso.onmicrosoft.com";

/// Fabrikam's tenant id.
pub const FABRIKAM_TENANT_ID: &str = "ba9e3359-4cef-4a87-a0b6-63f20aecb495";
/// Fabrikam's short tenant name.
pub const FABRIKAM_TENANT_NAME: &str = "fabrikam";
/// Fabrikam's initial domain.
pub const FABRIKAM_DOMAIN: &str = "fabrikam.onmicrosoft.com";

/// Woodgrove's tenant id. Woodgrove federates `woodgrove.com` to the
/// emulator's federation server (an AD FS look-alike).
pub const WOODGROVE_TENANT_ID: &str = "d00ebf58-c5c0-49a6-a092-cfaafadb62c0";
/// Woodgrove's short tenant name.
pub const WOODGROVE_TENANT_NAME: &str = "woodgrove";
/// Woodgrove's initial (managed) domain.
pub const WOODGROVE_DOMAIN: &str = "woodgrove.onmicrosoft.com";
/// Woodgrove's federated domain: its users sign in with WS-Trust.
pub const WOODGROVE_FEDERATED_DOMAIN: &str = "woodgrove.com";

/// Client id of the confidential daemon app (client credentials) in Contoso.
pub const DAEMON_CLIENT_ID: &str = "b1a998cf-8a00-47db-9aa7-cacc2ba41441";
/// Display name of the daemon app.
pub const DAEMON_DISPLAY_NAME: &str = "Contoso Daemon";
/// The daemon app's client secret.
pub const DAEMON_CLIENT_SECRET: &str = "daemon-secret-Contoso~1";
/// Graph application permissions granted to the daemon app.
pub const DAEMON_GRAPH_ROLES: [&str; 2] = ["User.Read.All", "Group.Read.All"];
/// Roles on the Contoso web API granted to the daemon app.
pub const DAEMON_API_ROLES: [&str; 1] = ["Orders.Read.All"];

/// Client id of the web API app (a resource) in Contoso.
pub const API_CLIENT_ID: &str = "7351786e-0dac-4468-bf34-f1235f4eb15e";
/// Display name of the web API app.
pub const API_DISPLAY_NAME: &str = "Contoso Orders API";
/// Application ID URI of the web API: `api://<API_CLIENT_ID>`.
pub const API_IDENTIFIER_URI: &str = "api://7351786e-0dac-4468-bf34-f1235f4eb15e";
/// App roles the web API exposes.
pub const API_APP_ROLES: [&str; 2] = ["Orders.Read.All", "Orders.ReadWrite.All"];
/// Delegated permissions (scopes) the web API exposes to signed-in users.
pub const API_SCOPES: [&str; 2] = ["Orders.Read", "Orders.ReadWrite"];
/// The web API's client secret (it is confidential, e.g. for on-behalf-of).
pub const API_CLIENT_SECRET: &str = "api-secret-Contoso~2";

/// Client id of the public client app (desktop/CLI) in Contoso.
pub const PUBLIC_CLIENT_ID: &str = "c78dd7b7-8e8b-4105-8d0d-b50d7ea15ccb";
/// Display name of the public client app.
pub const PUBLIC_DISPLAY_NAME: &str = "Contoso Desktop";
/// The public client's redirect URI (loopback: any port matches).
pub const PUBLIC_REDIRECT_URI: &str = "http://localhost";
/// The public client's redirect URIs: `http://localhost` and `http://127.0.0.1`,
/// each matching on any port.
pub const PUBLIC_REDIRECT_URIS: [&str; 2] = [PUBLIC_REDIRECT_URI, "http://127.0.0.1"];

/// Client id of the confidential web app (authorization code) in Contoso.
pub const WEBAPP_CLIENT_ID: &str = "e1e7ed2d-44c1-4c62-af66-0603c75622b8";
/// Display name of the web app.
pub const WEBAPP_DISPLAY_NAME: &str = "Contoso Web";
/// The web app's client secret.
pub const WEBAPP_CLIENT_SECRET: &str = "webapp-secret-Contoso~3";
/// The web app's redirect URI.
pub const WEBAPP_REDIRECT_URI: &str = "http://localhost:8400/redirect";

/// Alice, a Contoso user.
pub const ALICE_UPN: &str = "alice@contoso.onmicrosoft.com";
/// Alice's password.
pub const ALICE_PASSWORD: &str = "Alice-P@ssw0rd";
/// Alice's object id.
pub const ALICE_OBJECT_ID: &str = "8bea7b54-c9d1-4c9b-ad0b-08b39b5f832b";
/// Alice's display name.
pub const ALICE_DISPLAY_NAME: &str = "Alice Smith";

/// Bob, a Contoso user.
pub const BOB_UPN: &str = "bob@contoso.onmicrosoft.com";
/// Bob's password.
pub const BOB_PASSWORD: &str = "Bob-P@ssw0rd";
/// Bob's object id.
pub const BOB_OBJECT_ID: &str = "bcc92377-10a1-4165-92fa-9bd4138fc771";
/// Bob's display name.
pub const BOB_DISPLAY_NAME: &str = "Bob Jones";

/// Carol, a Fabrikam user.
pub const CAROL_UPN: &str = "carol@fabrikam.onmicrosoft.com";
/// Carol's password.
pub const CAROL_PASSWORD: &str = "Carol-P@ssw0rd";
/// Carol's object id.
pub const CAROL_OBJECT_ID: &str = "f44d022c-f69d-407c-8234-a293f512cb3d";
/// Carol's display name.
pub const CAROL_DISPLAY_NAME: &str = "Carol Lee";

/// Dave, a federated Woodgrove user (his password is checked by the
/// federation server, never by the token endpoint).
pub const DAVE_UPN: &str = "dave@woodgrove.com";
/// Dave's password (at the federation server).
pub const DAVE_PASSWORD: &str = "Dave-P@ssw0rd";
/// Dave's object id.
pub const DAVE_OBJECT_ID: &str = "9683c957-04e2-44e3-aa67-e4f09b336236";
/// Dave's display name.
pub const DAVE_DISPLAY_NAME: &str = "Dave Brown";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The built-in directory (also [`Directory::builtin`]).
pub fn directory() -> Directory {
    let tenants = vec![
        Tenant {
            id: CONTOSO_TENANT_ID.into(),
            name: CONTOSO_TENANT_NAME.into(),
            display_name: "Contoso".into(),
            domains: strings(&[CONTOSO_DOMAIN]),
            federated_domains: Vec::new(),
        },
        Tenant {
            id: FABRIKAM_TENANT_ID.into(),
            name: FABRIKAM_TENANT_NAME.into(),
            display_name: "Fabrikam".into(),
            domains: strings(&[FABRIKAM_DOMAIN]),
            federated_domains: Vec::new(),
        },
        Tenant {
            id: WOODGROVE_TENANT_ID.into(),
            name: WOODGROVE_TENANT_NAME.into(),
            display_name: "Woodgrove".into(),
            domains: strings(&[WOODGROVE_DOMAIN, WOODGROVE_FEDERATED_DOMAIN]),
            federated_domains: strings(&[WOODGROVE_FEDERATED_DOMAIN]),
        },
    ];
    let app = |client_id: &str, display_name: &str, kind: AppKind| App {
        client_id: client_id.into(),
        display_name: display_name.into(),
        tenant: CONTOSO_TENANT_NAME.into(),
        kind,
        multi_tenant: false,
        provisioned_in: Vec::new(),
        secrets: Vec::new(),
        redirect_uris: Vec::new(),
        identifier_uris: Vec::new(),
        app_roles: Vec::new(),
        scopes: Vec::new(),
        app_permissions: Vec::new(),
    };
    let apps = vec![
        App {
            secrets: strings(&[DAEMON_CLIENT_SECRET]),
            app_permissions: vec![
                AppPermission {
                    resource: crate::directory::MICROSOFT_GRAPH_RESOURCE.into(),
                    roles: strings(&DAEMON_GRAPH_ROLES),
                },
                AppPermission {
                    resource: API_IDENTIFIER_URI.into(),
                    roles: strings(&DAEMON_API_ROLES),
                },
            ],
            ..app(DAEMON_CLIENT_ID, DAEMON_DISPLAY_NAME, AppKind::Confidential)
        },
        App {
            secrets: strings(&[API_CLIENT_SECRET]),
            identifier_uris: strings(&[API_IDENTIFIER_URI]),
            app_roles: strings(&API_APP_ROLES),
            scopes: strings(&API_SCOPES),
            ..app(API_CLIENT_ID, API_DISPLAY_NAME, AppKind::Confidential)
        },
        App {
            redirect_uris: strings(&PUBLIC_REDIRECT_URIS),
            // Woodgrove's admin consented to it, so Dave can sign in with it.
            provisioned_in: strings(&[WOODGROVE_TENANT_NAME]),
            ..app(PUBLIC_CLIENT_ID, PUBLIC_DISPLAY_NAME, AppKind::Public)
        },
        App {
            secrets: strings(&[WEBAPP_CLIENT_SECRET]),
            redirect_uris: strings(&[WEBAPP_REDIRECT_URI]),
            ..app(WEBAPP_CLIENT_ID, WEBAPP_DISPLAY_NAME, AppKind::Confidential)
        },
    ];
    let user = |upn: &str, password: &str, oid: &str, name: &str, tenant: &str| User {
        upn: upn.into(),
        password: password.into(),
        object_id: oid.into(),
        display_name: name.into(),
        tenant: tenant.into(),
    };
    let users = vec![
        user(
            ALICE_UPN,
            ALICE_PASSWORD,
            ALICE_OBJECT_ID,
            ALICE_DISPLAY_NAME,
            CONTOSO_TENANT_NAME,
        ),
        user(
            BOB_UPN,
            BOB_PASSWORD,
            BOB_OBJECT_ID,
            BOB_DISPLAY_NAME,
            CONTOSO_TENANT_NAME,
        ),
        user(
            CAROL_UPN,
            CAROL_PASSWORD,
            CAROL_OBJECT_ID,
            CAROL_DISPLAY_NAME,
            FABRIKAM_TENANT_NAME,
        ),
        user(
            DAVE_UPN,
            DAVE_PASSWORD,
            DAVE_OBJECT_ID,
            DAVE_DISPLAY_NAME,
            WOODGROVE_TENANT_NAME,
        ),
    ];
    Directory {
        tenants,
        apps,
        users,
        token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
    }
}
