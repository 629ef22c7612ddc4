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

/// The `href` of the link (`<a>`) with id `id`, unescaped.
pub fn link_href(html: &str, id: &str) -> Result<String> {
    tags(html, "a")
        .find(|tag| attribute(tag, "id").as_deref() == Some(id))
        .and_then(|tag| attribute(tag, "href"))
        .with_page(html, &format!("a link {id}"))
}

/// The text of the page's error message (`<div id="error" ...>`, as every
/// emulator sign-in page shows a refusal), unescaped; `None` without one.
pub fn error_text(html: &str) -> Option<String> {
    let at = html.find("<div id=\"error\"")?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find("</div>")?;
    Some(unescape(&html[start..end]))
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

#[cfg(test)]
mod tests {
    use super::*;

    const SIGN_IN: &str = "<html><body>\n\
        <form id=\"signin-form\" method=\"post\" action=\"/contoso/login?a=1&amp;b=2\">\n\
        <input type=\"hidden\" name=\"state\" value=\"a&quot;b&lt;c&gt;&#39;\">\n\
        <input type=\"hidden\" name=\"nonce\" value=\"n\">\n\
        <input id=\"username\" name=\"username\" type=\"email\" value=\"alice@contoso.com\" autofocus>\n\
        <input id=\"password\" name=\"password\" type=\"password\">\n\
        </form>\n\
        <form id=\"other\" action=\"/x\"><input type=\"hidden\" name=\"other\" value=\"o\"></form>\n\
        <p><a id=\"idp-social\" class=\"idp\" href=\"https://idp.test/authorize?a=1&amp;b=2\">Social</a></p>\n\
        <div id=\"done\">You have signed in.</div></body></html>";

    #[test]
    fn a_form_is_its_action_and_its_own_hidden_inputs_unescaped() {
        let form = read_form(SIGN_IN, Some("signin-form")).unwrap();
        assert_eq!(form.action, "/contoso/login?a=1&b=2");
        assert_eq!(
            form.fields,
            [
                ("state".to_owned(), "a\"b<c>'".to_owned()),
                ("nonce".into(), "n".into())
            ]
        );
        assert_eq!(read_form(SIGN_IN, None).unwrap(), form, "the first form");
        assert_eq!(read_form(SIGN_IN, Some("other")).unwrap().fields.len(), 1);
        assert!(read_form(SIGN_IN, Some("nope")).is_err());
    }

    #[test]
    fn setting_a_field_replaces_it() {
        let mut form = read_form(SIGN_IN, None).unwrap();
        form.set("state", "typed");
        form.set("username", "bob");
        assert_eq!(
            form.fields,
            [
                ("nonce".to_owned(), "n".to_owned()),
                ("state".into(), "typed".into()),
                ("username".into(), "bob".into())
            ]
        );
    }

    #[test]
    fn inputs_divs_and_entities() {
        assert_eq!(hidden_inputs(SIGN_IN).len(), 3, "every form's");
        assert_eq!(input_value(SIGN_IN, "username").unwrap(), "alice@contoso.com");
        assert_eq!(input_value(SIGN_IN, "password").unwrap(), "");
        assert!(input_value(SIGN_IN, "otc").is_err());
        assert_eq!(div_text(SIGN_IN, "done").unwrap(), "You have signed in.");
        assert_eq!(unescape("&amp;lt; &#x27;"), "&lt; '");
        assert_eq!(
            link_href(SIGN_IN, "idp-social").unwrap(),
            "https://idp.test/authorize?a=1&b=2"
        );
        assert!(link_href(SIGN_IN, "idp-other").is_err());
        assert_eq!(error_text(SIGN_IN), None);
        assert_eq!(
            error_text("<p><div id=\"error\" role=\"alert\">AADSTS50126: bad &amp; wrong</div>").as_deref(),
            Some("AADSTS50126: bad & wrong")
        );
    }
}
