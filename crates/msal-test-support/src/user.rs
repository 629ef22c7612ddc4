//! One scripted person at the emulator's pages, over real HTTPS: what they
//! would do in a browser (GET the page, POST its form), without the browser.
//! The headless Chromium tests use [`crate::webdriver`] instead.

use std::collections::HashMap;

use msal::AuthResponse;
use msal_emulator::Emulator;
use reqwest::{Client, StatusCode};
use url::Url;

use crate::html::{self, Form};
use crate::{Context, Failure, Result};

/// Where the emulator sent the person after they signed in.
#[derive(Clone, Debug)]
pub enum SignedIn {
    /// A 302 to the app's redirect URI (`response_mode=query`): its `Location`.
    Redirect(String),
    /// The page that posts the response to the app (`form_post`): its form.
    FormPost(Form),
}

impl SignedIn {
    /// What the app receives.
    pub fn into_auth_response(self) -> Result<AuthResponse> {
        match self {
            SignedIn::Redirect(location) => {
                AuthResponse::from_redirect_url(&location).context("reading the redirect URL")
            }
            SignedIn::FormPost(form) => Ok(form.fields.into_iter().collect::<HashMap<_, _>>().into()),
        }
    }
}

/// What the person does on the device code consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceDecision {
    Approve,
    Decline,
}

/// A person with a username and password and a cookie-less browser that
/// trusts the emulator.
pub struct User {
    http: Client,
    username: String,
    password: String,
}

