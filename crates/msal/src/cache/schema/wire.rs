//! Reading and writing the schema's JSON by hand instead of through serde's
//! derive, for reasons that matter at tens of megabytes:
//!
//! - The derive buffers every entry that has `#[serde(flatten)]` fields
//!   (and the whole document, for the flattened unknown sections) into an
//!   intermediate tree before filling the struct. Here each value is read
//!   once, straight into its field; only unknown fields become `Value`s.
//! - Repeated text (environment, client id, realm, target, home account id)
//!   is interned while reading: one shared allocation per distinct value,
//!   and keys are made of it (see [`section`](super::section)).
//! - Secrets are packed into a few large zeroed-on-drop buffers
//!   ([`SecretArena`]) instead of one allocation each.
//! - The index is built as each section is read ([`Loaded`]), not in a
//!   second pass over the finished maps.
//!
//! Duplicate names keep the last value, as Python's `json` (and so MSAL
//! Python) does. Field order on output is the declaration order, then the
//! unknown fields, as the derive wrote them.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    AccessTokenEntry, AccountEntry, AppMetadataEntry, CacheData, IdTokenEntry, Key, RefreshTokenEntry,
    Section, Str, Tail,
};
use crate::cache::index::Index;
use crate::secret::{CachedSecret, SecretArena, SecretSpan};

/// How many fields remember the last text they read (see [`Interner::intern_at`]).
const RECENT: usize = 16;

/// The slot of home account ids (see [`Interner::intern_owner`]).
pub(crate) const OWNER_SLOT: usize = usize::MAX;

/// One shared copy of each distinct text read from one document. Hashed
/// with foldhash: seeded per process, and several times faster than SipHash
/// on the short strings of a cache.
#[derive(Default)]
pub(crate) struct Interner {
    texts: foldhash::HashSet<Str>,
    /// The last text read into each field slot: consecutive entries mostly
    /// repeat it, and a comparison is cheaper than a hash lookup.
    recent: [Option<Str>; RECENT],
    /// Home account ids, one per account, in the order of the first section
    /// that has any. Keys start with the id, so every section lists the
    /// accounts in that order: the id read is nearly always the one
    /// expected, and it is not hashed (nor held in `texts`).
    owners: Vec<Str>,
    /// The position in `owners` of the id expected next.
    next_owner: usize,
    /// The id read last (an account's entries are adjacent).
    last_owner: Option<Str>,
}

impl Interner {
    pub(crate) fn intern(&mut self, text: &str) -> Str {
        if let Some(shared) = self.texts.get(text) {
            return shared.clone();
        }
        let shared = Str::from(text);
        self.texts.insert(shared.clone());
        shared
    }

    /// A home account id (see `owners`): the one just read, the one
    /// expected (or the one after, when a section lacks an account), or in
    /// an unexpected order one from `texts` (a copy, if the id was first
    /// read in the first section, which holds them apart).
    fn intern_owner(&mut self, text: &str) -> Str {
        let shared = match &self.last_owner {
            Some(last) if **last == *text => return last.clone(),
            _ => self.expected(text).unwrap_or_else(|| {
                if self.owners.is_empty() {
                    // The first section: listed once it is read (see `list_owners`).
                    Str::from(text)
                } else {
                    self.intern(text)
                }
            }),
        };
        self.last_owner = Some(shared.clone());
        shared
    }

    /// The owner expected next, if `text` is it (or the one after it).
    fn expected(&mut self, text: &str) -> Option<Str> {
        for skip in 0..2 {
            let at = self.next_owner + skip;
            if let Some(owner) = self.owners.get(at)
                && **owner == *text
            {
                self.next_owner = at + 1;
                return Some(owner.clone());
            }
        }
        None
    }

    /// A section starts: its accounts are expected from the first.
    fn start_section(&mut self) {
        self.next_owner = 0;
        self.last_owner = None;
    }

