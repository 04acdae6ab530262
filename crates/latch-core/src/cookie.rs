//! The session cookie: how a browser holds a Latch token.
//!
//! The defaults follow the OWASP Session Management Cheat Sheet and ASVS 5.0 V3.3: the
//! `__Host-` prefix (so the browser insists on `Secure`, `Path=/` and no `Domain`, and no
//! sibling subdomain can plant a cookie of the same name), `HttpOnly` (no script reads it),
//! `SameSite=Lax` (configurable to `Strict`), and no `Max-Age` or `Expires`: a session cookie
//! that dies with the browser unless a deployment asks for a persistent one. Logging out
//! clears it and asks the browser to drop what it kept for the site (`Clear-Site-Data`).
//!
//! ```
//! use latch_core::cookie::{SameSite, SessionCookie};
//! let c = SessionCookie::default().with_same_site(SameSite::Strict);
//! assert_eq!(
//!     c.set("latch_s_abc"),
//!     "__Host-latch=latch_s_abc; Path=/; Secure; HttpOnly; SameSite=Strict"
//! );
//! assert_eq!(c.find("theme=dark; __Host-latch=latch_s_abc"), Some("latch_s_abc"));
//! ```

use std::fmt::Write as _;
use std::time::Duration;

/// The default cookie name.
pub const DEFAULT_NAME: &str = "__Host-latch";

/// The `Clear-Site-Data` value sent on logout (OWASP: cache, cookies and storage).
pub const CLEAR_SITE_DATA: &str = "\"cache\", \"cookies\", \"storage\"";

/// The cookie's `SameSite` attribute.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites, not on their sub-requests or POSTs.
    #[default]
    Lax,
    /// Never sent on requests started by another site.
    Strict,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
        }
    }
}

/// A cookie name that is not an RFC 6265 token.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("a cookie name is 1 to 64 characters, letters, digits and !#$%&'*+-.^_`|~ only")]
pub struct InvalidCookieName;

/// How the session cookie is named and flagged.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SessionCookie {
    name: String,
    same_site: SameSite,
    max_age: Option<Duration>,
}

impl Default for SessionCookie {
    fn default() -> Self {
        Self {
            name: DEFAULT_NAME.to_owned(),
            same_site: SameSite::Lax,
            max_age: None,
        }
    }
}

impl SessionCookie {
    /// Uses another cookie name. Keep the `__Host-` prefix unless the cookie must be shared
    /// with subdomains (then `__Secure-`).
    ///
    /// # Errors
    /// [`InvalidCookieName`].
    pub fn with_name(mut self, name: &str) -> Result<Self, InvalidCookieName> {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || name.len() > 64 || !name.bytes().all(token) {
            return Err(InvalidCookieName);
        }
        name.clone_into(&mut self.name);
        Ok(self)
    }

    /// Sets `SameSite` (default `Lax`).
    #[must_use]
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Makes the cookie persistent for `max_age` (default: a session cookie, gone when the
    /// browser closes). The session's own timeouts still apply server-side.
    #[must_use]
    pub fn persistent(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `Set-Cookie` value that hands `token` to the browser.
    pub fn set(&self, token: &str) -> String {
        let mut s = self.attributes(token);
        if let Some(age) = self.max_age {
            let _ = write!(s, "; Max-Age={}", age.as_secs());
        }
        s
    }

    /// The `Set-Cookie` value that removes the cookie (empty value, expired), for logout.
    pub fn clear(&self) -> String {
        let mut s = self.attributes("");
        s.push_str("; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        s
    }

    fn attributes(&self, value: &str) -> String {
        format!(
            "{}={value}; Path=/; Secure; HttpOnly; SameSite={}",
            self.name,
            self.same_site.as_str()
        )
    }

    /// A request's session token: this cookie in any of its `Cookie` headers, else the token
    /// of an `Authorization: Bearer` header. Both forward-auth and the Rust layer read
    /// sessions this way.
    pub fn token_in<'h>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'h str>,
        authorization: Option<&'h str>,
    ) -> Option<&'h str> {
        cookie_headers
            .into_iter()
            .find_map(|c| self.find(c))
            .or_else(|| authorization?.strip_prefix("Bearer ").map(str::trim))
    }

    /// The value of this cookie in a `Cookie` request header, if present and not empty. Of
    /// several cookies with the name, the first (the browser sends the most specific first).
    pub fn find<'h>(&self, cookie_header: &'h str) -> Option<&'h str> {
        cookie_header.split(';').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let value = value.trim().trim_matches('"');
            (name.trim() == self.name && !value.is_empty()).then_some(value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_host_prefixed_secure_httponly_lax_session_cookies() {
        let c = SessionCookie::default();
        let set = c.set("t");
        assert_eq!(
            set,
            "__Host-latch=t; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert!(!set.contains("Domain") && !set.contains("Max-Age") && !set.contains("Expires"));
        let clear = c.clear();
        assert!(clear.starts_with("__Host-latch=; Path=/; Secure; HttpOnly; SameSite=Lax"));
        assert!(clear.contains("Max-Age=0"));
        assert!(
            c.persistent(Duration::from_secs(3600))
                .set("t")
                .ends_with("; Max-Age=3600")
        );
    }

    #[test]
    fn names_are_checked_and_found_exactly() {
        assert!(SessionCookie::default().with_name("").is_err());
        assert!(SessionCookie::default().with_name("a b").is_err());
        assert!(SessionCookie::default().with_name("a;b").is_err());
        assert!(SessionCookie::default().with_name("a=b").is_err());
        let c = SessionCookie::default().with_name("__Secure-sid").unwrap();
        assert_eq!(c.find("__Secure-sid=v"), Some("v"));
        assert_eq!(c.find("x__Secure-sid=w; __Secure-sid=v"), Some("v"));
        assert_eq!(c.find("__Secure-sid=; other=1"), None);
        assert_eq!(c.find(" __Secure-sid = \"q\" "), Some("q"));
        assert_eq!(c.find("nothing"), None);
        assert_eq!(c.find(""), None);
    }

    #[test]
    fn the_cookie_wins_over_a_bearer_token() {
        let c = SessionCookie::default();
        let both = c.token_in(
            ["a=1", "__Host-latch=from-cookie"],
            Some("Bearer from-header"),
        );
        assert_eq!(both, Some("from-cookie"));
        assert_eq!(c.token_in([], Some("Bearer  t ")), Some("t"));
        assert_eq!(c.token_in(["a=1"], Some("Basic dXNlcjpwdw==")), None);
        assert_eq!(c.token_in([], None), None);
    }
}
