//! The built-in directory and constants naming everything in it.
//!
//! Tests, docs and `msal emulator defaults` refer to these constants rather
//! than repeating literals. Secrets and passwords are deliberately public:
//! they only unlock this local emulator.

use crate::directory::{
    AdfsServer, AppKind, AppPermission, CONSUMERS_TENANT_ID as MSA_TENANT_ID, DEFAULT_TOKEN_LIFETIME_SECS,
    IdentityProvider, ManagedIdentity, TenantKind,
};
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

/// The personal Microsoft accounts' tenant id (Entra's fixed one): tokens
/// of personal accounts carry it as `tid`, whatever authority they used.
pub const CONSUMERS_TENANT_ID: &str = MSA_TENANT_ID;
/// The personal accounts' tenant's short name (`consumers` itself is the
/// reserved authority segment that addresses it).
pub const CONSUMERS_TENANT_NAME: &str = "msa";

/// Erin, a personal Microsoft account (in the consumers tenant).
pub const ERIN_UPN: &str = "erin@outlook.com";
/// Erin's password.
pub const ERIN_PASSWORD: &str = "Erin-P@ssw0rd";
/// Erin's object id (personal accounts' ids start with zeros).
pub const ERIN_OBJECT_ID: &str = "00000000-0000-0000-6a1e-8c5b2e3f4d71";
/// Erin's display name.
pub const ERIN_DISPLAY_NAME: &str = "Erin Davis";

/// The Azure AD B2C tenant's id.
pub const B2C_TENANT_ID: &str = "801812af-dff3-4732-ba0d-afde517efc6a";
/// The B2C tenant's short name: its host is `fabrikamb2c.b2clogin.com`.
pub const B2C_TENANT_NAME: &str = "fabrikamb2c";
/// The B2C tenant's domain, the authority's tenant segment.
pub const B2C_DOMAIN: &str = "fabrikamb2c.onmicrosoft.com";
/// The B2C tenant's host.
pub const B2C_HOST: &str = "fabrikamb2c.b2clogin.com";
/// The B2C sign-up-or-sign-in user flow.
pub const B2C_SIGNUP_SIGNIN_POLICY: &str = "B2C_1_signupsignin";
/// The B2C profile editing user flow.
pub const B2C_PROFILE_EDIT_POLICY: &str = "B2C_1_profileedit";
/// Client id of the B2C tenant's public client (desktop) app.
pub const B2C_CLIENT_ID: &str = "3f612e93-eb33-4451-8565-ca19cdfe77aa";
/// Display name of the B2C public client app.
pub const B2C_CLIENT_DISPLAY_NAME: &str = "Fabrikam B2C Desktop";
/// Client id of the B2C tenant's web API.
pub const B2C_API_CLIENT_ID: &str = "66d959de-6585-4a68-9a8a-4d4b25451f7b";
/// The B2C web API's application ID URI.
pub const B2C_API_IDENTIFIER_URI: &str = "https://fabrikamb2c.onmicrosoft.com/api";
/// The scopes the B2C web API exposes.
pub const B2C_API_SCOPES: [&str; 2] = ["demo.read", "demo.write"];

/// Emma, a B2C local account (email and password on the B2C page).
pub const EMMA_EMAIL: &str = "emma@example.com";
/// Emma's password.
pub const EMMA_PASSWORD: &str = "Emma-P@ssw0rd";
/// Emma's object id.
pub const EMMA_OBJECT_ID: &str = "9399b9f5-7bf9-4907-87d9-454fde5f9e76";
/// Emma's display name.
pub const EMMA_DISPLAY_NAME: &str = "Emma Wilson";

/// The emulated social identity provider's name (B2C tenants list it).
pub const SOCIAL_IDP_NAME: &str = "social";
/// Its sign-in page's host.
pub const SOCIAL_HOST: &str = "social.emulator.test";
/// The `idp` claim of B2C tokens for its users.
pub const SOCIAL_IDP: &str = "social.emulator.test";
/// The text of its button on the B2C sign-in page.
pub const SOCIAL_DISPLAY_NAME: &str = "Emulated Social";

/// Frank, a B2C user who signs in with his social account.
pub const FRANK_EMAIL: &str = "frank@social.emulator.test";
/// Frank's password (at the social provider).
pub const FRANK_PASSWORD: &str = "Frank-P@ssw0rd";
/// Frank's object id in the B2C tenant.
pub const FRANK_OBJECT_ID: &str = "bb5cb94f-1252-4783-9ada-bb65353b2fe7";
/// Frank's display name.
pub const FRANK_DISPLAY_NAME: &str = "Frank Miller";

