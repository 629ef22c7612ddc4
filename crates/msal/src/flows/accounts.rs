//! Listing and removing the accounts of an application's cloud: cache
//! operations, no request.

use std::sync::Arc;

use crate::account::{Account, Accounts};
use crate::core::AppCore;

/// The accounts of the application's cloud, one per home account, optionally
/// only those whose username matches (case-insensitively, as federated
/// usernames come back in mixed case). Like MSAL Python: the authority's
/// host first and, when it has none, the first alias of the same cloud that
/// has some. Accounts are not filtered by client: every MSAL app sharing the
/// cache sees them, and silent calls for an account without this client's
/// tokens simply fail over to interaction.
pub(crate) fn get_accounts(core: &AppCore, username: Option<&str>) -> Accounts {
    let mut accounts = core.cache.accounts(&core.environment());
    if accounts.is_empty() {
        for alias in core.environment_aliases() {
            accounts = core.cache.accounts(&alias);
            if !accounts.is_empty() {
                break;
            }
        }
    }
    match username {
        None => Accounts::new(accounts),
        Some(username) => {
            let username = username.to_lowercase();
            Accounts::new(Arc::new(
                accounts
                    .iter()
                    .filter(|a| a.username.to_lowercase() == username)
                    .cloned()
                    .collect(),
            ))
        }
    }
}

/// Signs `account` out of this application and forgets it; see
/// [`PublicClientApplication::remove_account`](crate::PublicClientApplication::remove_account)
/// for what is removed.
pub(crate) fn remove_account(core: &AppCore, account: &Account) {
    let removed = core
        .cache
        .remove_account(&account.environment, &account.home_account_id, &core.client_id);
    tracing::debug!(client_id = %core.client_id, removed, "account removed from the cache");
}
