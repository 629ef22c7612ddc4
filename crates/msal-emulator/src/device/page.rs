//! The HTML of the device code verification page: code entry, consent and
//! the final page (the sign-in step reuses the authorize sign-in form).
//!
//! Element ids are part of the contract browser tests drive: `device-form`,
//! `otc`, `next`, `error`, `consent-form`, `approve`, `decline`, `done`.
//! Every value reaching the HTML goes through [`escape`]; there is no script.

use axum::http::StatusCode;
use axum::response::Response;

use crate::authorize::page::{document, error_div, escape, html};
use crate::context::RequestContext;
use crate::error::EntraError;

/// The code entry page, with the error of the previous attempt if any.
pub(super) fn enter_code(ctx: &RequestContext, error: Option<&EntraError>) -> Response {
    let mut body = String::from("<main>\n<h1>Enter code</h1>\n");
    body.push_str("<p>Enter the code displayed on your app or device.</p>\n");
    if let Some(error) = error {
        body.push_str(&error_div(error, ctx));
    }
    body.push_str(
        "<form id=\"device-form\" method=\"post\" action=\"/devicelogin\">\n\
         <label for=\"otc\">Code</label>\n\
         <input id=\"otc\" name=\"otc\" type=\"text\" autocomplete=\"off\" autocapitalize=\"characters\" autofocus>\n\
         <button id=\"next\" type=\"submit\">Next</button>\n\
         </form>\n<p><small>msal-emulator: a local Microsoft Entra ID for development and tests.</small></p>\n</main>\n",
    );
    html(StatusCode::OK, document("Enter code", "", &body))
}

/// What the consent page shows and carries.
pub(super) struct Consent<'a> {
    /// The app's display name.
    pub(super) app_name: String,
    /// Who is signing in.
    pub(super) upn: &'a str,
    /// The user code, carried so the decision finds its authorization.
    pub(super) user_code: &'a str,
    /// The flow token binding the decision to this browser's steps.
    pub(super) flow_token: &'a str,
}

/// "Are you trying to sign in to <App>?" with approve and decline buttons.
pub(super) fn consent(c: &Consent<'_>) -> Response {
    let body = format!(
        "<main>\n<h1>Are you trying to sign in to {app}?</h1>\n\
         <p>Signed in as <strong id=\"account\">{upn}</strong>.</p>\n\
         <p>Only continue if you started this sign-in on a device or app you trust.</p>\n\
         <form id=\"consent-form\" method=\"post\" action=\"/devicelogin\">\n\
         <input type=\"hidden\" name=\"otc\" value=\"{otc}\">\n\
         <input type=\"hidden\" name=\"flow_token\" value=\"{flow}\">\n\
         <button id=\"approve\" name=\"action\" value=\"approve\" type=\"submit\">Continue</button>\n\
         <button id=\"decline\" name=\"action\" value=\"decline\" type=\"submit\">Cancel</button>\n\
         </form>\n</main>\n",
        app = escape(&c.app_name),
        upn = escape(c.upn),
        otc = escape(c.user_code),
        flow = escape(c.flow_token),
    );
    html(StatusCode::OK, document("Sign in on your device", "", &body))
}

/// The last page: signed in, or declined.
pub(super) fn done(app_name: &str, approved: bool) -> Response {
    let app = escape(app_name);
    let text = if approved {
        format!("You have signed in to {app} on your device. You may now close this window.")
    } else {
        format!("You have declined to sign in to {app} on your device. You may now close this window.")
    };
    let body = format!("<main>\n<h1>{app}</h1>\n<div id=\"done\">{text}</div>\n</main>\n");
    html(StatusCode::OK, document(app_name, "", &body))
}