/// The External ID (CIAM) tenant's id.
pub const CIAM_TENANT_ID: &str = "3e11a212-1ef9-4a0a-9da3-42dc1f290e86";
/// The CIAM tenant's short name: its host is `contosociam.ciamlogin.com`.
pub const CIAM_TENANT_NAME: &str = "contosociam";
/// The CIAM tenant's domain.
pub const CIAM_DOMAIN: &str = "contosociam.onmicrosoft.com";
/// The CIAM tenant's host.
pub const CIAM_HOST: &str = "contosociam.ciamlogin.com";
/// Client id of the CIAM tenant's public client app.
pub const CIAM_CLIENT_ID: &str = "f46ecc1d-2e97-4937-b1ae-24d46cb3b920";
/// Display name of the CIAM public client app.
pub const CIAM_CLIENT_DISPLAY_NAME: &str = "Contoso Customers";

/// Grace, a CIAM customer (email and password).
pub const GRACE_EMAIL: &str = "grace@example.org";
/// Grace's password.
pub const GRACE_PASSWORD: &str = "Grace-P@ssw0rd";
/// Grace's object id.
pub const GRACE_OBJECT_ID: &str = "21c9f1d4-70ba-4c2c-a091-588d00526f85";
/// Grace's display name.
pub const GRACE_DISPLAY_NAME: &str = "Grace Hall";

/// The AD FS server's host: it signs in Woodgrove's federated users (Dave)
/// to the apps usable in Woodgrove (the public client).
pub const ADFS_HOST: &str = "adfs.woodgrove.com";
/// The AD FS authority.
pub const ADFS_AUTHORITY: &str = "https://adfs.woodgrove.com/adfs";

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