    /// Lists the accounts of the first section that has any, in its order,
    /// from its entries' (already shared) ids.
    fn list_owners<'a>(&mut self, ids: impl Iterator<Item = &'a Str> + Clone) {
        if !self.owners.is_empty() {
            return;
        }
        let distinct = |ids: &mut dyn Iterator<Item = &'a Str>| {
            let mut last: Option<&Str> = None;
            ids.filter(move |id| {
                let new = last.is_none_or(|last| !Str::ptr_eq(last, id));
                last = Some(id);
                new
            })
            .count()
        };
        // Sized exactly: the list lives as long as the load.
        let mut owners = Vec::with_capacity(distinct(&mut ids.clone()));
        for id in ids {
            if owners.last().is_none_or(|last: &Str| !Str::ptr_eq(last, id)) {
                owners.push(id.clone());
            }
        }
        self.owners = owners;
    }

    /// [`intern`](Self::intern), trying the last text of `slot` first.
    fn intern_at(&mut self, slot: usize, text: &str) -> Str {
        if slot == OWNER_SLOT {
            return self.intern_owner(text);
        }
        let slot = slot % RECENT;
        if let Some(Some(last)) = self.recent.get(slot)
            && **last == *text
        {
            return last.clone();
        }
        let shared = self.intern(text);
        if let Some(last) = self.recent.get_mut(slot) {
            *last = Some(shared.clone());
        }
        shared
    }
}

/// What one load keeps between values: the interner, the secrets' buffers,
/// the key being read and the index being built.
#[derive(Default)]
pub(crate) struct Loader {
    interner: Interner,
    secrets: SecretArena,
    /// The text of the key whose entry is being read.
    key: String,
    /// Where the secret of the entry being read went, until its buffer is sealed.
    secret: Option<SecretSpan>,
    /// One shared copy of each key tail, and the last one (the next key's, mostly).
    tails: foldhash::HashMap<Box<str>, Tail>,
    last_tail: Option<Tail>,
    /// How many entries the last section had.
    section_len: usize,
    index: Index,
    /// Whether the index holds entries replaced since (see [`SectionSeed`]).
    stale_index: bool,
}

impl Loader {
    /// The key just read, for an entry of `owner` (its home account id):
    /// when the key starts with the owner, that shared text and a shared
    /// rest (see [`section`](super::section)); otherwise a copy.
    fn key_for(&mut self, owner: Option<&Str>) -> Key {
        let Self {
            key,
            interner,
            tails,
            last_tail,
            ..
        } = self;
        if let Some(owner) = owner.filter(|o| !o.is_empty())
            && let (Some(head), Some(tail)) = (key.get(..owner.len()), key.get(owner.len()..))
            && !tail.is_empty()
            && head.eq_ignore_ascii_case(owner)
        {
            // Keys are lowercase; most home account ids are too.
            let head = if head == &**owner {
                owner.clone()
            } else {
                interner.intern(head)
            };
            let tail = match last_tail {
                Some(last) if last.as_str() == tail => last.clone(),
                _ => {
                    let shared = match tails.get(tail) {
                        Some(shared) => shared.clone(),
                        None => {
                            let shared = Tail::new(tail);
                            tails.insert(Box::from(tail), shared.clone());
                            shared
                        }
                    };
                    *last_tail = Some(shared.clone());
                    shared
                }
            };
            return Key::split(head, tail);
        }
        Key::from(key.as_str())
    }
}

/// A field type the [`entry!`] macro knows how to read and write.
pub(crate) trait Field: Sized {
    /// `slot` is `None` for text that is (nearly always) unique to its
    /// entry, such as a username: interning it would only cost a lookup.
    fn read<'de, A: MapAccess<'de>>(
        map: &mut A,
        loader: &mut Loader,
        slot: Option<usize>,
    ) -> Result<Self, A::Error>;
    /// Whether a `[skip_none]` field is left out.
    fn is_none(&self) -> bool {
        false
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error>;
    /// The field as the entry's secret, if it is one.
    fn as_secret(&mut self) -> Option<&mut CachedSecret> {
        None
    }
}

impl Field for Str {
    fn read<'de, A: MapAccess<'de>>(
        map: &mut A,
        loader: &mut Loader,
        slot: Option<usize>,
    ) -> Result<Self, A::Error> {
        map.next_value_seed(StrSeed(slot.map(|slot| (&mut loader.interner, slot))))
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry(name, &**self)
    }
}

impl Field for Option<Str> {
    fn read<'de, A: MapAccess<'de>>(
        map: &mut A,
        loader: &mut Loader,
        slot: Option<usize>,
    ) -> Result<Self, A::Error> {
        map.next_value_seed(OptionSeed(StrSeed(slot.map(|slot| (&mut loader.interner, slot)))))
    }
    fn is_none(&self) -> bool {
        self.is_none()
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry(name, &self.as_deref())
    }
}

/// Read into the load's [`SecretArena`]; the entry gets it once the
/// buffer is sealed (see [`SectionSeed`]).
impl Field for CachedSecret {
    fn read<'de, A: MapAccess<'de>>(
        map: &mut A,
        loader: &mut Loader,
        _: Option<usize>,
    ) -> Result<Self, A::Error> {
        loader.secret = Some(map.next_value_seed(SecretSeed(&mut loader.secrets))?);
        Ok(CachedSecret::default())
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry(name, self)
    }
    fn as_secret(&mut self) -> Option<&mut CachedSecret> {
        Some(self)
    }
}

/// Times: epoch seconds, written as a string; a missing or null time is 0.
impl Field for u64 {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, _: &mut Loader, _: Option<usize>) -> Result<Self, A::Error> {
        map.next_value_seed(EpochSeed).map(Option::unwrap_or_default)
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry(name, &self.to_string())
    }
}