impl User {
    pub fn new(emulator: &Emulator, username: &str, password: &str) -> Result<User> {
        Ok(User {
            http: crate::browser(emulator)?,
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    /// Opens `auth_uri` (an authorize URL), signs in, and returns where the
    /// emulator sent them. Works on every host the emulator serves (Entra,
    /// CIAM, B2C local accounts, AD FS): each sign-in page has the same
    /// `signin-form` with `username` and `password`.
    pub async fn sign_in(&self, auth_uri: &str) -> Result<SignedIn> {
        let page = Url::parse(auth_uri).context("the authorize URL")?;
        let html = self.page(self.http.get(page.clone()), "the sign-in page").await?;
        self.fill_in(&page, &html).await
    }

    /// On a B2C sign-in page at `auth_uri`, clicks the button of the
    /// external identity provider named `provider` (the built-in one is
    /// `social`), signs in on that provider's own page (its own host), and
    /// returns where B2C then sent them.
    pub async fn sign_in_with_provider(&self, auth_uri: &str, provider: &str) -> Result<SignedIn> {
        let page = Url::parse(auth_uri).context("the authorize URL")?;
        let html = self
            .page(self.http.get(page.clone()), "the B2C sign-in page")
            .await?;
        let href = html::link_href(&html, &format!("idp-{provider}"))?;
        let at_provider = page.join(&href).context("the provider's link")?;
        let html = self
            .page(self.http.get(at_provider.clone()), "the provider's sign-in page")
            .await?;
        // The provider sends them back to B2C, which sends them on to the app.
        match self.fill_in(&at_provider, &html).await? {
            SignedIn::Redirect(back_to_b2c) => {
                let back = at_provider
                    .join(&back_to_b2c)
                    .context("the provider's redirect")?;
                let done = self.http.get(back).send().await.context("returning to B2C")?;
                self.signed_in(done).await
            }
            SignedIn::FormPost(form) => Err(Failure::new(format!(
                "the provider answered with a form, not a redirect to B2C: {form:?}"
            ))),
        }
    }

    /// Fills in and posts the `signin-form` of `html` (the page at `page`).
    async fn fill_in(&self, page: &Url, html: &str) -> Result<SignedIn> {
        let mut form = html::read_form(html, Some("signin-form"))?;
        form.set("username", &self.username);
        form.set("password", &self.password);
        let action = page.join(&form.action).context("the form's action")?;
        let done = self
            .http
            .post(action)
            .form(&form.fields)
            .send()
            .await
            .context("posting the sign-in form")?;
        self.signed_in(done).await
    }

    /// Where the response to a sign-in sends them: a redirect, or a
    /// `form_post` page.
    async fn signed_in(&self, done: reqwest::Response) -> Result<SignedIn> {
        match done.status() {
            StatusCode::FOUND => {
                let location = done.headers().get("location").context("a Location")?;
                Ok(SignedIn::Redirect(
                    location.to_str().context("an ASCII Location")?.to_owned(),
                ))
            }
            StatusCode::OK => {
                let html = done.text().await.context("reading the form_post page")?;
                // The sign-in page again, saying why: the sign-in was refused.
                if let Some(error) = html::error_text(&html) {
                    return Err(Failure::new(format!("the sign-in was refused: {error}")));
                }
                Ok(SignedIn::FormPost(html::read_form(&html, None)?))
            }
            other => Err(Failure::new(format!(
                "sign-in failed with {other}: {}",
                done.text().await.unwrap_or_default()
            ))),
        }
    }

    /// At `verification_uri`, types `user_code` the way people do (lower
    /// case, with a separator), signs in, then approves or declines.
    /// Returns the text of the final page's `<div id="done">`.
    pub async fn enter_device_code(
        &self,
        verification_uri: &str,
        user_code: &str,
        decision: DeviceDecision,
    ) -> Result<String> {
        let base = Url::parse(verification_uri).context("the verification URI")?;
        let html = self
            .page(self.http.get(base.clone()), "the code entry page")
            .await?;
        Failure::unless(html.contains("id=\"otc\""), || format!("no code input: {html}"))?;
        let mut form = html::read_form(&html, Some("device-form"))?;
        let (head, tail) = user_code.split_at_checked(4).unwrap_or((user_code, ""));
        let typed = format!("{head}-{tail}").to_lowercase();
        form.set("otc", &typed);

        let html = self.post(&base, &form).await?;
        Failure::unless(!html.contains("id=\"error\""), || {
            format!("the code is refused: {html}")
        })?;
        let mut form = html::read_form(&html, Some("signin-form"))?;
        form.set("username", &self.username);
        form.set("password", &self.password);

        let html = self.post(&base, &form).await?;
        Failure::unless(html.contains("id=\"consent-form\""), || {
            format!("no consent page after sign-in: {html}")
        })?;
        let mut form = html::read_form(&html, Some("consent-form"))?;
        let action = match decision {
            DeviceDecision::Approve => "approve",
            DeviceDecision::Decline => "decline",
        };
        form.set("action", action);
        let html = self.post(&base, &form).await?;
        Ok(html::div_text(&html, "done")?.to_owned())
    }

    /// POSTs `form` (its action relative to `base`) and returns the page.
    async fn post(&self, base: &Url, form: &Form) -> Result<String> {
        let url = base.join(&form.action).context("the form's action")?;
        self.page(self.http.post(url).form(&form.fields), "a form POST")
            .await
    }

    /// Sends `request` and returns the page, which must be a 200.
    async fn page(&self, request: reqwest::RequestBuilder, what: &str) -> Result<String> {
        let response = request.send().await.context(what)?;
        let status = response.status();
        let html = response.text().await.context(what)?;
        Failure::unless(status == StatusCode::OK, || {
            format!("{what} answered {status}: {html}")
        })?;
        Ok(html)
    }
}

/// Signs `username` in at `auth_uri` and returns the authorization response
/// the app would receive: the redirect's query (`response_mode=query`) or the
/// auto-submitted form's fields (`form_post`).
pub async fn sign_in(
    emulator: &Emulator,
    auth_uri: &str,
    username: &str,
    password: &str,
) -> Result<AuthResponse> {
    User::new(emulator, username, password)?
        .sign_in(auth_uri)
        .await?
        .into_auth_response()
}

/// Signs `username` in at a B2C `auth_uri` through the external identity
/// provider `provider` (its button on the B2C page, then its own sign-in
/// page) and returns the authorization response the app would receive.
pub async fn sign_in_with_provider(
    emulator: &Emulator,
    auth_uri: &str,
    provider: &str,
    username: &str,
    password: &str,
) -> Result<AuthResponse> {
    User::new(emulator, username, password)?
        .sign_in_with_provider(auth_uri, provider)
        .await?
        .into_auth_response()
}

/// A person at the emulator's device code page: enters `user_code`, signs
/// in as `username`, then approves or declines. Returns the text of the final
/// page (`<div id="done">`).
pub async fn device_login(
    emulator: &Emulator,
    verification_uri: &str,
    user_code: &str,
    username: &str,
    password: &str,
    decision: DeviceDecision,
) -> Result<String> {
    User::new(emulator, username, password)?
        .enter_device_code(verification_uri, user_code, decision)
        .await
}