/// The daemon app's certificate (PEM, self-signed, RSA 2048, valid until
/// 2126): registered on the app, so the daemon can also authenticate with a
/// certificate credential (a signed client assertion).
pub const DAEMON_CERTIFICATE_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDXTCCAkWgAwIBAgIUbW44JLRN2FnA7vf6GtC//9HAy8EwDQYJKoZIhvcNAQEL
BQAwPTEjMCEGA1UEAwwaQ29udG9zbyBEYWVtb24gY2VydGlmaWNhdGUxFjAUBgNV
BAoMDW1zYWwtZW11bGF0b3IwIBcNMjYxMTI2MTI1NDIwWhgPMjEyNjExMDIxMjU0
MjBaMD0xIzAhBgNVBAMMGkNvbnRvc28gRGFlbW9uIGNlcnRpZmljYXRlMRYwFAYD
VQQKDA1tc2FsLWVtdWxhdG9yMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC
AQEAkoPuiTb8quET8E9/UXxV73nx3asSg8twFzxTb2YKE+k8PazpR/liJfJWGEAe
WgoMFWgIsRrPXjgEEAzgN2TKGJQNto9H6mhK7iDVPA68XxoxhxD7V+MuDKBBdV2i
2SszCENhanLCHX+l38JYeUfKiXP6FczucEpAZxgxUbs5/aJMwElRZXfL7dZGTyv5
O2sBYi88y0m5S7txXhoiRQN4wb1rv4qFm1pAWJO/hhinckBQ+60WDXEOeZpIizK0
3ScNnzgmrMY6aSJG3UQRAEIn9Y7UA8nHwNegW2kWew8QtyXD0tSPdvcaJljqBBHl
WsEIHTuEO6YuKSC1jZrIEiN7FwIDAQABo1MwUTAdBgNVHQ4EFgQUnscKlSBfKBZg
bIhFl1L+St0tWrcwHwYDVR0jBBgwFoAUnscKlSBfKBZgbIhFl1L+St0tWrcwDwYD
VR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAF7ExL4gqgxG4I8G68i1b
g0Cl9TkSdxUoVQT/3IMINsY2je6Le6z6z6CpH4Sbk7vbnt1CmMoEnwSVCLlt9Rml
rnHJG2685fVVP/y7++MpKgD03RaQ0NQUrg7qiRaCh5hog+6LytIexCU26E8NAvjx
Vz2oAuK/dS+ES4dqpaLWidRxjNVIYKmfyeQ0CvxxRPvl4eVdHd+atsw0pjN627Ei
jhDZAE/nheKX9V+qXeRHifx85Yf7hA1aSQPQvrkF2Rq7tx/PvjR7N1riYRN3FBoh
xcO/VzvRnRKk2T0PizhFerqIx0kdXcd2ZlAou9LukKs5O7gOx0Py+523cYDed5P8
Eg==
-----END CERTIFICATE-----
";
/// The private key of [`DAEMON_CERTIFICATE_PEM`] (PKCS#8 PEM). Public on
/// purpose, like the secrets: it only unlocks this local emulator.
pub const DAEMON_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCSg+6JNvyq4RPw
T39RfFXvefHdqxKDy3AXPFNvZgoT6Tw9rOlH+WIl8lYYQB5aCgwVaAixGs9eOAQQ
DOA3ZMoYlA22j0fqaEruINU8DrxfGjGHEPtX4y4MoEF1XaLZKzMIQ2FqcsIdf6Xf
wlh5R8qJc/oVzO5wSkBnGDFRuzn9okzASVFld8vt1kZPK/k7awFiLzzLSblLu3Fe
GiJFA3jBvWu/ioWbWkBYk7+GGKdyQFD7rRYNcQ55mkiLMrTdJw2fOCasxjppIkbd
RBEAQif1jtQDycfA16BbaRZ7DxC3JcPS1I929xomWOoEEeVawQgdO4Q7pi4pILWN
msgSI3sXAgMBAAECggEABIch6V5S/fo+t3/Sxh3lj0+2yHbvojW4nRSML4vOZpcf
+Xf32ErosZYvpZ2K/UAE55RzevsCdZLy7TFjVyg85qLiBEZL8/6NHOwpgCr5v1FR
PoSpKn98KNUQW3mCqDDMPvEgzZKw/7W2K+1sS93gGydZDzC/cvuYdJcsJFkjjacD
uctO6aRZDvsYyqLUNanhr7Qjq/CrGXGNQQtqpGQnIN2Mm0CKLKf9YHwGFrnxUXXw
L0Wj1TV2o2cfsOlcMHdEdUhXnGfubd7/O7mlFMIOrboLL07Sly0P+u1hJSAz+llw
mBY7z/6dlcwVonkbunxteLJJ5DH+yoIZVtKCYtagYQKBgQDK5VqlKuUpAUCl1bH6
8PTBBwJLgRtPy++ZL7xg1WgMCxkKAJL62Vw4lbBalNI2ATy/GR328htktji7xLUI
oQ9Ow2Y1DpiUcwM/fPSkfVmeCWDmTcEBuB23ZJ8Mbrko0A2+wRxAR7WAWUZR7Vvb
9O9QKgE5TS8DFmLDxNgdnAc2nQKBgQC43OiEKqfd/sQroaKWPpGivzimc5jgjYiY
p0mSRXU6h9+E3itFAL/sD+YaRbSoSi1TizKKxpFXv0g3U0AwIgn6R+qa5dy7TkBt
VL00bG8ZM7bUbdFBULuztZBkZtXZwq4lkkoaJwdB8Zn/PnmXsKCuXsgJu5VLiUak
pg/eiTHwQwKBgADh4HQJbLex7rMJ6904gQf53NOxOwosy9zxrTMKmoo63iACAqGe
ol0IoZyzOvrLJJV8KXoycVYNyM9gOp1P/f4MsXwXlShIG8KB65pvhR0/0zENM4Kr
Z02t3VczgBCiXvzuYA4TgcGOIdUnYBfjx8qkdB7orASqa0GIsJvoWsutAoGAPBZh
5YPP6JKExQHWzSstP08UZNYyHNskSSom+cpl3k6H0rI8MkOaHmrUijmaDRF/RiZ6
mS0N1Q2xtXnz5TFLOPTjRtHsO12mB2OB1GZifjiW9tlzKN3LBRDBDEF4xT1ISaIR
QArriv2y5ooyD6IzuDnKn48/abwHIEFx6w2BE+0CgYACU50XAI6qMPYCef4peWwu
GYyZ/wNX7b4WRHpm1L5wh94WqZZO6Wp3rSH+atTEhfa8G8YKnrQna2oGbHExhrQF
++TxAAtYeT7QUIWPx9yANiDZwTK8fJLRJ4/BONaReABX5iir+IZ/6WKmfMXyuTUU
rWlez8tqGG9KbN34/YcUJQ==
-----END PRIVATE KEY-----
";
/// SHA-1 thumbprint of [`DAEMON_CERTIFICATE_PEM`] (upper-case hex, as the
/// Azure portal shows it).
pub const DAEMON_CERTIFICATE_SHA1_THUMBPRINT: &str = "EE41150C68924C4F95A7AD38B8296E90FDDDED16";

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

