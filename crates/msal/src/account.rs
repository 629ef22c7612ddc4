//! Accounts: the users who signed in through this application, as the token
//! cache remembers them (a value type: the cache builds them, the
//! `flows::accounts` module lists and removes them). [`Account`] is what [`get_accounts`] returns and
//! [`remove_account`] takes, on both application types.
//!
//! [`get_accounts`]: crate::PublicClientApplication::get_accounts
//! [`remove_account`]: crate::PublicClientApplication::remove_account

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::shared_str::SharedStr;

/// A user known to the token cache. Serializable, so a web app can keep the
/// signed-in account in its session; it holds no secret. Its text fields
/// share the cache's copies ([`SharedStr`]): cloning an account, or listing
/// thousands, copies no text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Account {
    /// The account's id in its home tenant, `uid.utid` (object id and tenant
    /// id), the same in every tenant the user visits and in every MSAL.
    pub home_account_id: SharedStr,
    /// The cloud host the account signed in to, e.g. `login.microsoftonline.com`.
    pub environment: SharedStr,
    /// The sign-in name (`preferred_username`, else `upn`); empty when the ID
    /// token carried neither (the `profile` scope was not granted).
    pub username: SharedStr,
    /// The user's object id in the tenant of [`realm`](Self::realm) (`oid`, else `sub`).
    pub local_account_id: Option<SharedStr>,
    /// The tenant the account entry is for (the cache realm).
    pub realm: SharedStr,
    /// `MSSTS` for Entra ID, `ADFS` for AD FS.
    pub authority_type: SharedStr,
    /// The grant that first established the account, e.g. `authorization_code`.
    pub account_source: Option<SharedStr>,
}

/// What `get_accounts` returns: a shared, read-only list of accounts.
/// While the cache's accounts do not change, every listing is the same list
/// (cloning it copies nothing). It derefs to `[Account]` (`len`, `iter`,
/// `first`, indexing) and iterates by reference or by value; `to_vec` makes
/// a list of one's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accounts(Arc<Vec<Account>>);

impl Accounts {
    pub(crate) fn new(list: Arc<Vec<Account>>) -> Self {
        Self(list)
    }
}

impl std::ops::Deref for Accounts {
    type Target = [Account];

    fn deref(&self) -> &[Account] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Accounts {
    type Item = &'a Account;
    type IntoIter = std::slice::Iter<'a, Account>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Accounts {
    type Item = Account;
    type IntoIter = AccountsIntoIter;

    fn into_iter(self) -> AccountsIntoIter {
        AccountsIntoIter {
            list: self.0,
            next: 0,
        }
    }
}

/// Serialized as a list of accounts.
impl Serialize for Accounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl PartialEq<[Account]> for Accounts {
    fn eq(&self, other: &[Account]) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<Vec<Account>> for Accounts {
    fn eq(&self, other: &Vec<Account>) -> bool {
        *self.0 == **other
    }
}

impl From<Accounts> for Vec<Account> {
    fn from(accounts: Accounts) -> Self {
        accounts.0.to_vec()
    }
}

/// The by-value iterator of [`Accounts`]: each account is cloned out of the
/// shared list as it is reached.
#[derive(Debug)]
pub struct AccountsIntoIter {
    list: Arc<Vec<Account>>,
    next: usize,
}

impl Iterator for AccountsIntoIter {
    type Item = Account;

