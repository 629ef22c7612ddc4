//! The HTML the authorize endpoint serves: the sign-in page, the error page
//! for requests that cannot be sent back to the app, and the `form_post`
//! page that carries a result to the app's redirect URI.
//!
//! Every value that reaches the HTML goes through [`escape`]; the only script
//! is the `form_post` page's auto-submit.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::clock;
use crate::context::RequestContext;
use crate::error::EntraError;

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Shared look: small, readable, no external resources.
const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0}\
main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
label{display:block;margin-top:1rem}input{width:100%;box-sizing:border-box;padding:.4rem}\
button{margin-top:1.5rem;padding:.5rem 2rem;background:#0067b8;color:#fff;border:0}\
#error{color:#e81123;margin-top:1rem}small{color:#666}";

/// A complete HTML document.
pub(crate) fn document(title: &str, body_attrs: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body{body_attrs}>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// An HTML response that is never cached nor framed.
pub(crate) fn html(status: StatusCode, document: String) -> Response {
    let mut response = (status, document).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    // The sign-in page must not be framed (clickjacking), as Entra's isn't.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `<div id="error">` with the error's full Entra description.
pub(crate) fn error_div(error: &EntraError, ctx: &RequestContext) -> String {
    let description = error.description(ctx, &clock::entra_timestamp());
    format!(
        "<div id=\"error\" role=\"alert\">{}</div>\n",
        escape(&description)
    )
}

/// What the sign-in page shows.
pub(crate) struct SignIn<'a> {
    /// The form's action: `/{tenant}/oauth2/v2.0/authorize`.
    pub(crate) action: &'a str,
    /// The authorize request's parameters, carried as hidden inputs.
    pub(crate) params: &'a [(String, String)],
    /// The user name to pre-fill (login_hint, or what was typed).
    pub(crate) username: &'a str,
    /// The app's display name.
    pub(crate) app_name: &'a str,
    /// Why the last attempt failed.
    pub(crate) error: Option<&'a EntraError>,
}

/// The sign-in page: `200 text/html` with the contract's form.
pub(crate) fn sign_in(page: &SignIn<'_>, ctx: &RequestContext) -> Response {
    let mut body = String::from("<main>\n<h1>Sign in</h1>\n");
    if !page.app_name.is_empty() {
        body.push_str(&format!(
            "<p>to continue to <strong>{}</strong></p>\n",
            escape(page.app_name)
        ));
    }
    if let Some(error) = page.error {
        body.push_str(&error_div(error, ctx));
    }
    body.push_str(&format!(
        "<form id=\"signin-form\" method=\"post\" action=\"{}\">\n",
        escape(page.action)
    ));
    for (name, value) in page.params {
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape(name),
            escape(value)
        ));
    }
    body.push_str(&format!(
        "<label for=\"username\">Email, phone, or Skype</label>\n\
         <input id=\"username\" name=\"username\" type=\"email\" value=\"{}\" autocomplete=\"username\" autofocus>\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\n\
         <button id=\"signin\" type=\"submit\">Sign in</button>\n\
         </form>\n<p><small>msal-emulator: a local Microsoft Entra ID for development and tests.</small></p>\n</main>\n",
        escape(page.username)
    ));
    html(StatusCode::OK, document("Sign in to your account", "", &body))
}

/// An error that cannot be sent to the app (unknown client, unregistered
/// redirect URI, bad request): a page showing the AADSTS error.
pub(crate) fn error(error: &EntraError, ctx: &RequestContext) -> Response {
    let body = format!(
        "<main>\n<h1>Sorry, but we're having trouble signing you in.</h1>\n{}<p><small>error: {}</small></p>\n</main>\n",
        error_div(error, ctx),
        escape(error.error)
    );
    html(error.status, document("Sign in failed", "", &body))
}

/// The `response_mode=form_post` page: a form posting `fields` to the
/// redirect URI, submitted on load (a button for when scripts are off).
pub(crate) fn form_post(redirect_uri: &str, fields: &[(&str, &str)]) -> Response {
    let mut body = format!("<form method=\"post\" action=\"{}\">\n", escape(redirect_uri));
    for (name, value) in fields {
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape(name),
            escape(value)
        ));
    }
    body.push_str(
        "<noscript><p>Script is disabled. Click Submit to continue.</p>\
         <button type=\"submit\">Submit</button></noscript>\n</form>\n",
    );
    html(
        StatusCode::OK,
        document("Working...", " onload=\"document.forms[0].submit()\"", &body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
