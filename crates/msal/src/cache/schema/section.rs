//! A section of the cache document (`AccessToken`, `Account`, ...): its
//! entries by key, in key order, and the [`Key`] type that holds the keys.
//!
//! A key is held as one or two shared parts read one after the other. A
//! key read from a document whose text starts with its entry's home account
//! id is held as that id (the entry's own shared copy) followed by the rest,
//! which is the same for every user of one client, tenant and scope set and
//! shared too: a 10,000-account cache then holds no key text of its own,
//! where its keys alone used to take 8 MB. Keys made at run time are one
//! part. Order and equality are the text's, whatever the parts.
//!
//! [`Section`] is a `BTreeMap` whose lookups take any key text: a `&str`,
//! a [`Key`], or `&**key` (a key dereferences to its [`KeyText`]).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, btree_map};
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::Str;

/// Text that can name an entry: read as two parts, one after the other.
pub(crate) trait KeyText {
    /// The text's two parts (the second often empty).
    fn parts(&self) -> (&str, &str);
}

impl KeyText for str {
    fn parts(&self) -> (&str, &str) {
        (self, "")
    }
}

impl KeyText for String {
    fn parts(&self) -> (&str, &str) {
        (self, "")
    }
}

/// A lookup's key, borrowed.
impl KeyText for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        *self
    }
}

impl KeyText for Key {
    #[inline]
    fn parts(&self) -> (&str, &str) {
        let tail = match &self.tail {
            Some(tail) => &tail.0,
            None => "",
        };
        (&self.head, tail)
    }
}

/// Compares the texts `a.0 + a.1` and `b.0 + b.1` without joining them.
/// Lookups compare a whole text with stored keys, mostly split ones: those
/// two shapes take a direct path.
#[inline]
fn compare(a: (&str, &str), b: (&str, &str)) -> Ordering {
    match (a.1.is_empty(), b.1.is_empty()) {
        (true, true) => a.0.cmp(b.0),
        (false, true) => split_with_whole(a, b.0),
        (true, false) => split_with_whole(b, a.0).reverse(),
        (false, false) => compare_parts(a, b),
    }
}

/// Compares `head + tail` with `whole`.
#[inline]
fn split_with_whole((head, tail): (&str, &str), whole: &str) -> Ordering {
    let (head, whole) = (head.as_bytes(), whole.as_bytes());
    match whole.split_at_checked(head.len()) {
        Some((start, rest)) => head.cmp(start).then_with(|| tail.as_bytes().cmp(rest)),
        // `whole` is shorter than `head`: decided within it.
        None => match head.get(..whole.len()).map(|start| start.cmp(whole)) {
            Some(Ordering::Equal) | None => Ordering::Greater,
            Some(unequal) => unequal,
        },
    }
}

/// [`compare`] for any two splits.
fn compare_parts(a: (&str, &str), b: (&str, &str)) -> Ordering {
    let (mut x, mut x_next) = (a.0.as_bytes(), a.1.as_bytes());
    let (mut y, mut y_next) = (b.0.as_bytes(), b.1.as_bytes());
    loop {
        if x.is_empty() {
            if x_next.is_empty() {
                return if y.is_empty() && y_next.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Less
                };
            }
            (x, x_next) = (x_next, &[]);
            continue;
        }
        if y.is_empty() {
            if y_next.is_empty() {
                return Ordering::Greater;
            }
            (y, y_next) = (y_next, &[]);
            continue;
        }
        let n = x.len().min(y.len());
        let ((x_now, x_rest), (y_now, y_rest)) = (x.split_at(n), y.split_at(n));
        match x_now.cmp(y_now) {
            Ordering::Equal => (x, y) = (x_rest, y_rest),
            unequal => return unequal,
        }
    }
}

/// Whether two texts are equal, parts aside.
fn equal(a: (&str, &str), b: (&str, &str)) -> bool {
    a.0.len() + a.1.len() == b.0.len() + b.1.len() && compare(a, b) == Ordering::Equal
}

impl PartialEq for dyn KeyText + '_ {
    fn eq(&self, other: &Self) -> bool {
        equal(self.parts(), other.parts())
    }
}

impl Eq for dyn KeyText + '_ {}

