//! The layer: puts a [`Sessions`] handle in every request's extensions.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use latch_core::cookie::SessionCookie;
use latch_core::session::Device;
use latch_core::token::SessionId;
use latch_core::user::UserId;
use latch_core::{Error, IssuedSession, Latch, NewSession};
use tower::{Layer, Service};

use crate::cookie::{ClearSessionCookie, SetSessionCookie};
use crate::extract::{Rejection, Session};

/// Gives every request a [`Sessions`] handle over one engine.
#[derive(Clone, Debug)]
pub struct LatchLayer {
    sessions: Sessions,
}

impl LatchLayer {
    /// Sessions from `latch` (any store: embedded, Redis, in-memory), with the default cookie
    /// (`__Host-latch`, `Secure`, `HttpOnly`, `SameSite=Lax`, a session cookie).
    pub fn new(latch: Arc<Latch>) -> Self {
        Self {
            sessions: Sessions {
                latch,
                cookie: Arc::new(SessionCookie::default()),
            },
        }
    }

    /// Uses another cookie name or `SameSite` (see [`SessionCookie`]).
    #[must_use]
    pub fn with_cookie(mut self, cookie: SessionCookie) -> Self {
        self.sessions.cookie = Arc::new(cookie);
        self
    }
}

impl<S> Layer<S> for LatchLayer {
    type Service = LatchService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LatchService {
            inner,
            sessions: self.sessions.clone(),
        }
    }
}

/// The service [`LatchLayer`] makes.
#[derive(Clone, Debug)]
pub struct LatchService<S> {
    inner: S,
    sessions: Sessions,
}

impl<S, B> Service<axum::http::Request<B>> for LatchService<S>
where
    S: Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.sessions.clone());
        self.inner.call(req)
    }
}

/// The per-request handle: sign in, sign out, rotate. Extract it in a handler.
#[derive(Clone, Debug)]
pub struct Sessions {
    latch: Arc<Latch>,
    cookie: Arc<SessionCookie>,
}

impl Sessions {
    /// The engine, for everything else (listing a user's sessions, changing roles, ...).
    pub fn latch(&self) -> &Arc<Latch> {
        &self.latch
    }

    /// The cookie settings.
    pub fn cookie(&self) -> &SessionCookie {
        &self.cookie
    }

    /// Signs in a user your app has authenticated: a new session, and the cookie to set. Call
    /// it after every authentication, so a session id is never carried across a login
    /// (fixation).
    ///
    /// # Errors
    /// [`Error::UserBlocked`], [`Error::Store`] (answer 503), [`Error::Random`].
    pub async fn sign_in(
        &self,
        user: UserId,
        device: Device,
    ) -> Result<(IssuedSession, SetSessionCookie), Error> {
        let issued = self
            .latch
            .create_session(NewSession {
                user_id: user,
                device,
                idle_timeout_s: None,
                absolute_timeout_s: None,
            })
            .await?;
        let cookie = SetSessionCookie::new(&self.cookie, issued.token.expose());
        Ok((issued, cookie))
    }

    /// Signs out: revokes the session and returns the cookie clearing.
    ///
    /// # Errors
    /// [`Error::Store`]: nothing was revoked; answer 503 and let the user retry.
    pub async fn sign_out(&self, session: &Session) -> Result<ClearSessionCookie, Error> {
        self.latch.revoke_token(session.token()).await?;
        Ok(ClearSessionCookie::new(&self.cookie))
    }

    /// A new token for the same session (after a privilege change); the old one is dead at
    /// once. `None` if the session ended meanwhile.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Random`].
    pub async fn rotate(
        &self,
        session: &Session,
    ) -> Result<Option<(IssuedSession, SetSessionCookie)>, Error> {
        Ok(self.latch.rotate(session.token()).await?.map(|issued| {
            let cookie = SetSessionCookie::new(&self.cookie, issued.token.expose());
            (issued, cookie)
        }))
    }

    /// Revokes one of the user's sessions by id ("sign out that device"); whether it was one
    /// of `session`'s user's.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn revoke_own(&self, session: &Session, id: &SessionId) -> Result<bool, Error> {
        // One read of that session, not a listing of all of the user's.
        let mine = self
            .latch
            .store()
            .session(id)
            .await?
            .is_some_and(|s| s.user_id == session.user().id);
        if mine {
            self.latch.revoke_session(id).await?;
        }
        Ok(mine)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Sessions {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(Rejection::MissingLayer)
    }
}