impl Field for Option<u64> {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, _: &mut Loader, _: Option<usize>) -> Result<Self, A::Error> {
        map.next_value_seed(EpochSeed)
    }
    fn is_none(&self) -> bool {
        self.is_none()
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        match self {
            Some(time) => map.serialize_entry(name, &time.to_string()),
            None => map.serialize_entry(name, &()),
        }
    }
}

/// An entry type: read from a JSON object field by field.
pub(crate) trait Entry: Sized {
    fn read_map<'de, A: MapAccess<'de>>(map: A, loader: &mut Loader) -> Result<Self, A::Error>;
    /// The entry's secret, if it has one.
    fn secret_mut(&mut self) -> Option<&mut CachedSecret>;
}

/// Declares an entry struct (every field public, plus `extra`) with its
/// reader and its `Serialize`. A field marked `[skip_none]` is left out
/// of the output when it is `None` (otherwise `None` is written as `null`);
/// one marked `[unique]` is not interned; `[owner]` marks the home account
/// id (see [`Interner::intern_owner`]).
macro_rules! entry {
    (
        $(#[$meta:meta])*
        pub(crate) struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty $([$flag:ident])? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub(crate) struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
            /// Fields this library does not know, kept as they were.
            pub extra: $crate::cache::schema::Extra,
        }

        impl $crate::cache::schema::wire::Entry for $name {
            fn read_map<'de, A: ::serde::de::MapAccess<'de>>(
                mut map: A,
                loader: &mut $crate::cache::schema::wire::Loader,
            ) -> Result<Self, A::Error> {
                use $crate::cache::schema::wire::Field as _;

                #[allow(non_camel_case_types)]
                enum Name {
                    $($field,)*
                    Other(String),
                }
                /// Each field's slot of recent text in the interner.
                #[allow(non_camel_case_types)]
                enum Slot {
                    $($field,)*
                }
                struct NameVisitor;
                impl ::serde::de::Visitor<'_> for NameVisitor {
                    type Value = Name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_str<E: ::serde::de::Error>(self, name: &str) -> Result<Name, E> {
                        Ok(match name {
                            $(stringify!($field) => Name::$field,)*
                            other => Name::Other(other.to_owned()),
                        })
                    }
                }
                impl<'de> ::serde::Deserialize<'de> for Name {
                    fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                        d.deserialize_identifier(NameVisitor)
                    }
                }

                let mut entry = Self::default();
                while let Some(name) = map.next_key::<Name>()? {
                    match name {
                        $(Name::$field => {
                            let slot = if $crate::cache::schema::wire::entry!(@owner $($flag)?) {
                                Some($crate::cache::schema::wire::OWNER_SLOT)
                            } else if $crate::cache::schema::wire::entry!(@unique $($flag)?) {
                                None
                            } else {
                                Some(Slot::$field as usize)
                            };
                            entry.$field = <$ty>::read(&mut map, loader, slot)?;
                        })*
                        Name::Other(name) => {
                            let value: ::serde_json::Value = map.next_value()?;
                            entry.extra.insert(name, value);
                        }
                    }
                }
                Ok(entry)
            }

            fn secret_mut(&mut self) -> Option<&mut $crate::secret::CachedSecret> {
                use $crate::cache::schema::wire::Field as _;
                $(
                    if let Some(secret) = self.$field.as_secret() {
                        return Some(secret);
                    }
                )*
                None
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ::serde::ser::SerializeMap as _;
                use $crate::cache::schema::wire::Field as _;
                let mut map = serializer.serialize_map(None)?;
                $(
                    if !($crate::cache::schema::wire::entry!(@skip $($flag)?) && self.$field.is_none()) {
                        self.$field.write(stringify!($field), &mut map)?;
                    }
                )*
                for (name, value) in self.extra.iter() {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    };
    (@skip skip_none) => { true };
    (@skip $($other:ident)?) => { false };
    (@unique unique) => { true };
    (@unique $($other:ident)?) => { false };
    (@owner owner) => { true };
    (@owner $($other:ident)?) => { false };
}
pub(crate) use entry;

/// What each section's entries are held as, whose they are, and how they
/// are indexed.
pub(crate) trait SectionEntry: Entry {
    /// The map's value: the entry, or the entry shared.
    type Value;
    /// Whether the section is read in halves (see [`SectionSeed`]): the
    /// `Account` section, which every MSAL writes after the token sections
    /// (only `AppMetadata`, a few entries, comes later).
    const IN_HALVES: bool = false;
    /// The entry's home account id, which its key usually starts with.
    fn owner(&self) -> Option<&Str>;
    fn into_value(self) -> Self::Value;
    fn index(index: &mut Index, key: &Key, value: &Self::Value);
}

impl SectionEntry for AccessTokenEntry {
    /// Shared: lookups hand out the entry itself.
    type Value = Arc<AccessTokenEntry>;
    fn owner(&self) -> Option<&Str> {
        self.home_account_id.as_ref()
    }
    fn into_value(self) -> Self::Value {
        Arc::new(self)
    }
    fn index(index: &mut Index, key: &Key, value: &Self::Value) {
        index.add_access_token(key, value);
    }
}

impl SectionEntry for RefreshTokenEntry {
    type Value = Self;
    fn owner(&self) -> Option<&Str> {
        self.home_account_id.as_ref()
    }
    fn into_value(self) -> Self {
        self
    }
    fn index(index: &mut Index, key: &Key, value: &Self) {
        index.add_refresh_token(key, value);
    }
}

impl SectionEntry for IdTokenEntry {
    type Value = Self;
    fn owner(&self) -> Option<&Str> {
        self.home_account_id.as_ref()
    }
    fn into_value(self) -> Self {
        self
    }
    fn index(index: &mut Index, key: &Key, value: &Self) {
        index.add_id_token(key, value);
    }
}

impl SectionEntry for AccountEntry {
    type Value = Self;
    const IN_HALVES: bool = true;
    fn owner(&self) -> Option<&Str> {
        self.home_account_id.as_ref()
    }
    fn into_value(self) -> Self {
        self
    }
    fn index(index: &mut Index, key: &Key, value: &Self) {
        index.add_account(key, value);
    }
}

/// Looked up by exact key only: not indexed.
impl SectionEntry for AppMetadataEntry {
    type Value = Self;
    fn owner(&self) -> Option<&Str> {
        None
    }
    fn into_value(self) -> Self {
        self
    }
    fn index(_: &mut Index, _: &Key, _: &Self) {}
}

// ---- the document ----

impl Serialize for CacheData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("AccessToken", &Shared(&self.access_tokens))?;
        map.serialize_entry("RefreshToken", &self.refresh_tokens)?;
        map.serialize_entry("IdToken", &self.id_tokens)?;
        map.serialize_entry("Account", &self.accounts)?;
        map.serialize_entry("AppMetadata", &self.app_metadata)?;
        for (name, value) in &self.extra {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A section of shared entries, written as the entries themselves.
struct Shared<'a, T>(&'a Section<Arc<T>>);

impl<T: Serialize> Serialize for Shared<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_as(serializer, |entry| &**entry)
    }
}

