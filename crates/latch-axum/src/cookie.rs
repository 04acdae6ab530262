//! The session cookie in a response: set it after sign-in, clear it at sign-out.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponseParts, ResponseParts};
use latch_core::cookie::{CLEAR_SITE_DATA, SessionCookie};

/// Sets the session cookie, and `Cache-Control: no-store` (the response carries a token).
/// Return it as part of a response: `(set_cookie, Redirect::to("/"))`.
#[derive(Clone)]
pub struct SetSessionCookie(HeaderValue);

impl SetSessionCookie {
    /// The cookie for `token`.
    pub fn new(cookie: &SessionCookie, token: &str) -> Self {
        // Tokens and names are checked ASCII, so the value is a valid header.
        Self(
            HeaderValue::from_str(&cookie.set(token))
                .unwrap_or_else(|_| HeaderValue::from_static("")),
        )
    }
}

impl std::fmt::Debug for SetSessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetSessionCookie(..)")
    }
}

impl IntoResponseParts for SetSessionCookie {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.headers_mut().append(header::SET_COOKIE, self.0);
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(res)
    }
}

/// Clears the session cookie and sends `Clear-Site-Data: "cache", "cookies", "storage"`.
#[derive(Clone, Debug)]
pub struct ClearSessionCookie(HeaderValue);

impl ClearSessionCookie {
    /// The clearing of `cookie`.
    pub fn new(cookie: &SessionCookie) -> Self {
        Self(
            HeaderValue::from_str(&cookie.clear()).unwrap_or_else(|_| HeaderValue::from_static("")),
        )
    }
}

impl IntoResponseParts for ClearSessionCookie {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.headers_mut().append(header::SET_COOKIE, self.0);
        res.headers_mut().insert(
            HeaderName::from_static("clear-site-data"),
            HeaderValue::from_static(CLEAR_SITE_DATA),
        );
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(res)
    }
}