/// Client id of the first family (FOCI) public client in Contoso.
pub const FOCI_APP_A_CLIENT_ID: &str = "3a1f5e2c-9b7d-4c60-8e41-d2f6a9b0c715";
/// Display name of the first family app.
pub const FOCI_APP_A_DISPLAY_NAME: &str = "Contoso Office";
/// Client id of the second family (FOCI) public client in Contoso.
pub const FOCI_APP_B_CLIENT_ID: &str = "9d4c2b81-6e3f-47a5-b0d8-5f1e7c2a4b96";
/// Display name of the second family app.
pub const FOCI_APP_B_DISPLAY_NAME: &str = "Contoso Teams";

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

/// Client id of Azure Resource Manager (its real, well-known application id),
/// a resource managed identities get tokens for.
pub const ARM_CLIENT_ID: &str = "797f4846-ba00-4fd7-ba43-dac1f8f63013";
/// Azure Resource Manager's resource (application ID URI), as managed
/// identity requests name it (`resource=https://management.azure.com/`;
/// the trailing slash is optional).
pub const ARM_RESOURCE: &str = "https://management.azure.com/";
/// Client id of Azure Key Vault (its real, well-known application id).
pub const KEY_VAULT_CLIENT_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";
/// Azure Key Vault's resource (application ID URI).
pub const KEY_VAULT_RESOURCE: &str = "https://vault.azure.net";

/// The Azure subscription the built-in managed identities live in.
pub const MI_SUBSCRIPTION_ID: &str = "24ef112a-4e4d-43c7-ace0-1e92c8bffeed";
/// The resource group of the built-in managed identities and VM.
pub const MI_RESOURCE_GROUP: &str = "contoso-rg";

/// Name of the emulated VM whose system-assigned identity is built in.
pub const MI_SYSTEM_ASSIGNED_NAME: &str = "contoso-vm";
/// Client id of the VM's system-assigned managed identity (Contoso).
pub const MI_SYSTEM_ASSIGNED_CLIENT_ID: &str = "27f8008c-09fe-4880-b5d7-f50606a49134";
/// Object id of the VM's system-assigned managed identity.
pub const MI_SYSTEM_ASSIGNED_OBJECT_ID: &str = "bc8d6512-a75e-47b2-8bbf-8b2650db77f0";
/// Resource id of the system-assigned identity: its VM's.
pub const MI_SYSTEM_ASSIGNED_RESOURCE_ID: &str = "/subscriptions/24ef112a-4e4d-43c7-ace0-1e92c8bffeed/resourcegroups/contoso-rg/providers/Microsoft.Compute/virtualMachines/contoso-vm";

/// Name of the first user-assigned managed identity (Contoso).
pub const MI_USER_ASSIGNED_NAME: &str = "contoso-app-identity";
/// Client id of the first user-assigned managed identity.
pub const MI_USER_ASSIGNED_CLIENT_ID: &str = "7508bfb5-df06-4e48-ac4b-e07cf639d372";
/// Object id of the first user-assigned managed identity.
pub const MI_USER_ASSIGNED_OBJECT_ID: &str = "eb967c65-e3f8-437f-bb15-d2d151b180d5";
/// Resource id of the first user-assigned managed identity.
pub const MI_USER_ASSIGNED_RESOURCE_ID: &str = "/subscriptions/24ef112a-4e4d-43c7-ace0-1e92c8bffeed/resourcegroups/contoso-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/contoso-app-identity";

/// Name of the second user-assigned managed identity (Contoso).
pub const MI_SECOND_USER_ASSIGNED_NAME: &str = "contoso-batch-identity";
/// Client id of the second user-assigned managed identity.
pub const MI_SECOND_USER_ASSIGNED_CLIENT_ID: &str = "e80ca478-49c5-4055-baa3-3d9276263e3a";
/// Object id of the second user-assigned managed identity.
pub const MI_SECOND_USER_ASSIGNED_OBJECT_ID: &str = "0d5b7f3e-8a64-4c1e-9f27-6b3a1d9e4c58";
/// Resource id of the second user-assigned managed identity.
pub const MI_SECOND_USER_ASSIGNED_RESOURCE_ID: &str = "/subscriptions/24ef112a-4e4d-43c7-ace0-1e92c8bffeed/resourcegroups/contoso-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/contoso-batch-identity";

