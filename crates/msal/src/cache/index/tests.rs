//! The index against a naive model: the linear-scan cache this index
//! replaced, kept here as the oracle. Random sequences of adds, sign-outs,
//! refresh-token updates and reloads must leave both with the same entries,
//! the same answers to every lookup, and an index equal to one rebuilt from
//! scratch.

use serde::Serialize;

use super::super::schema::{CacheData, key};
use super::super::*;
use super::{Index, Indexed, USER_ASSERTION_HASH};

/// A small deterministic generator (xorshift64*): no dependency, and a
/// failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

// Values collide on purpose, with case variants of one another.
const HIDS: &[Option<&str>] = &[None, Some("uid1.utid"), Some("UID1.utid"), Some("uid2.utid")];
const ENVS: &[&str] = &["login.example.com", "LOGIN.Example.com", "other.example.net"];
const CLIENTS: &[&str] = &["client-a", "CLIENT-A", "client-b"];
const REALMS: &[&str] = &["tenant-1", "TENANT-1", "tenant-2", "common"];
const SCOPES: &[&str] = &["read", "Read", "write", "admin", "offline"];
const AUTHORITY_TYPES: &[&str] = &[AUTHORITY_TYPE_MSSTS, AUTHORITY_TYPE_ADFS, "MSA"];

fn scopes_of(rng: &mut Rng, max: usize) -> Vec<String> {
    let n = 1 + rng.below(max);
    (0..n).map(|_| rng.pick(SCOPES).to_string()).collect()
}

fn extra_of(rng: &mut Rng) -> schema::Extra {
    let mut extra = schema::Extra::new();
    if rng.chance(20) {
        let hash = *rng.pick(&["hash-1", "hash-2"]);
        extra.insert(USER_ASSERTION_HASH.into(), hash.into());
    }
    extra
}

fn access_token(rng: &mut Rng, serial: u64) -> AccessTokenEntry {
    AccessTokenEntry {
        credential_type: "AccessToken".into(),
        secret: CachedSecret::new(format!("at-{serial}")),
        home_account_id: rng.pick(HIDS).map(Into::into),
        environment: (*rng.pick(ENVS)).into(),
        client_id: (*rng.pick(CLIENTS)).into(),
        target: target(&scopes_of(rng, 4)).into(),
        realm: (*rng.pick(REALMS)).into(),
        token_type: Some("Bearer".into()),
        cached_at: 1,
        expires_on: 1_000 + rng.below(4) as u64 * 1_000,
        extra: extra_of(rng),
        ..Default::default()
    }
}

fn refresh_token(rng: &mut Rng, serial: u64) -> RefreshTokenEntry {
    RefreshTokenEntry {
        credential_type: "RefreshToken".into(),
        secret: CachedSecret::new(format!("rt-{serial}")),
        home_account_id: rng.pick(HIDS).map(Into::into),
        environment: (*rng.pick(ENVS)).into(),
        client_id: (*rng.pick(CLIENTS)).into(),
        target: rng.chance(70).then(|| target(&scopes_of(rng, 3)).into()),
        last_modification_time: rng.chance(80).then(|| rng.below(5) as u64),
        family_id: rng.chance(40).then(|| "1".into()),
        extra: extra_of(rng),
    }
}

fn id_token(rng: &mut Rng, serial: u64) -> IdTokenEntry {
    IdTokenEntry {
        credential_type: "IdToken".into(),
        secret: CachedSecret::new(format!("idt-{serial}")),
        home_account_id: rng.pick(HIDS).map(Into::into),
        environment: (*rng.pick(ENVS)).into(),
        realm: (*rng.pick(REALMS)).into(),
        client_id: (*rng.pick(CLIENTS)).into(),
        extra: Default::default(),
    }
}

fn account(rng: &mut Rng, serial: u64) -> AccountEntry {
    AccountEntry {
        home_account_id: rng.pick(HIDS).map(Into::into),
        environment: (*rng.pick(ENVS)).into(),
        realm: (*rng.pick(REALMS)).into(),
        local_account_id: Some(format!("local-{serial}").into()),
        username: format!("user{serial}@example.com").into(),
        authority_type: (*rng.pick(AUTHORITY_TYPES)).into(),
        account_source: None,
        extra: Default::default(),
    }
}

