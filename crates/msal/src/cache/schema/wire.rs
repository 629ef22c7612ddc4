//! Reading and writing the schema's JSON by hand instead of through serde's
//! derive, for two reasons that matter at tens of megabytes:
//!
//! - The derive buffers every entry that has `#[serde(flatten)]` fields
//!   (and the whole document, for the flattened unknown sections) into an
//!   intermediate tree before filling the struct. Here each value is read
//!   once, straight into its field; only unknown fields become `Value`s.
//! - Repeated text (environment, client id, realm, target, home account id)
//!   is interned while reading: one shared allocation per distinct value.
//!
//! Duplicate names keep the last value, as Python's `json` (and so MSAL
//! Python) does. Field order on output is the declaration order, then the
//! unknown fields, as the derive wrote them.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CacheData, Key, Str};
use crate::secret::CachedSecret;

/// One shared copy of each distinct text read from one document. Hashed
/// with foldhash: seeded per process, and several times faster than SipHash
/// on the short strings of a cache.
#[derive(Default)]
pub(crate) struct Interner(foldhash::HashSet<Str>);

impl Interner {
    pub(crate) fn intern(&mut self, text: &str) -> Str {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared = Str::from(text);
        self.0.insert(shared.clone());
        shared
    }
}

/// A field type the [`entry!`] macro knows how to read and write.
pub(crate) trait Field: Sized {
    /// `interner` is `None` for text that is (nearly always) unique to its
    /// entry, such as a username: interning it would only cost a lookup.
    fn read<'de, A: MapAccess<'de>>(map: &mut A, interner: Option<&mut Interner>) -> Result<Self, A::Error>;
    /// Whether a `[skip_none]` field is left out.
    fn is_none(&self) -> bool {
        false
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error>;
}

impl Field for Str {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, interner: Option<&mut Interner>) -> Result<Self, A::Error> {
        map.next_value_seed(StrSeed(interner))
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry(name, &**self)
    }
}

impl Field for Option<Str> {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, interner: Option<&mut Interner>) -> Result<Self, A::Error> {
        map.next_value_seed(OptionSeed(StrSeed(interner)))
    }
    fn is_none(&self) -> bool {
        self.is_none()
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry(name, &self.as_deref())
    }
}

impl Field for CachedSecret {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, _: Option<&mut Interner>) -> Result<Self, A::Error> {
        map.next_value_seed(SecretSeed)
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry(name, self)
    }
}

/// Times: epoch seconds, written as a string; a missing or null time is 0.
impl Field for u64 {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, _: Option<&mut Interner>) -> Result<Self, A::Error> {
        map.next_value_seed(EpochSeed).map(Option::unwrap_or_default)
    }
    fn write<M: SerializeMap>(&self, name: &'static str, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry(name, &self.to_string())
    }
}

impl Field for Option<u64> {
    fn read<'de, A: MapAccess<'de>>(map: &mut A, _: Option<&mut Interner>) -> Result<Self, A::Error> {
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
    fn read_map<'de, A: MapAccess<'de>>(map: A, interner: &mut Interner) -> Result<Self, A::Error>;
}

/// Entries the cache shares with its readers.
impl<T: Entry> Entry for std::sync::Arc<T> {
    fn read_map<'de, A: MapAccess<'de>>(map: A, interner: &mut Interner) -> Result<Self, A::Error> {
        T::read_map(map, interner).map(std::sync::Arc::new)
    }
}

/// Declares an entry struct (every field public, plus `extra`) with its
/// reader and its `Serialize`. A field marked `[skip_none]` is left out
/// of the output when it is `None` (otherwise `None` is written as `null`);
/// one marked `[unique]` is not interned.
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
                interner: &mut $crate::cache::schema::wire::Interner,
            ) -> Result<Self, A::Error> {
                use $crate::cache::schema::wire::Field as _;

                #[allow(non_camel_case_types)]
                enum Name {
                    $($field,)*
                    Other(String),
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
                            let interner = if $crate::cache::schema::wire::entry!(@unique $($flag)?) {
                                None
                            } else {
                                Some(&mut *interner)
                            };
                            entry.$field = <$ty>::read(&mut map, interner)?;
                        })*
                        Name::Other(name) => {
                            let value: ::serde_json::Value = map.next_value()?;
                            entry.extra.insert(name, value);
                        }
                    }
                }
                Ok(entry)
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
}
pub(crate) use entry;

