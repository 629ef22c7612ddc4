//! What a silent cache hit serves beside its access token (the account's
//! ID token, its decoded claims and its `Account`), and a thread's memo of
//! the last of them.
//!
//! The memo holds for one version of one cache: any change to the cache
//! (a sign-in, a refresh, a removal, a load) makes it stale. A service
//! asking for the same account's token again (a daemon's user, a burst of
//! one user's requests) then skips the ID token and account lookups and
//! the claims memo; a call for another account works them out as before.
//! From the second answer on, the memo's values are the thread's own
//! copies, so concurrent hits on many cores touch no shared reference
//! counts.

use std::cell::RefCell;

use crate::account::Account;
use crate::core::{AppCore, Known};
use crate::secret::CachedSecret;
use crate::shared_str::SharedStr;

/// A hit's ID token, its claims and the account.
#[derive(Clone)]
pub(super) struct Extras {
    pub(super) id_token: Option<CachedSecret>,
    pub(super) known: Option<Known>,
    pub(super) account: Option<Account>,
}

struct Memo {
    cache: u64,
    version: u64,
    client_id: String,
    home_account_id: String,
    environment: String,
    realm: String,
    extras: Extras,
    /// Whether `extras` are this thread's own copies.
    private: bool,
}

impl Memo {
    fn holds(
        &self,
        (cache, version): (u64, u64),
        client_id: &str,
        hid: &str,
        environment: &str,
        realm: &str,
    ) -> bool {
        self.cache == cache
            && self.version == version
            && self.client_id == client_id
            && self.home_account_id == hid
            && self.environment == environment
            && self.realm == realm
    }
}

thread_local! {
    static MEMO: RefCell<Option<Box<Memo>>> = const { RefCell::new(None) };
}

/// The extras of `home_account_id`'s hit in `environment` and `realm`.
pub(super) fn extras(core: &AppCore, home_account_id: &str, environment: &str, realm: &str) -> Extras {
    let generation = core.cache.generation();
    let remembered = MEMO.try_with(|memo| {
        let mut memo = memo.try_borrow_mut().ok()?;
        let memo = memo.as_mut()?;
        if !memo.holds(generation, &core.client_id, home_account_id, environment, realm) {
            return None;
        }
        if !memo.private {
            memo.extras = private_copy(&memo.extras);
            memo.private = true;
        }
        Some(memo.extras.clone())
    });
    if let Ok(Some(extras)) = remembered {
        return extras;
    }
    let context = core
        .cache
        .hit_context(home_account_id, environment, &core.client_id, realm);
    let known = context.id_token.as_ref().and_then(|t| {
        core.id_token_claims
            .claims(home_account_id, environment, realm, t)
    });
    let extras = Extras {
        id_token: context.id_token,
        known,
        account: context.account,
    };
    let _ = MEMO.try_with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            return;
        };
        // The thread's memo is rewritten in place: its strings keep their
        // buffers, so a call for another account allocates nothing here.
        let memo = slot.get_or_insert_with(|| {
            Box::new(Memo {
                cache: 0,
                version: 0,
                client_id: String::new(),
                home_account_id: String::new(),
                environment: String::new(),
                realm: String::new(),
                extras: extras.clone(),
                private: false,
            })
        });
        let set = |field: &mut String, value: &str| {
            field.clear();
            field.push_str(value);
        };
        memo.cache = generation.0;
        memo.version = context.version;
        set(&mut memo.client_id, &core.client_id);
        set(&mut memo.home_account_id, home_account_id);
        set(&mut memo.environment, environment);
        set(&mut memo.realm, realm);
        memo.extras = extras.clone();
        memo.private = false;
    });
    extras
}

/// `extras` with text, secret and claims of this thread's own.
fn private_copy(extras: &Extras) -> Extras {
    let own = |text: &SharedStr| SharedStr::from(text.as_str());
    Extras {
        id_token: extras.id_token.as_ref().map(|t| CachedSecret::new(t.expose())),
        known: extras.known.as_ref().map(|known| Known {
            claims: known.claims.private_copy(),
            tenant_id: known.tenant_id.as_ref().map(own),
        }),
        account: extras.account.as_ref().map(|a| Account {
            home_account_id: own(&a.home_account_id),
            environment: own(&a.environment),
            username: own(&a.username),
            local_account_id: a.local_account_id.as_ref().map(own),
            realm: own(&a.realm),
            authority_type: own(&a.authority_type),
            account_source: a.account_source.as_ref().map(own),
        }),
    }
}