fn app_metadata(rng: &mut Rng) -> AppMetadataEntry {
    AppMetadataEntry {
        client_id: (*rng.pick(CLIENTS)).into(),
        environment: (*rng.pick(ENVS)).into(),
        family_id: rng.chance(50).then(|| "1".into()),
        extra: Default::default(),
    }
}

/// The parts of one token response, clonable so model and cache get the same.
#[derive(Clone)]
struct Write {
    at: Option<AccessTokenEntry>,
    rt: Option<RefreshTokenEntry>,
    idt: Option<IdTokenEntry>,
    account: Option<AccountEntry>,
    meta: AppMetadataEntry,
}

impl Write {
    fn random(rng: &mut Rng, serial: u64) -> Self {
        Self {
            at: rng.chance(80).then(|| access_token(rng, serial)),
            rt: rng.chance(60).then(|| refresh_token(rng, serial)),
            idt: rng.chance(50).then(|| id_token(rng, serial)),
            account: rng.chance(50).then(|| account(rng, serial)),
            meta: app_metadata(rng),
        }
    }

    fn into_cache_write(self) -> CacheWrite {
        CacheWrite {
            access_token: self.at,
            refresh_token: self.rt,
            id_token: self.idt,
            account: self.account,
            app_metadata: self.meta,
        }
    }
}

/// The linear-scan cache the index replaced: same keys, same filters.
#[derive(Default)]
struct Model {
    data: CacheData,
    changed: bool,
}

impl Model {
    fn load(json: &str) -> Self {
        Self {
            data: serde_json::from_str(json).unwrap(),
            changed: false,
        }
    }

    fn json(&self) -> String {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        self.data.serialize(&mut serializer).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn add(&mut self, w: Write) {
        let data = &mut self.data;
        if let Some(e) = w.at {
            let k = key::access_token(
                e.home_account_id.as_deref(),
                &e.environment,
                &e.client_id,
                &e.realm,
                &e.target,
            );
            data.access_tokens.insert(k.into(), std::sync::Arc::new(e));
        }
        if let Some(e) = w.account {
            let k = key::account(e.home_account_id.as_deref(), &e.environment, &e.realm);
            data.accounts.insert(k.into(), e);
        }
        if let Some(e) = w.idt {
            let k = key::id_token(
                e.home_account_id.as_deref(),
                &e.environment,
                &e.client_id,
                &e.realm,
            );
            data.id_tokens.insert(k.into(), e);
        }
        if let Some(e) = w.rt {
            let k = key::refresh_token(
                e.home_account_id.as_deref(),
                &e.environment,
                &e.client_id,
                e.target.as_deref(),
            );
            data.refresh_tokens.insert(k.into(), e);
        }
        let k = key::app_metadata(&w.meta.environment, &w.meta.client_id);
        data.app_metadata.insert(k.into(), w.meta);
        self.changed = true;
    }

    fn find_access_token(
        &self,
        query: &AccessTokenQuery<'_>,
        scopes: &[String],
        now: u64,
    ) -> Option<CachedAccessToken> {
        let tokens = &self.data.access_tokens;
        let usable = |e: &AccessTokenEntry| e.expires_on > now + EXPIRY_MARGIN_SECS;
        let exact = key::access_token(
            query.home_account_id,
            query.environment,
            query.client_id,
            query.realm,
            &target(scopes),
        );
        if let Some(e) = tokens
            .get(exact.as_str())
            .filter(|e| matches(e, query) && usable(e))
        {
            return Some(e.clone());
        }
        tokens
            .values()
            .filter(|e| matches(e, query) && usable(e) && covers(&e.target, scopes))
            .max_by_key(|e| e.expires_on)
            .cloned()
    }

    /// MSAL Python's listing, naively: one account per home account, the
    /// last entry standing for it, in first-seen order.
    fn accounts(&self, environment: &str) -> Vec<Account> {
        let mut listed: Vec<Account> = Vec::new();
        let entries = self
            .data
            .accounts
            .values()
            .filter(|a| a.environment.eq_ignore_ascii_case(environment))
            .filter(|a| [AUTHORITY_TYPE_MSSTS, AUTHORITY_TYPE_ADFS].contains(&&*a.authority_type));
        for account in entries.filter_map(|e| e.to_account()) {
            match listed
                .iter_mut()
                .find(|a| a.home_account_id == account.home_account_id)
            {
                Some(seen) => *seen = account,
                None => listed.push(account),
            }
        }
        listed
    }

    fn owned(hid: &Option<Str>, env: &str, home_account_id: &str, environments: &[String]) -> bool {
        hid.as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(home_account_id))
            && environments.iter().any(|e| e.eq_ignore_ascii_case(env))
    }

