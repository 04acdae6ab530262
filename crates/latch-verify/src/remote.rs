//! Keys fetched from a configured JWKS URL, cached, and refreshed when they age or when a token
//! names a key not yet known (at most once per [`RemoteVerifier::MIN_REFRESH`]).

use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Url;

use crate::{Claims, KeySet, Rejected, Verifier};

/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Why a remote verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The token is refused (answer 401).
    #[error(transparent)]
    Rejected(#[from] Rejected),
    /// No key set could be fetched (answer 503; the token was not judged).
    #[error("cannot fetch the JWKS: {0}")]
    Fetch(String),
}

/// Why a [`RemoteVerifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not a URL.
    #[error("not a URL: {0}")]
    Url(String),
    /// Plain http to a host that is not this machine.
    #[error(
        "refusing to fetch keys over plain http from {0}: use https (or allow_http() for a trusted network)"
    )]
    InsecureUrl(String),
    /// The HTTP client could not be built (its TLS backend, say).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A [`Verifier`] whose keys come from one JWKS URL.
#[derive(Debug)]
pub struct RemoteVerifier {
    url: Url,
    client: reqwest::Client,
    verifier: RwLock<Verifier>,
    fetched: RwLock<Option<Instant>>,
    refreshing: tokio::sync::Mutex<()>,
    max_age: Duration,
    min_refresh: Duration,
}

impl RemoteVerifier {
    /// Keys older than this are fetched again before use.
    pub const MAX_AGE: Duration = Duration::from_secs(300);
    /// A token with an unknown `kid` triggers a fetch at most this often.
    pub const MIN_REFRESH: Duration = Duration::from_secs(10);
    /// Keys are used this long past their age while the JWKS cannot be fetched, then not.
    pub const MAX_STALE: Duration = Duration::from_secs(3600);

    /// Verifies tokens from `issuer` for `audience` with keys from `jwks_url`. The URL must be
    /// https, or http to a loopback address.
    ///
    /// # Errors
    /// [`ConfigError`] for a bad or insecure URL.
    pub fn new(
        jwks_url: &str,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let url = Url::parse(jwks_url).map_err(|e| ConfigError::Url(e.to_string()))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(ConfigError::InsecureUrl(jwks_url.to_owned())),
            other => return Err(ConfigError::Url(format!("unsupported scheme {other}"))),
        }
        Self::build(url, issuer.into(), audience.into())
    }

    /// Like [`new`](Self::new), but accepts plain http to any host: only on a network where no
    /// one can tamper with the answer.
    ///
    /// # Errors
    /// [`ConfigError::Url`] for a bad URL.
    pub fn allow_http(
        jwks_url: &str,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let url = Url::parse(jwks_url).map_err(|e| ConfigError::Url(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::Url(format!(
                "unsupported scheme {}",
                url.scheme()
            )));
        }
        Self::build(url, issuer.into(), audience.into())
    }

    fn build(url: Url, issuer: String, audience: String) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // No fallback to a default client: it would follow redirects.
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self {
            url,
            client,
            verifier: RwLock::new(Verifier::new(KeySet::default(), issuer, audience)),
            fetched: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            max_age: Self::MAX_AGE,
            min_refresh: Self::MIN_REFRESH,
        })
    }

    /// Refetches keys older than `max_age` (default [`Self::MAX_AGE`]) before use.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Lets a token with an unknown `kid` trigger a fetch at most once per `min_refresh`
    /// (default [`Self::MIN_REFRESH`]), so a flood of forged `kid`s cannot flood the issuer.
    #[must_use]
    pub fn with_min_refresh(mut self, min_refresh: Duration) -> Self {
        self.min_refresh = min_refresh;
        self
    }

    /// Verifies `token` now, fetching keys first if needed.
    ///
    /// # Errors
    /// [`RemoteError::Rejected`] for a refused token; [`RemoteError::Fetch`] when there are no
    /// usable keys because the JWKS cannot be fetched.
    pub async fn verify(&self, token: &str) -> Result<Claims, RemoteError> {
        if self.age().is_none_or(|a| a >= self.max_age)
            && let Err(e) = self.refresh().await
            && self
                .age()
                .is_none_or(|a| a >= self.max_age + Self::MAX_STALE)
        {
            // Keys a little stale are still the right keys unless rotated, so an issuer
            // outage does not stop verification at once; but not for long, or a key the
            // issuer withdrew (leaked) would stay trusted for as long as it is unreachable.
            return Err(e);
        }
        let first = self.verify_now(token);
        if matches!(first, Err(Rejected::UnknownKey))
            && self.age().is_none_or(|a| a >= self.min_refresh)
        {
            self.refresh().await?;
            return Ok(self.verify_now(token)?);
        }
        Ok(first?)
    }

    fn verify_now(&self, token: &str) -> Result<Claims, Rejected> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.verifier
            .read()
            .map_err(|_| Rejected::UnknownKey)?
            .verify(token, now)
    }

    fn age(&self) -> Option<Duration> {
        self.fetched
            .read()
            .ok()
            .and_then(|f| f.map(|t| t.elapsed()))
    }

    /// Fetches the key set now (one fetch at a time; a caller that waited for another's fetch
    /// uses its result).
    ///
    /// # Errors
    /// [`RemoteError::Fetch`].
    pub async fn refresh(&self) -> Result<(), RemoteError> {
        let before = self.age();
        let _one = self.refreshing.lock().await;
        if self.age() < before || (before.is_none() && self.age().is_some()) {
            return Ok(()); // someone else just fetched
        }
        let keys = self.fetch().await?;
        if let Ok(mut v) = self.verifier.write() {
            v.set_keys(keys);
        }
        if let Ok(mut f) = self.fetched.write() {
            *f = Some(Instant::now());
        }
        Ok(())
    }

    async fn fetch(&self) -> Result<KeySet, RemoteError> {
        let fail = |e: &dyn std::fmt::Display| RemoteError::Fetch(format!("{}: {e}", self.url));
        let mut r = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| fail(&e))?;
        if !r.status().is_success() {
            return Err(fail(&r.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| fail(&e))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(fail(&"the document is over 64 KiB"));
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::from_jwks_json(&body).map_err(|e| fail(&e))
    }
}