/// A document as read: its entries and their index, built while reading.
pub(crate) struct Loaded {
    pub data: CacheData,
    pub index: Index,
}

impl<'de> Deserialize<'de> for Loaded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DocumentVisitor)
    }
}

/// The entries alone (the index built on the way is dropped).
impl<'de> Deserialize<'de> for CacheData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Loaded::deserialize(deserializer).map(|loaded| loaded.data)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Loaded;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an MSAL token cache (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loaded, A::Error> {
        let mut data = CacheData::default();
        let mut loader = Loader::default();
        // A section named twice replaces the first, whose entries the index holds already.
        let mut seen = [false; 5];
        let mut repeated = false;
        let mut first = |section: usize| match seen.get_mut(section) {
            Some(seen) => {
                repeated |= std::mem::replace(seen, true);
            }
            None => repeated = true,
        };
        while let Some(name) = map.next_key::<String>()? {
            let loader = &mut loader;
            match name.as_str() {
                "AccessToken" => {
                    first(0);
                    data.access_tokens = map.next_value_seed(SectionSeed::<AccessTokenEntry>::new(loader))?;
                }
                "RefreshToken" => {
                    first(1);
                    data.refresh_tokens =
                        map.next_value_seed(SectionSeed::<RefreshTokenEntry>::new(loader))?;
                }
                "IdToken" => {
                    first(2);
                    data.id_tokens = map.next_value_seed(SectionSeed::<IdTokenEntry>::new(loader))?;
                }
                "Account" => {
                    first(3);
                    data.accounts = map.next_value_seed(SectionSeed::<AccountEntry>::new(loader))?;
                }
                "AppMetadata" => {
                    first(4);
                    data.app_metadata = map.next_value_seed(SectionSeed::<AppMetadataEntry>::new(loader))?;
                }
                _ => {
                    let value: Value = map.next_value()?;
                    data.extra.insert(name, value);
                }
            }
        }
        let index = if repeated || loader.stale_index {
            Index::of(&data)
        } else {
            loader.index
        };
        Ok(Loaded { data, index })
    }
}

