//! Reading the emulator's HTML pages just well enough to act on them: a
//! form's action and inputs, an input's value, and the five entities the
//! emulator escapes. Not a general HTML parser: attributes are double-quoted,
//! as the emulator writes them.

use crate::{Context, Result};

/// Undoes the emulator's escaping of text and attribute values.
pub fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        // Last, so that an escaped entity (`&amp;lt;`) stays text.
        .replace("&amp;", "&")
}

/// A form: where it posts, and the `name`/`value` of its hidden inputs
/// (what a browser sends back unchanged), unescaped, in page order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// Sets `name` to `value`: what a person types or clicks.
    pub fn set(&mut self, name: &str, value: &str) {
        self.fields.retain(|(n, _)| n != name);
        self.fields.push((name.to_owned(), value.to_owned()));
    }
}

/// The form with id `id` (or the first form) of `html`.
pub fn read_form(html: &str, id: Option<&str>) -> Result<Form> {
    let start = match id {
        Some(id) => html.find(&format!("<form id=\"{id}\"")),
        None => html.find("<form"),
    }
    .with_page(html, &format!("a form {}", id.unwrap_or_default()))?;
    let form = &html[start..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let (tag, body) = form
        .split_once('>')
        .with_page(html, "the end of the <form> tag")?;
    let action = attribute(tag, "action").with_page(html, "the form's action")?;
    Ok(Form {
        action,
        fields: hidden_inputs(body),
    })
}

/// The `name`/`value` of every hidden input of `html`, unescaped, in page order.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    tags(html, "input")
        .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
        .filter_map(|tag| {
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect()
}

/// The value of the input with id `id` (empty when it has none).
pub fn input_value(html: &str, id: &str) -> Result<String> {
    let tag = tags(html, "input")
        .find(|tag| attribute(tag, "id").as_deref() == Some(id))
        .with_page(html, &format!("an input {id}"))?;
    Ok(attribute(tag, "value").unwrap_or_default())
}

/// The text inside the first `<div id="{id}">`, as it stands in the page.
pub fn div_text<'a>(html: &'a str, id: &str) -> Result<&'a str> {
    let open = format!("<div id=\"{id}\">");
    let start = html.find(&open).with_page(html, &format!("a div {id}"))? + open.len();
    let end = html[start..].find("</div>").with_page(html, "</div>")? + start;
    Ok(&html[start..end])
}

/// A double-quoted attribute of a tag, unescaped.
pub fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// The insides of every `<{name} ...>` tag of `html` (without the brackets).
fn tags<'a>(html: &'a str, name: &str) -> impl Iterator<Item = &'a str> {
    html.split('<').skip(1).filter_map(move |rest| {
        let tag = rest.split('>').next()?;
        tag.strip_prefix(name)?.starts_with(' ').then_some(tag)
    })
}

/// A missing piece of a page, reported with the page.
trait WithPage<T> {
    fn with_page(self, html: &str, what: &str) -> Result<T>;
}

impl<T> WithPage<T> for Option<T> {
    fn with_page(self, html: &str, what: &str) -> Result<T> {
        self.context(&format!("{what} in the page {html}"))
    }
}