/// The client id Cloud Shell's tokens name (`appid`): Azure CLI's
/// well-known public client id, the app a Cloud Shell session signs in with.
pub const CLOUD_SHELL_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// An Entra tenant with every optional field empty.
fn tenant() -> Tenant {
    Tenant {
        id: String::new(),
        name: String::new(),
        display_name: String::new(),
        domains: Vec::new(),
        federated_domains: Vec::new(),
        kind: TenantKind::Entra,
        policies: Vec::new(),
        identity_providers: Vec::new(),
    }
}

/// The built-in directory (also [`Directory::builtin`]).
pub fn directory() -> Directory {
    let tenants = vec![
        Tenant {
            id: CONTOSO_TENANT_ID.into(),
            name: CONTOSO_TENANT_NAME.into(),
            display_name: "Contoso".into(),
            domains: strings(&[CONTOSO_DOMAIN]),
            ..tenant()
        },
        Tenant {
            id: FABRIKAM_TENANT_ID.into(),
            name: FABRIKAM_TENANT_NAME.into(),
            display_name: "Fabrikam".into(),
            domains: strings(&[FABRIKAM_DOMAIN]),
            ..tenant()
        },
        Tenant {
            id: WOODGROVE_TENANT_ID.into(),
            name: WOODGROVE_TENANT_NAME.into(),
            display_name: "Woodgrove".into(),
            domains: strings(&[WOODGROVE_DOMAIN, WOODGROVE_FEDERATED_DOMAIN]),
            federated_domains: strings(&[WOODGROVE_FEDERATED_DOMAIN]),
            ..tenant()
        },
        Tenant {
            id: CONSUMERS_TENANT_ID.into(),
            name: CONSUMERS_TENANT_NAME.into(),
            display_name: "Microsoft Account".into(),
            kind: TenantKind::Consumers,
            ..tenant()
        },
        Tenant {
            id: B2C_TENANT_ID.into(),
            name: B2C_TENANT_NAME.into(),
            display_name: "Fabrikam B2C".into(),
            domains: strings(&[B2C_DOMAIN]),
            kind: TenantKind::B2c,
            policies: strings(&[B2C_SIGNUP_SIGNIN_POLICY, B2C_PROFILE_EDIT_POLICY]),
            identity_providers: strings(&[SOCIAL_IDP_NAME]),
            ..tenant()
        },
        Tenant {
            id: CIAM_TENANT_ID.into(),
            name: CIAM_TENANT_NAME.into(),
            display_name: "Contoso Customers".into(),
            domains: strings(&[CIAM_DOMAIN]),
            kind: TenantKind::Ciam,
            ..tenant()
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
        family: false,
        certificates: Vec::new(),
        trusted_certificate_issuers: Vec::new(),
        personal_accounts: false,
        access_token_version: None,
        implicit_id_tokens: false,
        implicit_access_tokens: false,
    };
    let apps = vec![
        App {
            secrets: strings(&[DAEMON_CLIENT_SECRET]),
            certificates: strings(&[DAEMON_CERTIFICATE_PEM]),
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
            // A new API registration's manifest: it accepts v2.0 tokens.
            access_token_version: Some(2),
            ..app(API_CLIENT_ID, API_DISPLAY_NAME, AppKind::Confidential)
        },
        App {
            redirect_uris: strings(&PUBLIC_REDIRECT_URIS),
            // Woodgrove's admin consented to it, so Dave can sign in with it.
            provisioned_in: strings(&[WOODGROVE_TENANT_NAME]),
            // Personal accounts may use it too (through `common` or `consumers`).
            personal_accounts: true,
            ..app(PUBLIC_CLIENT_ID, PUBLIC_DISPLAY_NAME, AppKind::Public)
        },
        App {
            secrets: strings(&[WEBAPP_CLIENT_SECRET]),
            redirect_uris: strings(&[WEBAPP_REDIRECT_URI]),
            ..app(WEBAPP_CLIENT_ID, WEBAPP_DISPLAY_NAME, AppKind::Confidential)
        },
        App {
            redirect_uris: strings(&PUBLIC_REDIRECT_URIS),
            family: true,
            ..app(FOCI_APP_A_CLIENT_ID, FOCI_APP_A_DISPLAY_NAME, AppKind::Public)
        },
        App {
            redirect_uris: strings(&PUBLIC_REDIRECT_URIS),
            family: true,
            ..app(FOCI_APP_B_CLIENT_ID, FOCI_APP_B_DISPLAY_NAME, AppKind::Public)
        },
        // Microsoft's first-party resources managed identities typically get
        // tokens for; multi-tenant, as their service principals are everywhere.
        App {
            identifier_uris: strings(&[ARM_RESOURCE]),
            multi_tenant: true,
            ..app(ARM_CLIENT_ID, "Azure Resource Manager", AppKind::Confidential)
        },
        App {
            identifier_uris: strings(&[KEY_VAULT_RESOURCE]),
            multi_tenant: true,
            ..app(KEY_VAULT_CLIENT_ID, "Azure Key Vault", AppKind::Confidential)
        },
        App {
            tenant: B2C_TENANT_NAME.into(),
            redirect_uris: strings(&PUBLIC_REDIRECT_URIS),
            ..app(B2C_CLIENT_ID, B2C_CLIENT_DISPLAY_NAME, AppKind::Public)
        },
        App {
            tenant: B2C_TENANT_NAME.into(),
            identifier_uris: strings(&[B2C_API_IDENTIFIER_URI]),
            scopes: strings(&B2C_API_SCOPES),
            ..app(B2C_API_CLIENT_ID, "Fabrikam B2C API", AppKind::Confidential)
        },
        App {
            tenant: CIAM_TENANT_NAME.into(),
            redirect_uris: strings(&PUBLIC_REDIRECT_URIS),
            ..app(CIAM_CLIENT_ID, CIAM_CLIENT_DISPLAY_NAME, AppKind::Public)
        },
    ];
    let user = |upn: &str, password: &str, oid: &str, name: &str, tenant: &str| User {
        upn: upn.into(),
        password: password.into(),
        object_id: oid.into(),
        display_name: name.into(),
        tenant: tenant.into(),
        identity_provider: None,
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
        user(
            ERIN_UPN,
            ERIN_PASSWORD,
            ERIN_OBJECT_ID,
            ERIN_DISPLAY_NAME,
            CONSUMERS_TENANT_NAME,
        ),
        user(
            EMMA_EMAIL,
            EMMA_PASSWORD,
            EMMA_OBJECT_ID,
            EMMA_DISPLAY_NAME,
            B2C_TENANT_NAME,
        ),
        User {
            identity_provider: Some(SOCIAL_IDP_NAME.into()),
            ..user(
                FRANK_EMAIL,
                FRANK_PASSWORD,
                FRANK_OBJECT_ID,
                FRANK_DISPLAY_NAME,
                B2C_TENANT_NAME,
            )
        },
        user(
            GRACE_EMAIL,
            GRACE_PASSWORD,
            GRACE_OBJECT_ID,
            GRACE_DISPLAY_NAME,
            CIAM_TENANT_NAME,
        ),
    ];
    let identity = |name: &str, user_assigned: bool, client_id: &str, object_id: &str, resource_id: &str| {
        ManagedIdentity {
            name: name.into(),
            user_assigned,
            client_id: client_id.into(),
            object_id: object_id.into(),
            resource_id: resource_id.into(),
            tenant: CONTOSO_TENANT_NAME.into(),
        }
    };
    let managed_identities = vec![
        identity(
            MI_SYSTEM_ASSIGNED_NAME,
            false,
            MI_SYSTEM_ASSIGNED_CLIENT_ID,
            MI_SYSTEM_ASSIGNED_OBJECT_ID,
            MI_SYSTEM_ASSIGNED_RESOURCE_ID,
        ),
        identity(
            MI_USER_ASSIGNED_NAME,
            true,
            MI_USER_ASSIGNED_CLIENT_ID,
            MI_USER_ASSIGNED_OBJECT_ID,
            MI_USER_ASSIGNED_RESOURCE_ID,
        ),
        identity(
            MI_SECOND_USER_ASSIGNED_NAME,
            true,
            MI_SECOND_USER_ASSIGNED_CLIENT_ID,
            MI_SECOND_USER_ASSIGNED_OBJECT_ID,
            MI_SECOND_USER_ASSIGNED_RESOURCE_ID,
        ),
    ];
    Directory {
        tenants,
        apps,
        users,
        token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
        managed_identities,
        adfs: vec![AdfsServer {
            host: ADFS_HOST.into(),
            tenant: WOODGROVE_TENANT_NAME.into(),
        }],
        identity_providers: vec![IdentityProvider {
            name: SOCIAL_IDP_NAME.into(),
            display_name: SOCIAL_DISPLAY_NAME.into(),
            host: SOCIAL_HOST.into(),
            idp: SOCIAL_IDP.into(),
        }],
    }
}
