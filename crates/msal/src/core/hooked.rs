//! Running a call under the application's [`CacheHooks`]: the one place
//! hooks are called, so every flow gets the same load, save and partition
//! rules (see [`crate::cache::CacheHooks`] for the model).

use crate::cache::{CacheAccess, TokenCache};
use crate::core::{AppCore, ClientCore};
use crate::error::Result;
use crate::result::AuthenticationResult;

/// Which cache partition a call works on.
pub(crate) enum Partition {
    /// Known before the call (silent calls, app tokens, on-behalf-of), or
    /// `None` for calls that concern no one partition (listing accounts).
    Known(Option<String>),
    /// Known only from the call's result (sign-ins): the call runs on an
    /// empty cache and what it produced is merged into the partition after.
    FromResult,
}

/// The partition a sign-in's result belongs to: its account.
pub(crate) trait PartitionOf {
    fn partition(&self) -> Option<String>;
}

impl PartitionOf for AuthenticationResult {
    fn partition(&self) -> Option<String> {
        self.account.as_ref().map(|a| a.home_account_id.to_string())
    }
}

impl AppCore {
    /// This core with another cache: everything else is shared.
    fn with_cache(&self, cache: TokenCache) -> AppCore {
        AppCore {
            base: ClientCore {
                shared: self.base.shared.clone(),
                cache,
            },
            authority: self.authority.clone(),
        }
    }

    /// This core with the application's authority for another tenant.
    fn for_tenant(&self, tenant: &str) -> Result<AppCore> {
        Ok(AppCore {
            base: ClientCore {
                shared: self.base.shared.clone(),
                cache: self.base.cache.clone(),
            },
            authority: self.authority.for_tenant(tenant)?,
        })
    }

    /// [`with_hooks`](Self::with_hooks) for a per-request tenant (`None`:
    /// the application's own), whose partition may depend on the tenant.
    pub(crate) async fn in_tenant<T: PartitionOf>(
        &self,
        tenant: Option<&str>,
        partition: impl FnOnce(&AppCore) -> Partition,
        call: impl AsyncFnOnce(&AppCore) -> Result<T>,
    ) -> Result<T> {
        match tenant {
            None => self.with_hooks(partition, call).await,
            Some(tenant) => {
                let core = self.for_tenant(tenant)?;
                core.with_hooks(partition, call).await
            }
        }
    }

    /// Whether a call for `tenant` (a per-request tenant, `None` for the
    /// application's own) runs on this core as it is: no hooks and no
    /// other tenant. Such a call skips [`in_tenant`](Self::in_tenant), so a
    /// cache hit returns before any of its (large) futures is built or
    /// moved: the applications check this first on their hot paths.
    pub(crate) fn is_direct(&self, tenant: Option<&str>) -> bool {
        tenant.is_none() && self.hooks.is_none()
    }

    /// The partition of this application's own tokens, MSAL .NET's
    /// `{client_id}_{tenant}_AppTokenCache`.
    pub(crate) fn app_token_partition(&self) -> String {
        let tenant = self.authority().tenant().unwrap_or_default();
        format!("{}_{tenant}_AppTokenCache", self.client_id)
    }

    /// Runs `call` on this core, or, when the application has hooks, on a
    /// cache of the call's own that the hooks load and save.
    /// `partition` is worked out only when there are hooks, so calls
    /// without them (cache hits on the hot path) pay nothing for it.
    pub(crate) async fn with_hooks<T: PartitionOf>(
        &self,
        partition: impl FnOnce(&AppCore) -> Partition,
        call: impl AsyncFnOnce(&AppCore) -> Result<T>,
    ) -> Result<T> {
        let Some(hooks) = self.hooks.clone() else {
            return call(self).await;
        };
        let scoped = self.with_cache(TokenCache::new());
        match partition(self) {
            Partition::Known(key) => {
                let key = key.as_deref();
                hooks
                    .before_access(&CacheAccess::new(&scoped.cache, key, false))
                    .await?;
                let result = call(&scoped).await;
                let changed = scoped.cache.has_state_changed();
                hooks
                    .after_access(&CacheAccess::new(&scoped.cache, key, changed))
                    .await?;
                result
            }
            Partition::FromResult => {
                let result = call(&scoped).await?;
                if scoped.cache.has_state_changed() {
                    let key = result.partition();
                    let current = TokenCache::new();
                    let access = CacheAccess::new(&current, key.as_deref(), false);
                    hooks.before_access(&access).await?;
                    current.merge_from(&scoped.cache);
                    let changed = current.has_state_changed();
                    hooks
                        .after_access(&CacheAccess::new(&current, key.as_deref(), changed))
                        .await?;
                }
                Ok(result)
            }
        }
    }
}

impl PartitionOf for crate::Accounts {
    fn partition(&self) -> Option<String> {
        None
    }
}

impl PartitionOf for () {
    fn partition(&self) -> Option<String> {
        None
    }
}

impl PartitionOf for (AuthenticationResult, String) {
    fn partition(&self) -> Option<String> {
        Some(self.1.clone())
    }
}
