//! Request extraction that answers every failure with a problem document: JSON bodies (unknown
//! fields rejected by the types, size limited by the router) and path parameters.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use latch_core::token::SessionId;
use latch_core::user::UserId;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body; errors become problems (400 unreadable, 413 too large, 415 wrong type,
/// 422 wrong shape).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(json_problem(&r)),
        }
    }
}

fn json_problem(r: &JsonRejection) -> Problem {
    let status = r.status();
    let text = redact(&r.body_text());
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(status, "too-large", "Body too large")
            .detail("the request body is larger than the limit (64 KiB)"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Problem::new(status, "unsupported-media-type", "Unsupported media type")
                .detail("send the body as JSON with Content-Type: application/json")
        }
        StatusCode::UNPROCESSABLE_ENTITY => Problem::invalid(text),
        _ => Problem::bad_request(text),
    }
}

/// Parser messages quote the offending input (and axum prefixes the field path); a client may
/// have put a token there. Quoted text that is long or looks like a Latch secret is replaced,
/// and so is any bare word that does.
fn redact(msg: &str) -> String {
    redact_words(&redact_quoted(msg))
}

fn secret_like(s: &str) -> bool {
    s.len() > 64 || s.contains("latch_")
}

fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(['"', '`']) {
        let q = rest.as_bytes()[i] as char;
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let Some(j) = rest.find(q) else {
            break;
        };
        let inner = &rest[..j];
        out.push_str(if secret_like(inner) {
            "<redacted>"
        } else {
            inner
        });
        out.push(q);
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    out
}

fn redact_words(msg: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(msg.len());
    let mut word = String::new();
    for c in msg.chars().chain(std::iter::once(' ')) {
        if is_word(c) {
            word.push(c);
            continue;
        }
        out.push_str(if secret_like(&word) {
            "<redacted>"
        } else {
            &word
        });
        word.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// The `{user_id}` path parameter, checked.
#[derive(Debug)]
pub struct UserPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let s = path_string(parts, state).await?;
        UserId::new(&s)
            .map(Self)
            .map_err(|e| Problem::invalid(e.to_string()))
    }
}

/// The `{session_id}` path parameter, checked.
#[derive(Debug)]
pub struct SessionPath(pub SessionId);

impl<S: Send + Sync> FromRequestParts<S> for SessionPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let s = path_string(parts, state).await?;
        s.parse()
            .map(Self)
            .map_err(|e: latch_core::token::InvalidSessionId| Problem::invalid(e.to_string()))
    }
}

async fn path_string<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<String, Problem> {
    axum::extract::Path::<String>::from_request_parts(parts, state)
        .await
        .map(|p| p.0)
        .map_err(|r: PathRejection| Problem::bad_request(redact(&r.body_text())))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_long_or_secret_looking_quotes() {
        assert_eq!(
            redact("unknown field `nope`, expected `token`"),
            "unknown field `nope`, expected `token`"
        );
        assert_eq!(
            redact("invalid type: string \"latch_s_abc\", expected u64"),
            "invalid type: string \"<redacted>\", expected u64"
        );
        assert_eq!(
            redact(&format!("x \"{}\" y", "a".repeat(65))),
            "x \"<redacted>\" y"
        );
        assert_eq!(redact("unterminated \"quote"), "unterminated \"quote");
        assert_eq!(
            redact("target type: latch_s_abc-def: unknown field"),
            "target type: <redacted>: unknown field"
        );
    }
}