impl PartialOrd for dyn KeyText + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn KeyText + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.parts(), other.parts())
    }
}

/// A map key, shared with the index's sets; see the module doc.
#[derive(Clone)]
pub(crate) struct Key {
    head: Str,
    tail: Option<Tail>,
}

/// The shared rest of split keys, behind a thin pointer: every key (in the
/// maps and the index) is 8 bytes smaller than with a second `Str`.
#[derive(Clone)]
pub(crate) struct Tail(std::sync::Arc<Box<str>>);

impl Tail {
    pub(crate) fn new(text: &str) -> Self {
        Self(std::sync::Arc::new(Box::from(text)))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Key {
    /// The key `head + tail`, both shared with whatever else holds them.
    pub(crate) fn split(head: Str, tail: Tail) -> Self {
        Self {
            head,
            tail: Some(tail),
        }
    }

    /// The key's text in one piece, in `out` (cleared first).
    pub(crate) fn write_to(&self, out: &mut String) {
        out.clear();
        let (head, tail) = self.parts();
        out.push_str(head);
        out.push_str(tail);
    }

    /// How many parts hold the text (for tests of the sharing).
    #[cfg(test)]
    pub(crate) fn is_split(&self) -> bool {
        self.tail.is_some()
    }
}

impl From<Str> for Key {
    fn from(text: Str) -> Self {
        Self {
            head: text,
            tail: None,
        }
    }
}

impl From<String> for Key {
    fn from(text: String) -> Self {
        Self::from(Str::from(text))
    }
}

impl From<&str> for Key {
    fn from(text: &str) -> Self {
        Self::from(Str::from(text))
    }
}

/// `&**key` is the key's text, for lookups written for `Arc<str>` keys.
impl std::ops::Deref for Key {
    type Target = dyn KeyText;

    fn deref(&self) -> &(dyn KeyText + 'static) {
        self
    }
}

impl<'a> Borrow<dyn KeyText + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyText + 'a) {
        self
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        equal(self.parts(), other.parts())
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.parts(), other.parts())
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        equal(self.parts(), other.parts())
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        equal(self.parts(), other.parts())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, tail) = self.parts();
        f.write_str(head)?;
        f.write_str(tail)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

/// The entries of one section by key, in key order (the serialized order).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Section<V>(BTreeMap<Key, V>);

impl<V> Default for Section<V> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<V> Section<V> {
    pub(crate) fn get<Q: KeyText + ?Sized>(&self, key: &Q) -> Option<&V> {
        self.0.get(&key.parts() as &dyn KeyText)
    }

    #[cfg(test)]
    pub(crate) fn get_mut<Q: KeyText + ?Sized>(&mut self, key: &Q) -> Option<&mut V> {
        self.0.get_mut(&key.parts() as &dyn KeyText)
    }

    #[cfg(test)]
    pub(crate) fn contains_key<Q: KeyText + ?Sized>(&self, key: &Q) -> bool {
        self.0.contains_key(&key.parts() as &dyn KeyText)
    }

    /// Stores `value` under `key`; an entry already there keeps its key
    /// (the allocation the index shares) and is returned.
    pub(crate) fn insert(&mut self, key: Key, value: V) -> Option<V> {
        self.0.insert(key, value)
    }

    pub(crate) fn remove<Q: KeyText + ?Sized>(&mut self, key: &Q) -> Option<V> {
        self.0.remove(&key.parts() as &dyn KeyText)
    }

    pub(crate) fn remove_entry<Q: KeyText + ?Sized>(&mut self, key: &Q) -> Option<(Key, V)> {
        self.0.remove_entry(&key.parts() as &dyn KeyText)
    }

    /// Moves every entry of `other` here; of equal keys, `other`'s stays.
    pub(crate) fn append(&mut self, other: &mut Self) {
        self.0.append(&mut other.0);
    }

    #[cfg(test)]
    pub(crate) fn retain(&mut self, keep: impl FnMut(&Key, &mut V) -> bool) {
        self.0.retain(keep);
    }

    pub(crate) fn iter(&self) -> btree_map::Iter<'_, Key, V> {
        self.0.iter()
    }

    pub(crate) fn values(&self) -> btree_map::Values<'_, Key, V> {
        self.0.values()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Builds full nodes from the pairs; of equal keys the later stays.
