//! XML as the federation server needs it: a writer that emits Exclusive XML
//! Canonicalization (exc-c14n) form directly, so the bytes it produces are
//! the bytes a signature covers; a bounded parser for hostile input; and
//! exc-c14n of a parsed subtree, to check signatures on what comes back.

use roxmltree::{Document, Node, NodeId, NodeType, ParsingOptions};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Most nodes a parsed document may have: SOAP requests and assertions
/// have a few dozen; the bound keeps hostile input cheap.
const MAX_NODES: u32 = 2_000;

/// Deepest nesting canonicalized (recursion bound).
const MAX_DEPTH: usize = 32;

/// Why XML could not be read or canonicalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum XmlError {
    #[error("the XML is malformed: {0}")]
    Parse(String),
    #[error("the XML nests too deeply")]
    TooDeep,
    #[error("the XML uses an unsupported construct: {0}")]
    Unsupported(&'static str),
}

/// Parses `text` with DTDs refused (no entity expansion) and a node limit.
pub(crate) fn parse(text: &str) -> Result<Document<'_>, XmlError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| XmlError::Parse(e.to_string()))
}

/// Builds XML in exc-c14n form: attributes in canonical order, canonical
/// escaping, and no self-closing tags. Namespace declarations are the
/// caller's: declare each prefix on the outermost element that uses it, as
/// exc-c14n renders it, when the output is to be signed.
#[derive(Debug, Default)]
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// An empty writer.
    pub(crate) fn new() -> XmlWriter {
        XmlWriter::default()
    }

    /// Opens `<name ...>`; `attrs` may come in any order (namespace
    /// declarations included), they are written in canonical order.
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut XmlWriter {
        let mut sorted: Vec<&(&str, &str)> = attrs.iter().collect();
        // exc-c14n: namespace declarations first (default, then by prefix),
        // then attributes by (namespace URI, local name). Unprefixed
        // attributes have no namespace, so they sort before prefixed ones;
        // the prefixed ones the emulator writes are never in signed content.
        sorted.sort_by_key(|(name, _)| {
            let class = if *name == "xmlns" {
                0
            } else if name.starts_with("xmlns:") {
                1
            } else if !name.contains(':') {
                2
            } else {
                3
            };
            (class, *name)
        });
        self.out.push('<');
        self.out.push_str(name);
        for (attr, value) in sorted {
            self.out.push(' ');
            self.out.push_str(attr);
            self.out.push_str("=\"");
            escape_attr(value, &mut self.out);
            self.out.push('"');
        }
        self.out.push('>');
        self
    }

    /// Closes `</name>`.
    pub(crate) fn close(&mut self, name: &str) -> &mut XmlWriter {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Escaped character data.
    pub(crate) fn text(&mut self, text: &str) -> &mut XmlWriter {
        escape_text(text, &mut self.out);
        self
    }

    /// `<name attrs>text</name>`.
    pub(crate) fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut XmlWriter {
        self.open(name, attrs).text(text).close(name)
    }

    /// Already-serialized XML (a signed assertion, a signature).
    pub(crate) fn raw(&mut self, xml: &str) -> &mut XmlWriter {
        self.out.push_str(xml);
        self
    }

    /// The XML written.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Character data as exc-c14n writes it.
fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// An attribute value as exc-c14n writes it.
fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// Exclusive XML Canonicalization 1.0 without comments (no inclusive
/// prefixes) of `node`'s subtree, leaving out the element `skip` and its
/// subtree (the enveloped-signature transform).
pub(crate) fn canonicalize(node: Node<'_, '_>, skip: Option<NodeId>) -> Result<String, XmlError> {
    let mut out = String::new();
    write_canonical(node, skip, &[], &mut out, 0)?;
    Ok(out)
}

/// The qualified name of an element as written in the source (roxmltree
/// keeps namespaces, not prefixes, so the prefix is read back from the text).
fn element_qname<'a>(node: Node<'_, 'a>) -> &'a str {
    let text = node.document().input_text();
    let tag = text.get(node.range().start + 1..).unwrap_or("");
    let end = tag
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(tag.len());
    &tag[..end]
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map_or("", |(p, _)| p)
}

fn write_canonical(
    node: Node<'_, '_>,
    skip: Option<NodeId>,
    rendered: &[(String, String)],
    out: &mut String,
    depth: usize,
) -> Result<(), XmlError> {
    if depth > MAX_DEPTH {
        return Err(XmlError::TooDeep);
    }
    let qname = element_qname(node);
    let text = node.document().input_text();
    let attrs: Vec<(&str, &str, &str, &str)> = node
        .attributes()
        .map(|a| {
            let qname = text.get(a.range_qname()).unwrap_or(a.name());
            (a.namespace().unwrap_or(""), a.name(), qname, a.value())
        })
        .collect();

    // The prefixes this element visibly uses: its own (or the default
    // namespace) and its attributes' (`xml:` is never declared).
    let mut used: Vec<&str> = vec![prefix_of(qname)];
    used.extend(
        attrs
            .iter()
            .map(|(_, _, q, _)| prefix_of(q))
            .filter(|p| !p.is_empty() && *p != "xml"),
    );
    used.sort_unstable();
    used.dedup();

    let mut scope: Vec<(String, String)> = rendered.to_vec();
    let mut declarations: Vec<(&str, String)> = Vec::new();
    for prefix in used {
        let uri = if prefix.is_empty() {
            node.default_namespace().unwrap_or("")
        } else {
            node.lookup_namespace_uri(Some(prefix))
                .ok_or(XmlError::Unsupported("an undeclared prefix"))?
        };
        let previous = scope
            .iter()
            .find(|(p, _)| p == prefix)
            .map_or("", |(_, u)| u.as_str());
        if previous != uri {
            declarations.push((prefix, uri.to_owned()));
            scope.retain(|(p, _)| p != prefix);
            scope.push((prefix.to_owned(), uri.to_owned()));
        }
    }

    out.push('<');
    out.push_str(qname);
    for (prefix, uri) in &declarations {
        if prefix.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(prefix);
            out.push_str("=\"");
        }
        escape_attr(uri, out);
        out.push('"');
    }
    let mut attrs = attrs;
    attrs.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (_, _, qname, value) in &attrs {
        out.push(' ');
        out.push_str(qname);
        out.push_str("=\"");
        escape_attr(value, out);
        out.push('"');
    }
    out.push('>');
    for child in node.children() {
        match child.node_type() {
            NodeType::Element if Some(child.id()) == skip => {}
            NodeType::Element => write_canonical(child, skip, &scope, out, depth + 1)?,
            NodeType::Text => escape_text(child.text().unwrap_or(""), out),
            NodeType::Comment => {}
            NodeType::PI => return Err(XmlError::Unsupported("a processing instruction")),
            NodeType::Root => return Err(XmlError::Unsupported("a nested document")),
        }
    }
    out.push_str("</");
    out.push_str(qname);
    out.push('>');
    Ok(())
}