    fn accounts_of(&self, home_account_id: &str, environments: &[String]) -> Vec<AccountEntry> {
        self.data
            .accounts
            .values()
            .filter(|a| Self::owned(&a.home_account_id, &a.environment, home_account_id, environments))
            .cloned()
            .collect()
    }

    fn refresh_tokens_of(
        &self,
        home_account_id: &str,
        environments: &[String],
        client: &str,
    ) -> Vec<RefreshTokenEntry> {
        let mut found: Vec<RefreshTokenEntry> = self
            .data
            .refresh_tokens
            .values()
            .filter(|rt| {
                Self::owned(
                    &rt.home_account_id,
                    &rt.environment,
                    home_account_id,
                    environments,
                )
            })
            .filter(|rt| rt.client_id.eq_ignore_ascii_case(client))
            .cloned()
            .collect();
        found.sort_by_key(|rt| std::cmp::Reverse(rt.last_modification_time));
        found
    }

    fn remove_account(&mut self, environment: &str, home_account_id: &str, client_id: &str) -> bool {
        let envs = [environment.to_owned()];
        let data = &mut self.data;
        let family = data
            .app_metadata
            .get(key::app_metadata(environment, client_id).as_str())
            .and_then(|m| m.family_id.clone())
            .filter(|f| !f.is_empty());
        let before =
            data.refresh_tokens.len() + data.access_tokens.len() + data.id_tokens.len() + data.accounts.len();
        data.refresh_tokens.retain(|_, rt| {
            let mine =
                rt.client_id.eq_ignore_ascii_case(client_id) || (family.is_some() && rt.family_id == family);
            !(mine && Self::owned(&rt.home_account_id, &rt.environment, home_account_id, &envs))
        });
        data.access_tokens
            .retain(|_, e| !Self::owned(&e.home_account_id, &e.environment, home_account_id, &envs));
        data.id_tokens
            .retain(|_, e| !Self::owned(&e.home_account_id, &e.environment, home_account_id, &envs));
        data.accounts
            .retain(|_, e| !Self::owned(&e.home_account_id, &e.environment, home_account_id, &envs));
        let after =
            data.refresh_tokens.len() + data.access_tokens.len() + data.id_tokens.len() + data.accounts.len();
        let removed = after < before;
        self.changed |= removed;
        removed
    }

    fn update_refresh_token(&mut self, old: &RefreshTokenEntry, new_secret: &CachedSecret, now: u64) {
        let k = key::refresh_token(
            old.home_account_id.as_deref(),
            &old.environment,
            &old.client_id,
            old.target.as_deref(),
        );
        if let Some(entry) = self.data.refresh_tokens.get_mut(k.as_str())
            && entry.secret == old.secret
            && entry.secret != *new_secret
        {
            entry.secret = new_secret.clone();
            entry.last_modification_time = Some(now);
            self.changed = true;
        }
    }
}

fn envs_of(rng: &mut Rng) -> Vec<String> {
    (0..1 + rng.below(3))
        .map(|_| rng.pick(ENVS).to_string())
        .collect()
}