/// Reads one section: a map of keys to entries of type `T`, indexed as
/// they go into the map.
struct SectionSeed<'a, T> {
    loader: &'a mut Loader,
    entries: PhantomData<T>,
}

impl<'a, T> SectionSeed<'a, T> {
    fn new(loader: &'a mut Loader) -> Self {
        Self {
            loader,
            entries: PhantomData,
        }
    }
}

impl<'de, T: SectionEntry> DeserializeSeed<'de> for SectionSeed<'_, T> {
    type Value = Section<T::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: SectionEntry> Visitor<'de> for SectionSeed<'_, T> {
    type Value = Section<T::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a section of cache entries (a JSON object)")
    }

    /// Entries are read into a list, which becomes a map (in place, with
    /// full nodes) once the section is read. The section read last (see
    /// [`SectionEntry::IN_HALVES`]), expected to be as long as the one
    /// before, is read in two halves merged at the end: the list held
    /// beside the whole cache (the load's peak memory) is then half a
    /// section, for one more move of each of its entries.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let loader = self.loader;
        let half = match loader.section_len {
            expected if T::IN_HALVES && expected > 0 => (expected / 2 + 1).max(MIN_CHUNK),
            _ => usize::MAX,
        };
        let mut chunk = Chunk::<T>::new(loader.section_len.min(half));
        // Maps of earlier chunks, oldest first, each larger than the next.
        let mut runs: Vec<Section<T::Value>> = Vec::new();
        let mut read = 0;
        loader.interner.start_section();
        while map.next_key_seed(KeySeed(&mut loader.key))?.is_some() {
            loader.secret = None;
            let entry = map.next_value_seed(EntrySeed::<T>::new(loader))?;
            let key = loader.key_for(entry.owner());
            chunk.push(key, entry, loader.secret.take());
            read += 1;
            if chunk.entries.len() == half {
                let run = chunk.finish(loader, half);
                push_run(&mut runs, run);
            }
        }
        let run = chunk.finish(loader, 0);
        push_run(&mut runs, run);
        let mut section = runs.pop().unwrap_or_default();
        while let Some(mut older) = runs.pop() {
            older.append(&mut section);
            section = older;
        }
        // A key read twice: the later entry replaced the earlier, which the
        // index still holds (rare: rebuilt once the document is read).
        loader.stale_index |= section.len() != read;
        loader.section_len = section.len();
        Ok(section)
    }
}

/// The least number of entries read before a list becomes a map.
const MIN_CHUNK: usize = 1024;

/// Adds `run` (the newest) to `runs`, merging it into the one before while
/// that is no larger; later entries replace earlier ones with the same key.
fn push_run<V>(runs: &mut Vec<Section<V>>, mut run: Section<V>) {
    while let Some(older) = runs.last_mut()
        && older.len() <= run.len()
    {
        older.append(&mut run);
        if let Some(merged) = runs.pop() {
            run = merged;
        }
    }
    if !run.is_empty() || runs.is_empty() {
        runs.push(run);
    }
}

/// Entries read and not yet in a map, with where their secrets went.
struct Chunk<T> {
    entries: Vec<(Key, T)>,
    /// (position, span) of each secret, until its buffer is sealed.
    secrets: Vec<(usize, SecretSpan)>,
}