    fn next(&mut self) -> Option<Account> {
        let account = self.list.get(self.next)?.clone();
        self.next += 1;
        Some(account)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.list.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for AccountsIntoIter {}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use std::sync::Arc;

    use crate::testing::{AUTHORITY, CLIENT_ID, ENVIRONMENT, FakeIdp, TENANT_ID};
    use crate::{PublicClientApplication, TokenCache};

    const ALICE: &str = "alice-oid.72f988bf-86f1-41af-91ab-2d7cd011db47";
    const BOB: &str = "bob-oid.72f988bf-86f1-41af-91ab-2d7cd011db47";
    const FAMILY_APP: &str = "family-app-client-id";
    const OTHER_APP: &str = "unrelated-client-id";
    const GUEST_TENANT: &str = "guest-tenant-id";

    fn account(hid: &str, env: &str, realm: &str, username: &str) -> (String, Value) {
        (
            format!("{hid}-{env}-{realm}"),
            json!({
                "home_account_id": hid, "environment": env, "realm": realm,
                "local_account_id": hid.split('.').next(), "username": username,
                "authority_type": "MSSTS", "account_source": "authorization_code",
            }),
        )
    }

    fn rt(hid: &str, client_id: &str, family: Option<&str>) -> (String, Value) {
        let mut entry = json!({
            "credential_type": "RefreshToken", "secret": format!("rt-{hid}-{client_id}"),
            "home_account_id": hid, "environment": ENVIRONMENT, "client_id": client_id,
            "target": "User.Read", "last_modification_time": "1000",
        });
        if let Some(family) = family {
            entry["family_id"] = json!(family);
        }
        (
            format!("{hid}-{ENVIRONMENT}-refreshtoken-{client_id}--user.read"),
            entry,
        )
    }

    fn at(hid: &str, client_id: &str, realm: &str) -> (String, Value) {
        (
            format!("{hid}-{ENVIRONMENT}-accesstoken-{client_id}-{realm}-user.read"),
            json!({
                "credential_type": "AccessToken", "secret": "at", "home_account_id": hid,
                "environment": ENVIRONMENT, "client_id": client_id, "target": "User.Read",
                "realm": realm, "token_type": "Bearer", "cached_at": "1000", "expires_on": "99999999999",
            }),
        )
    }

    fn idt(hid: &str, client_id: &str, realm: &str) -> (String, Value) {
        (
            format!("{hid}-{ENVIRONMENT}-idtoken-{client_id}-{realm}-"),
            json!({
                "credential_type": "IdToken", "secret": "eyJ.idt.sig", "home_account_id": hid,
                "environment": ENVIRONMENT, "realm": realm, "client_id": client_id,
            }),
        )
    }

    fn section(entries: Vec<(String, Value)>) -> Value {
        Value::Object(entries.into_iter().collect())
    }

    /// Alice signed in to this app (home and guest tenant), to a family app
    /// and to an unrelated app; Bob to this app only; plus an app-only token.
    fn shared_cache() -> TokenCache {
        let (app_key, app_only) = at("", CLIENT_ID, TENANT_ID);
        let mut app_only = app_only;
        app_only["home_account_id"] = Value::Null;
        let doc = json!({
            "Account": section(vec![
                account(ALICE, ENVIRONMENT, TENANT_ID, "Alice@Contoso.com"),
                account(ALICE, ENVIRONMENT, GUEST_TENANT, "Alice@Contoso.com"),
                account(BOB, ENVIRONMENT, TENANT_ID, "bob@contoso.com"),
                {
                    let (k, mut v) = account("adfs-user", ENVIRONMENT, "adfs", "x@fabrikam.com");
                    v["authority_type"] = json!("CLOUDSHELL");
                    (k, v)
                },
            ]),
            "RefreshToken": section(vec![
                rt(ALICE, CLIENT_ID, Some("1")),
                rt(ALICE, FAMILY_APP, Some("1")),
                rt(ALICE, OTHER_APP, None),
                rt(BOB, CLIENT_ID, Some("1")),
            ]),
            "AccessToken": section(vec![
                at(ALICE, CLIENT_ID, TENANT_ID),
                at(ALICE, CLIENT_ID, GUEST_TENANT),
                at(ALICE, OTHER_APP, TENANT_ID),
                at(BOB, CLIENT_ID, TENANT_ID),
                (app_key, app_only),
            ]),
            "IdToken": section(vec![
                idt(ALICE, CLIENT_ID, TENANT_ID),
                idt(ALICE, OTHER_APP, TENANT_ID),
                idt(BOB, CLIENT_ID, TENANT_ID),
            ]),
            "AppMetadata": {
                format!("appmetadata-{ENVIRONMENT}-{CLIENT_ID}"):
                    {"client_id": CLIENT_ID, "environment": ENVIRONMENT, "family_id": "1"}
            },
        });
        TokenCache::from_json(&doc.to_string()).unwrap()
    }

    fn app(cache: &TokenCache, authority: &str) -> PublicClientApplication {
        PublicClientApplication::builder(CLIENT_ID)
            .authority(authority)
            .http_client(FakeIdp::new())
            .token_cache(cache.clone())
            .build()
            .unwrap()
    }

    fn keys(json: &Value, section: &str) -> Vec<String> {
        json[section].as_object().unwrap().keys().cloned().collect()
    }

    /// An account entry as a sign-in writes it, to replay through `TokenCache::add`.
    fn sign_in_write(hid: &str, username: &str) -> crate::cache::CacheWrite {
        crate::cache::CacheWrite {
            access_token: None,
            refresh_token: None,
            id_token: None,
            account: Some(crate::cache::AccountEntry {
                home_account_id: Some(hid.into()),
                environment: ENVIRONMENT.into(),
                realm: TENANT_ID.into(),
                local_account_id: hid.split('.').next().map(Into::into),
                username: username.into(),
                authority_type: "MSSTS".into(),
                account_source: Some("authorization_code".into()),
                extra: Default::default(),
            }),
            app_metadata: crate::cache::AppMetadataEntry {
                client_id: CLIENT_ID.into(),
                environment: ENVIRONMENT.into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn listings_are_shared_until_the_accounts_change() {
        let cache = shared_cache();
        let app = app(&cache, AUTHORITY);
        let first = app.get_accounts(None);
        let again = app.get_accounts(None);
        // The same list, not a copy.
        assert!(Arc::ptr_eq(&first.0, &again.0));
        // A sign-in that rewrites an account entry unchanged keeps the list.
        let bob = first.iter().find(|a| a.home_account_id == BOB).unwrap().clone();
        cache.add(sign_in_write(BOB, &bob.username));
        assert!(Arc::ptr_eq(&first.0, &app.get_accounts(None).0));
        // A new account is listed at once.
        let carol = "carol-oid.72f988bf-86f1-41af-91ab-2d7cd011db47";
        cache.add(sign_in_write(carol, "carol@contoso.com"));
        let grown = app.get_accounts(None);
        assert_eq!(grown.len(), first.len() + 1);
        assert!(grown.iter().any(|a| a.home_account_id == carol));
        // So is a changed one (a new username) and a removed one.
        cache.add(sign_in_write(carol, "carol.new@contoso.com"));
        let renamed = app.get_accounts(Some("carol.new@contoso.com"));
        assert_eq!(renamed.len(), 1);
        app.remove_account(&renamed[0]);
        assert_eq!(app.get_accounts(None), first);
        // Loading a cache replaces the list too.
        cache.deserialize("{}").unwrap();
        assert!(app.get_accounts(None).is_empty());
        // The old list a caller holds stays as it was.
        assert_eq!(first.len(), 2);
    }

    #[test]
    fn accounts_iterate_serialize_and_convert() {
        let cache = shared_cache();
        let accounts = app(&cache, AUTHORITY).get_accounts(None);
        let by_ref: Vec<&str> = (&accounts).into_iter().map(|a| a.username.as_str()).collect();
        let iter = accounts.clone().into_iter();
        assert_eq!(iter.len(), 2);
        let by_value: Vec<String> = iter.map(|a| a.username.to_string()).collect();
        assert_eq!(by_ref, by_value);
        let json = serde_json::to_value(&accounts).unwrap();
        assert_eq!(json.as_array().map(Vec::len), Some(2));
        assert_eq!(json[0]["username"], by_value[0].as_str());
        let owned: Vec<super::Account> = accounts.clone().into();
        assert_eq!(accounts, owned);
    }

    #[test]
    fn accounts_are_grouped_by_home_account_and_filtered_by_username() {
        let cache = shared_cache();
        let app = app(&cache, AUTHORITY);
        let accounts = app.get_accounts(None);
        let mut hids: Vec<&str> = accounts.iter().map(|a| a.home_account_id.as_str()).collect();
        hids.sort_unstable();
        // Alice's two realms make one account; the CLOUDSHELL entry is not listed.
        assert_eq!(hids, [ALICE, BOB]);
        let alice = app.get_accounts(Some("alice@CONTOSO.com"));
        assert_eq!(alice.len(), 1);
        assert_eq!(alice[0].username, "Alice@Contoso.com");
        assert_eq!(alice[0].environment, ENVIRONMENT);
        assert!(app.get_accounts(Some("carol@contoso.com")).is_empty());
        // Listing changes nothing.
        assert!(!cache.has_state_changed());
    }

    #[test]
    fn accounts_keep_first_seen_order_and_the_last_realm_stands_for_one() {
        // Keys other MSALs wrote put Bob between Alice's two realms, and a
        // case variant of the environment is the same environment.
        let mut guest = account(
            ALICE,
            &ENVIRONMENT.to_uppercase(),
            GUEST_TENANT,
            "alice@guest.example",
        );
        guest.0 = "3-alice-guest".into();
        let mut home = account(ALICE, ENVIRONMENT, TENANT_ID, "alice@home.example");
        home.0 = "1-alice-home".into();
        let mut bob = account(BOB, ENVIRONMENT, TENANT_ID, "bob@contoso.com");
        bob.0 = "2-bob".into();
        let cache = TokenCache::from_json(&json!({ "Account": section(vec![guest, home, bob]) }).to_string())
            .unwrap();
        let app = app(&cache, AUTHORITY);
        let listed: Vec<(String, String)> = app
            .get_accounts(None)
            .into_iter()
            .map(|a| (a.home_account_id.to_string(), a.username.to_string()))
            .collect();
        assert_eq!(
            listed,
            [
                (ALICE.to_owned(), "alice@guest.example".to_owned()),
                (BOB.to_owned(), "bob@contoso.com".to_owned()),
            ]
        );
    }

    #[test]
    fn accounts_of_an_alias_host_are_found() {
        let cache = shared_cache();
        // login.windows.net is the same cloud as login.microsoftonline.com.
        let app = app(&cache, "https://login.windows.net/contoso.onmicrosoft.com");
        assert_eq!(app.get_accounts(None).len(), 2);
        let no_discovery = PublicClientApplication::builder(CLIENT_ID)
            .authority("https://login.windows.net/contoso.onmicrosoft.com")
            .instance_discovery(false)
            .http_client(FakeIdp::new())
            .token_cache(cache)
            .build()
            .unwrap();
        assert!(no_discovery.get_accounts(None).is_empty());
    }

    #[test]
    fn remove_account_signs_out_of_this_app_and_its_family_only() {
        let cache = shared_cache();
        let app = app(&cache, AUTHORITY);
        let alice = app.get_accounts(Some("alice@contoso.com"))[0].clone();
        app.remove_account(&alice);
        assert!(cache.has_state_changed());
        let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
        let rt_key = |hid: &str, client: &str| rt(hid, client, None).0.to_lowercase();
        // This app's and its family's refresh tokens go; an unrelated app keeps its own.
        let mut expected_rts = vec![rt_key(ALICE, OTHER_APP), rt_key(BOB, CLIENT_ID)];
        expected_rts.sort();
        assert_eq!(keys(&json, "RefreshToken"), expected_rts);
        // Every access token, ID token and account entry of Alice goes, in every realm.
        let mut expected_ats = vec![
            at(BOB, CLIENT_ID, TENANT_ID).0.to_lowercase(),
            at("", CLIENT_ID, TENANT_ID).0.to_lowercase(),
        ];
        expected_ats.sort();
        assert_eq!(keys(&json, "AccessToken"), expected_ats);
        assert_eq!(
            keys(&json, "IdToken"),
            [idt(BOB, CLIENT_ID, TENANT_ID).0.to_lowercase()]
        );
        assert_eq!(app.get_accounts(None).len(), 1);
        assert_eq!(app.get_accounts(None)[0].home_account_id, BOB);
        // Removing again changes nothing.
        app.remove_account(&alice);
        assert!(!cache.has_state_changed());
    }
}