impl<V> FromIterator<(Key, V)> for Section<V> {
    fn from_iter<I: IntoIterator<Item = (Key, V)>>(pairs: I) -> Self {
        Self(pairs.into_iter().collect())
    }
}

impl<V> IntoIterator for Section<V> {
    type Item = (Key, V);
    type IntoIter = btree_map::IntoIter<Key, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a Section<V> {
    type Item = (&'a Key, &'a V);
    type IntoIter = btree_map::Iter<'a, Key, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<V> Section<V> {
    /// Writes the section in key order, each entry as `entry` shows it
    /// (the entry behind an `Arc`, say), each key joined in one reused buffer.
    pub(crate) fn serialize_as<S: Serializer, T: Serialize + ?Sized>(
        &self,
        serializer: S,
        entry: impl Fn(&V) -> &T,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        let mut text = String::new();
        for (key, value) in self {
            let name = match key.parts() {
                (whole, "") => whole,
                _ => {
                    key.write_to(&mut text);
                    text.as_str()
                }
            };
            map.serialize_entry(name, entry(value))?;
        }
        map.end()
    }
}

impl<V: Serialize> Serialize for Section<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_as(serializer, |value| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(head: &str, tail: &str) -> Key {
        Key::split(head.into(), Tail::new(tail))
    }

    #[test]
    fn order_and_equality_are_the_texts_whatever_the_parts() {
        let texts = [
            "",
            "a",
            "a-",
            "a-b",
            "a-c",
            "ab",
            "b",
            "b-a-long-tail",
            "é-x",
            "ü",
        ];
        // Every split of every text.
        let keys: Vec<(String, Key)> = texts
            .iter()
            .flat_map(|text| {
                let whole = (text.to_string(), Key::from(*text));
                let splits = (0..=text.len())
                    .filter(|&at| text.is_char_boundary(at))
                    .map(|at| (text.to_string(), split(&text[..at], &text[at..])));
                std::iter::once(whole).chain(splits)
            })
            .collect();
        for (text_a, a) in &keys {
            assert_eq!(a.to_string(), *text_a);
            for (text_b, b) in &keys {
                assert_eq!(a.cmp(b), text_a.cmp(text_b), "{a:?} vs {b:?}");
                assert_eq!(a == b, text_a == text_b, "{a:?} vs {b:?}");
                let probe: &dyn KeyText = &text_b.as_str().parts();
                assert_eq!((**a).cmp(probe), text_a.cmp(text_b));
            }
        }
    }

    #[test]
    fn lookups_take_any_spelling_of_a_key() {
        let mut section = Section::default();
        section.insert(split("uid.utid", "-env-accesstoken-client-realm-scope"), 1);
        section.insert(Key::from("appmetadata-env-client"), 2);
        section.insert(split("uid2.utid", "-env-realm"), 3);
        assert_eq!(
            section.get("uid.utid-env-accesstoken-client-realm-scope"),
            Some(&1)
        );
        assert_eq!(section.get(&String::from("appmetadata-env-client")), Some(&2));
        let same = Key::from("uid2.utid-env-realm");
        assert_eq!(section.get(&*same), Some(&3));
        assert_eq!(section.get(&same), Some(&3));
        assert_eq!(section.get("uid.utid-env"), None);
        // Replacing keeps one entry per text.
        assert_eq!(
            section.insert(Key::from("uid.utid-env-accesstoken-client-realm-scope"), 4),
            Some(1)
        );
        assert_eq!(section.len(), 3);
        let order: Vec<String> = section.iter().map(|(key, _)| key.to_string()).collect();
        assert_eq!(
            order,
            [
                "appmetadata-env-client",
                "uid.utid-env-accesstoken-client-realm-scope",
                "uid2.utid-env-realm"
            ]
        );
        assert_eq!(section.remove("uid2.utid-env-realm"), Some(3));
        assert!(!section.contains_key("uid2.utid-env-realm"));
        let json = serde_json::to_string(&section).unwrap();
        assert_eq!(
            json,
            r#"{"appmetadata-env-client":2,"uid.utid-env-accesstoken-client-realm-scope":4}"#
        );
    }
}