impl<T: SectionEntry> Chunk<T> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
            secrets: Vec::new(),
        }
    }

    fn push(&mut self, key: Key, entry: T, secret: Option<SecretSpan>) {
        if let Some(span) = secret {
            self.secrets.push((self.entries.len(), span));
        }
        self.entries.push((key, entry));
    }

    /// The entries as a map, their secrets filled in and indexed; the
    /// list is left empty, with room for `next` entries.
    fn finish(&mut self, loader: &mut Loader, next: usize) -> Section<T::Value> {
        loader.secrets.seal();
        for (at, span) in self.secrets.drain(..) {
            if let Some(secret) = self.entries.get_mut(at).and_then(|(_, entry)| entry.secret_mut()) {
                *secret = loader.secrets.secret(span);
            }
        }
        let entries = std::mem::take(&mut self.entries);
        loader
            .interner
            .list_owners(entries.iter().filter_map(|(_, entry)| entry.owner()));
        let index = &mut loader.index;
        // Sized once: about one account group per owned entry of a section.
        let owned = entries.iter().filter(|e| e.1.owner().is_some()).count();
        index.reserve_accounts(owned.max(loader.section_len));
        // The list becomes the map's input in place (no second list), sorted
        // (stably; our own files are sorted already) and of equal keys the
        // later kept, as with Python's json. The index took both: see the
        // count in `SectionSeed`.
        let section = entries
            .into_iter()
            .map(|(key, entry)| {
                let value = entry.into_value();
                T::index(index, &key, &value);
                (key, value)
            })
            .collect();
        if next > 0 {
            self.entries = Vec::with_capacity(next);
        }
        section
    }
}

struct EntrySeed<'a, T> {
    loader: &'a mut Loader,
    entry: PhantomData<T>,
}

impl<'a, T> EntrySeed<'a, T> {
    fn new(loader: &'a mut Loader) -> Self {
        Self {
            loader,
            entry: PhantomData,
        }
    }
}

impl<'de, T: Entry> DeserializeSeed<'de> for EntrySeed<'_, T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Entry> Visitor<'de> for EntrySeed<'_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cache entry (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::read_map(map, self.loader)
    }
}

// ---- scalar fields ----

/// A map key, copied into the loader's buffer until its entry is read
/// (see [`Loader::key_for`]).
struct KeySeed<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(key);
        Ok(())
    }
}

/// Text, interned (in a field's slot) when there is an interner.
struct StrSeed<'a>(Option<(&'a mut Interner, usize)>);

impl<'de> DeserializeSeed<'de> for StrSeed<'_> {
    type Value = Str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Str, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for StrSeed<'_> {
    type Value = Str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    /// `null` reads as empty text: MSAL Python 1.39 writes a system-assigned
    /// managed identity's tokens with `"client_id": null`, and such a file
    /// must load (its entries keyed with an empty client id, as Python keys them).
    fn visit_unit<E: de::Error>(self) -> Result<Str, E> {
        Ok(Str::from(""))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Str, E> {
        Ok(match self.0 {
            Some((interner, slot)) => interner.intern_at(slot, text),
            None => Str::from(text),
        })
    }
}

/// `null` (or a missing value) as `None`, anything else through the inner seed.
struct OptionSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// A secret, copied into the load's arena.
struct SecretSeed<'a>(&'a mut SecretArena);

impl<'de> DeserializeSeed<'de> for SecretSeed<'_> {
    type Value = SecretSpan;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<SecretSpan, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for SecretSeed<'_> {
    type Value = SecretSpan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, secret: &str) -> Result<SecretSpan, E> {
        Ok(self.0.push(secret))
    }
}

/// Epoch seconds from a string or a number; `null` is `None`.
struct EpochSeed;

impl<'de> DeserializeSeed<'de> for EpochSeed {
    type Value = Option<u64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<u64>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for EpochSeed {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("epoch seconds (a string or a number)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Option<u64>, E> {
        Ok(Some(seconds))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Option<u64>, E> {
        u64::try_from(seconds)
            .map(Some)
            .map_err(|_| E::custom("a time must be a non-negative number of seconds"))
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Option<u64>, E> {
        if seconds.is_finite() && seconds >= 0.0 {
            Ok(Some(seconds as u64))
        } else {
            Err(E::custom("a time must be a non-negative number of seconds"))
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<u64>, E> {
        let text = text.trim();
        match text.parse::<u64>() {
            Ok(seconds) => Ok(Some(seconds)),
            // Past u64 (a hand-edited or hostile file, which MSAL Python
            // serves as it is): the farthest future, as a number would saturate.
            Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(u64::MAX)),
            Err(_) => Err(E::custom(format!("a time must be epoch seconds, found {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests;