// ---- the document ----

impl Serialize for CacheData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("AccessToken", &SharedSection(&self.access_tokens))?;
        map.serialize_entry("RefreshToken", &Section(&self.refresh_tokens))?;
        map.serialize_entry("IdToken", &Section(&self.id_tokens))?;
        map.serialize_entry("Account", &Section(&self.accounts))?;
        map.serialize_entry("AppMetadata", &Section(&self.app_metadata))?;
        for (name, value) in &self.extra {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A section written in key order.
struct Section<'a, T>(&'a BTreeMap<Key, T>);

impl<T: Serialize> Serialize for Section<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(key, entry)| (&**key, entry)))
    }
}

/// A section of shared entries, written as the entries themselves.
struct SharedSection<'a, T>(&'a BTreeMap<Key, std::sync::Arc<T>>);

impl<T: Serialize> Serialize for SharedSection<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(key, entry)| (&**key, &**entry)))
    }
}

impl<'de> Deserialize<'de> for CacheData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = CacheData;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an MSAL token cache (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CacheData, A::Error> {
        let mut data = CacheData::default();
        let mut interner = Interner::default();
        while let Some(name) = map.next_key::<String>()? {
            let interner = &mut interner;
            match name.as_str() {
                "AccessToken" => data.access_tokens = map.next_value_seed(SectionSeed::new(interner))?,
                "RefreshToken" => data.refresh_tokens = map.next_value_seed(SectionSeed::new(interner))?,
                "IdToken" => data.id_tokens = map.next_value_seed(SectionSeed::new(interner))?,
                "Account" => data.accounts = map.next_value_seed(SectionSeed::new(interner))?,
                "AppMetadata" => data.app_metadata = map.next_value_seed(SectionSeed::new(interner))?,
                _ => {
                    let value: Value = map.next_value()?;
                    data.extra.insert(name, value);
                }
            }
        }
        Ok(data)
    }
}

/// Reads one section: a map of keys to entries of type `T`.
struct SectionSeed<'a, T> {
    interner: &'a mut Interner,
    entries: PhantomData<T>,
}

impl<'a, T> SectionSeed<'a, T> {
    fn new(interner: &'a mut Interner) -> Self {
        Self {
            interner,
            entries: PhantomData,
        }
    }
}

impl<'de, T: Entry> DeserializeSeed<'de> for SectionSeed<'_, T> {
    type Value = BTreeMap<Key, T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Entry> Visitor<'de> for SectionSeed<'_, T> {
    type Value = BTreeMap<Key, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a section of cache entries (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: Vec<(Key, T)> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let entry = map.next_value_seed(EntrySeed::<T>::new(self.interner))?;
            entries.push((key, entry));
        }
        // Sorts (stably) and builds full nodes; of equal keys the later stays,
        // as with Python's json. (Merging in chunks instead would spare the
        // list's memory but cost a third more time.)
        Ok(entries.into_iter().collect())
    }
}

struct EntrySeed<'a, T> {
    interner: &'a mut Interner,
    entry: PhantomData<T>,
}

impl<'a, T> EntrySeed<'a, T> {
    fn new(interner: &'a mut Interner) -> Self {
        Self {
            interner,
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
        T::read_map(map, self.interner)
    }
}

// ---- scalar fields ----

/// A map key: its own allocation (keys are unique), shared later with the index.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(Key::from(key))
    }
}

/// Text, interned when there is an interner.
struct StrSeed<'a>(Option<&'a mut Interner>);

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
            Some(interner) => interner.intern(text),
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

struct SecretSeed;

impl<'de> DeserializeSeed<'de> for SecretSeed {
    type Value = CachedSecret;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<CachedSecret, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for SecretSeed {
    type Value = CachedSecret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, secret: &str) -> Result<CachedSecret, E> {
        Ok(CachedSecret::from_str(secret))
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