/// Every lookup the flows make, asked of both, plus the index against one
/// rebuilt from the entries.
fn check(cache: &TokenCache, model: &Model, rng: &mut Rng, step: usize) {
    assert_eq!(
        cache.has_state_changed(),
        model.changed,
        "step {step}: has_state_changed"
    );
    for _ in 0..20 {
        let hid = *rng.pick(HIDS);
        let (environment, client_id, realm) = (*rng.pick(ENVS), *rng.pick(CLIENTS), *rng.pick(REALMS));
        let query = AccessTokenQuery {
            home_account_id: hid,
            environment,
            client_id,
            realm,
        };
        let scopes = scopes_of(rng, 3);
        let now = rng.below(4) as u64 * 1_000;
        assert_eq!(
            cache.find_access_token(&query, &scopes, now),
            model.find_access_token(&query, &scopes, now),
            "step {step}: find_access_token {hid:?} {} {} {} {scopes:?} at {now}",
            query.environment,
            query.client_id,
            query.realm,
        );
    }
    for environment in ENVS {
        assert_eq!(
            cache.accounts(environment).to_vec(),
            model.accounts(environment),
            "step {step}: accounts"
        );
    }
    for _ in 0..5 {
        let hid = rng.pick(HIDS).unwrap_or("uid1.utid");
        let envs = envs_of(rng);
        assert_eq!(
            cache.accounts_of(hid, &envs),
            model.accounts_of(hid, &envs),
            "step {step}: accounts_of"
        );
        let client = *rng.pick(CLIENTS);
        assert_eq!(
            cache.refresh_tokens_of(hid, &envs, |rt| rt.client_id.eq_ignore_ascii_case(client)),
            model.refresh_tokens_of(hid, &envs, client),
            "step {step}: refresh_tokens_of"
        );
    }
    let state = cache.read();
    let rebuilt = Indexed::new(serde_json::from_str(&model.json()).unwrap());
    // `assert!`, not `assert_eq!`: the whole index would flood the output.
    assert!(
        state.data.index() == rebuilt.index(),
        "step {step}: index drifted from the entries"
    );
}

thread_local! {
    /// Makes every index group id the same (on this test's thread), so each
    /// lookup gets every key of its kind and must filter by fields itself.
    pub(super) static ALL_GROUPS_COLLIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[test]
fn random_operations_agree_with_a_linear_scan() {
    random_operations(1..=8);
}

#[test]
fn colliding_group_ids_change_no_answer() {
    ALL_GROUPS_COLLIDE.set(true);
    random_operations(9..=12);
    ALL_GROUPS_COLLIDE.set(false);
}

fn random_operations(seeds: std::ops::RangeInclusive<u64>) {
    for seed in seeds {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x1000_0000_01B3));
        let cache = TokenCache::new();
        let mut model = Model::default();
        let mut serial = 0;
        for step in 0..200 {
            serial += 1;
            match rng.below(100) {
                0..=54 => {
                    let write = Write::random(&mut rng, serial);
                    model.add(write.clone());
                    cache.add(write.into_cache_write());
                }
                55..=69 => {
                    let environment = *rng.pick(ENVS);
                    let hid = rng.pick(HIDS).unwrap_or("uid2.utid");
                    let client = *rng.pick(CLIENTS);
                    assert_eq!(
                        cache.remove_account(environment, hid, client),
                        model.remove_account(environment, hid, client),
                        "seed {seed} step {step}: remove_account"
                    );
                }
                70..=79 => {
                    let existing: Vec<RefreshTokenEntry> =
                        model.data.refresh_tokens.values().cloned().collect();
                    let old = if existing.is_empty() || rng.chance(20) {
                        refresh_token(&mut rng, serial)
                    } else {
                        rng.pick(&existing).clone()
                    };
                    let new_secret = CachedSecret::new(format!("rt-new-{serial}"));
                    model.update_refresh_token(&old, &new_secret, 9);
                    cache.update_refresh_token(&old, &new_secret, 9);
                }
                80..=89 => {
                    // Save and reload.
                    let json = cache.serialize();
                    assert_eq!(json, model.json(), "seed {seed} step {step}: serialized form");
                    model.changed = false;
                    cache.deserialize(&json).unwrap();
                }
                _ => {
                    // Another MSAL's entries under keys this library would not
                    // build: found by their fields all the same.
                    let mut doc: serde_json::Value = serde_json::from_str(&model.json()).unwrap();
                    let at = serde_json::to_value(access_token(&mut rng, serial)).unwrap();
                    doc["AccessToken"][format!("foreign-at-{serial}")] = at;
                    let rt = serde_json::to_value(refresh_token(&mut rng, serial)).unwrap();
                    doc["RefreshToken"][format!("FOREIGN-rt-{serial}")] = rt;
                    let acct = serde_json::to_value(account(&mut rng, serial)).unwrap();
                    doc["Account"][format!("foreign-account-{serial}")] = acct;
                    let json = doc.to_string();
                    model = Model::load(&json);
                    cache.deserialize(&json).unwrap();
                }
            }
            check(&cache, &model, &mut rng, step);
        }
        assert_eq!(
            cache.serialize(),
            model.json(),
            "seed {seed}: final serialized form"
        );
    }
}