/// Unix seconds as an `xs:dateTime` in UTC (`2024-05-01T12:00:00Z`).
pub(crate) fn date_time(unix: u64) -> String {
    let t = i64::try_from(unix)
        .ok()
        .and_then(|u| OffsetDateTime::from_unix_timestamp(u).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses a UTC `xs:dateTime` (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`) to Unix
/// seconds, dropping the fraction.
pub(crate) fn parse_date_time(s: &str) -> Option<u64> {
    let s = s.trim().strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let time = time.split_once('.').map_or(time, |(t, fraction)| {
        if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            ""
        } else {
            t
        }
    });
    let number = |part: &str, len: usize| -> Option<u32> {
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (year, month, day) = (
        number(d.next()?, 4)?,
        number(d.next()?, 2)?,
        number(d.next()?, 2)?,
    );
    let mut t = time.split(':');
    let (hour, minute, second) = (
        number(t.next()?, 2)?,
        number(t.next()?, 2)?,
        number(t.next()?, 2)?,
    );
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    let date = Date::from_calendar_date(
        i32::try_from(year).ok()?,
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    u64::try_from(PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_output_is_canonical() {
        let mut w = XmlWriter::new();
        w.open("a:root", &[("z", "1"), ("xmlns:a", "urn:a"), ("b", "x\"<&\n>")])
            .leaf("a:child", &[], "t<&>\r'\"")
            .open("b:other", &[("xmlns:b", "urn:b")])
            .close("b:other")
            .close("a:root");
        let xml = w.finish();
        assert_eq!(
            xml,
            "<a:root xmlns:a=\"urn:a\" b=\"x&quot;&lt;&amp;&#xA;>\" z=\"1\"><a:child>t&lt;&amp;&gt;&#xD;'\"</a:child><b:other xmlns:b=\"urn:b\"></b:other></a:root>"
        );
        let doc = parse(&xml).unwrap();
        assert_eq!(canonicalize(doc.root_element(), None).unwrap(), xml);
    }

    #[test]
    fn canonicalizes_a_subtree_exclusively() {
        let xml = "<?xml version=\"1.0\"?>\n<s:E xmlns:s=\"urn:s\" xmlns:x=\"urn:x\" xmlns=\"urn:d\"><s:B>\
                   <p:A xmlns:p=\"urn:p\" xmlns:unused=\"urn:u\" p:k='v' a='2'><!-- c --><p:C/><D x:y=\"1\"/>\
                   <p:Sig><p:In/></p:Sig><![CDATA[<x>]]>&amp;</p:A></s:B></s:E>";
        let doc = parse(xml).unwrap();
        let a = doc.descendants().find(|n| n.tag_name().name() == "A").unwrap();
        let sig = doc.descendants().find(|n| n.tag_name().name() == "Sig").unwrap();
        assert_eq!(
            canonicalize(a, Some(sig.id())).unwrap(),
            "<p:A xmlns:p=\"urn:p\" a=\"2\" p:k=\"v\"><p:C></p:C><D xmlns=\"urn:d\" xmlns:x=\"urn:x\" x:y=\"1\"></D>&lt;x&gt;&amp;</p:A>"
        );
    }

    #[test]
    fn hostile_input_is_refused() {
        let bomb = "<!DOCTYPE a [<!ENTITY x \"xx\">]><a>&x;</a>";
        assert!(matches!(parse(bomb), Err(XmlError::Parse(_))));
        let many = format!("<a>{}</a>", "<b/>".repeat(5_000));
        assert!(parse(&many).is_err());
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        let doc = parse(&deep).unwrap();
        assert_eq!(canonicalize(doc.root_element(), None), Err(XmlError::TooDeep));
        let pi = parse("<a><?pi x?></a>").unwrap();
        assert!(canonicalize(pi.root_element(), None).is_err());
    }

    #[test]
    fn date_times_round_trip() {
        assert_eq!(date_time(1_452_304_932), "2016-01-09T02:02:12Z");
        assert_eq!(parse_date_time("2016-01-09T02:02:12Z"), Some(1_452_304_932));
        assert_eq!(parse_date_time("2016-01-09T02:02:12.123Z"), Some(1_452_304_932));
        for bad in [
            "2016-01-09T02:02:12",
            "2016-13-09T02:02:12Z",
            "2016-01-09 02:02:12Z",
            "2016-01-09T02:02:12.Z",
            "+016-01-09T02:02:12Z",
            "",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
    }
}
