//! Accounts: the users who signed in through this application, as the token
//! cache remembers them. [`Account`] is what [`get_accounts`] returns and
//! [`remove_account`] takes, on both application types.
//!
//! [`get_accounts`]: crate::PublicClientApplication::get_accounts
//! [`remove_account`]: crate::PublicClientApplication::remove_account

use serde::{Deserialize, Serialize};

use crate::app::ClientCore;
use crate::cache::AccountEntry;

/// A user known to the token cache. Serializable, so a web app can keep the
/// signed-in account in its session; it holds no secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Account {
    /// The account's id in its home tenant, `uid.utid` (object id and tenant
    /// id), the same in every tenant the user visits and in every MSAL.
    pub home_account_id: String,
    /// The cloud host the account signed in to, e.g. `login.microsoftonline.com`.
    pub environment: String,
    /// The sign-in name (`preferred_username`, else `upn`); empty when the ID
    /// token carried neither (the `profile` scope was not granted).
    pub username: String,
    /// The user's object id in the tenant of [`realm`](Self::realm) (`oid`, else `sub`).
    pub local_account_id: Option<String>,
    /// The tenant the account entry is for (the cache realm).
    pub realm: String,
    /// `MSSTS` for Entra ID, `ADFS` for AD FS.
    pub authority_type: String,
    /// The grant that first established the account, e.g. `authorization_code`.
    pub account_source: Option<String>,
}

impl Account {
    pub(crate) fn from_entry(entry: AccountEntry) -> Option<Self> {
        Some(Self {
            // An entry without a home account id (another SDK's leftover) cannot be
            // looked up or removed by account, so it is not listed.
            home_account_id: entry.home_account_id.filter(|h| !h.is_empty())?,
            environment: entry.environment,
            username: entry.username,
            local_account_id: entry.local_account_id,
            realm: entry.realm,
            authority_type: entry.authority_type,
            account_source: entry.account_source,
        })
    }
}

/// The accounts of the application's cloud, one per home account, optionally
/// only those whose username matches (case-insensitively, as federated
/// usernames come back in mixed case). Like MSAL Python: the authority's
/// host first and, when it has none, the first alias of the same cloud that
/// has some. Accounts are not filtered by client: every MSAL app sharing the
/// cache sees them, and silent calls for an account without this client's
/// tokens simply fail over to interaction.
pub(crate) fn get_accounts(core: &ClientCore, username: Option<&str>) -> Vec<Account> {
    let mut entries = core.cache.accounts(&core.environment());
    if entries.is_empty() {
        for alias in core.environment_aliases() {
            entries = core.cache.accounts(&alias);
            if !entries.is_empty() {
                break;
            }
        }
    }
    // One account per home account: an account that visited several tenants
    // has an entry per realm, and the last one stands for it, as in MSAL Python.
    let mut accounts: Vec<Account> = Vec::new();
    for account in entries.into_iter().filter_map(Account::from_entry) {
        match accounts
            .iter_mut()
            .find(|a| a.home_account_id == account.home_account_id)
        {
            Some(existing) => *existing = account,
            None => accounts.push(account),
        }
    }
    if let Some(username) = username {
        accounts.retain(|a| a.username.to_lowercase() == username.to_lowercase());
    }
    accounts
}

/// Signs `account` out of this application and forgets it; see
/// [`TokenCache`](crate::TokenCache) for what is removed.
pub(crate) fn remove_account(core: &ClientCore, account: &Account) {
    let removed = core
        .cache
        .remove_account(&account.environment, &account.home_account_id, &core.client_id);
    tracing::debug!(client_id = %core.client_id, removed, "account removed from the cache");
}