#[test]
fn rebuilding_from_a_document_gives_the_incremental_index() {
    let mut rng = Rng(42);
    let cache = TokenCache::new();
    for serial in 0..200 {
        cache.add(Write::random(&mut rng, serial).into_cache_write());
    }
    let reloaded = TokenCache::from_json(&cache.serialize()).unwrap();
    assert!(cache.read().data.index() == reloaded.read().data.index());
    // And the index is not trivially empty.
    assert!(cache.read().data.index() != &Index::default());
}

fn at(
    hid: Option<&str>,
    env: &str,
    client: &str,
    realm: &str,
    scopes: &[&str],
    expires_on: u64,
    secret: &str,
) -> AccessTokenEntry {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    AccessTokenEntry {
        credential_type: "AccessToken".into(),
        secret: CachedSecret::new(secret),
        home_account_id: hid.map(Into::into),
        environment: env.into(),
        client_id: client.into(),
        target: target(&scopes).into(),
        realm: realm.into(),
        expires_on,
        ..Default::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn subset_scopes_pick_the_longest_lived_covering_token_of_the_bucket_only() {
    let cache = TokenCache::new();
    let hid = Some("uid.utid");
    cache.add_access_token(at(
        hid,
        "login.example.com",
        "client",
        "tenant",
        &["a", "b"],
        5_000,
        "ab",
    ));
    cache.add_access_token(at(
        hid,
        "login.example.com",
        "client",
        "tenant",
        &["a", "b", "c"],
        9_000,
        "abc",
    ));
    cache.add_access_token(at(
        hid,
        "login.example.com",
        "client",
        "tenant",
        &["x"],
        20_000,
        "x",
    ));
    // Same scopes, other buckets, longer lived: never chosen.
    cache.add_access_token(at(
        Some("other.utid"),
        "login.example.com",
        "client",
        "tenant",
        &["a", "b", "c"],
        30_000,
        "other-account",
    ));
    cache.add_access_token(at(
        hid,
        "login.example.com",
        "client-2",
        "tenant",
        &["a", "b", "c"],
        30_000,
        "other-client",
    ));
    cache.add_access_token(at(
        hid,
        "login.example.com",
        "client",
        "tenant-2",
        &["a", "b", "c"],
        30_000,
        "other-realm",
    ));
    cache.add_access_token(at(
        hid,
        "other.example.com",
        "client",
        "tenant",
        &["a", "b", "c"],
        30_000,
        "other-env",
    ));
    cache.add_access_token(at(
        None,
        "login.example.com",
        "client",
        "tenant",
        &["a", "b", "c"],
        30_000,
        "app-only",
    ));

    // Case never matters for environment, client or realm, nor for scopes.
    let query = AccessTokenQuery {
        home_account_id: hid,
        environment: "LOGIN.Example.COM",
        client_id: "CLIENT",
        realm: "Tenant",
    };
    let find = |scopes: &[&str], now| {
        cache
            .find_access_token(&query, &strings(scopes), now)
            .map(|e| e.secret.expose().to_owned())
    };
    // Subset of both: the later-expiring one.
    assert_eq!(find(&["a"], 0).as_deref(), Some("abc"));
    assert_eq!(find(&["B", "a"], 0).as_deref(), Some("abc"));
    // Exact match wins even when a wider token lives longer.
    assert_eq!(find(&["b", "a"], 0).as_deref(), Some("ab"));
    assert_eq!(find(&["c"], 0).as_deref(), Some("abc"));
    assert_eq!(find(&["a", "x"], 0), None);
    // Both within the expiry margin: nothing, though tokens of other buckets live on.
    assert_eq!(find(&["a"], 4_000).as_deref(), Some("abc"));
    assert_eq!(find(&["a"], 8_800), None);
    assert_eq!(find(&["c"], 8_700), None);
    // The app-only bucket is separate from the account's.
    let app = AccessTokenQuery {
        home_account_id: None,
        ..query
    };
    assert_eq!(
        cache
            .find_access_token(&app, &strings(&["a"]), 0)
            .map(|e| e.secret.expose().to_owned())
            .as_deref(),
        Some("app-only")
    );
    // home_account_id is matched exactly, as before.
    let upper = AccessTokenQuery {
        home_account_id: Some("UID.UTID"),
        ..query
    };
    assert_eq!(cache.find_access_token(&upper, &strings(&["a"]), 0), None);
}
