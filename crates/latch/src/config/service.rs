//! `[service_tokens]` and `[forward_auth]`: what may be minted for whom, and how forward-auth
//! reads sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Result, bail};
use latch_core::cookie::{SameSite, SessionCookie};
use latch_core::service_token::{MAX_TTL, ServiceTokenPolicy, valid_audience};
use latch_server::{ForwardAuthConfig, RoleRule};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceTokensFile {
    issuer: Option<String>,
    ttl_s: Option<u64>,
    audiences: Option<Vec<String>>,
    /// API key label (`config:N` or a stored key's id) → audiences it may mint for.
    key_audiences: Option<BTreeMap<String, Vec<String>>>,
    rotate_every_s: Option<u64>,
    publish_ahead_s: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForwardAuthFile {
    cookie_name: Option<String>,
    same_site: Option<String>,
    login_url: Option<String>,
    service_token_audience: Option<String>,
    #[serde(default)]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    path_prefix: String,
    require_roles: Vec<String>,
}

/// The service-token policy: `LATCH_SERVICE_AUDIENCES` (comma-separated) over the file.
pub(super) fn service_tokens(
    f: &ServiceTokensFile,
    env: Option<&str>,
) -> Result<ServiceTokenPolicy> {
    let mut p = ServiceTokenPolicy::default();
    if let Some(i) = &f.issuer {
        if i.is_empty() || i.len() > 256 || !i.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("service_tokens.issuer must be 1 to 256 visible ASCII characters");
        }
        p.issuer.clone_from(i);
    }
    if let Some(t) = f.ttl_s {
        if t == 0 || t > MAX_TTL.as_secs() {
            bail!(
                "service_tokens.ttl_s must be 1 to {} seconds (service tokens are short-lived by design)",
                MAX_TTL.as_secs()
            );
        }
        p.ttl = Duration::from_secs(t);
    }
    let listed: Vec<String> = match env {
        Some(v) => super::split_keys(v),
        None => f.audiences.clone().unwrap_or_default(),
    };
    for a in &listed {
        if !valid_audience(a) {
            bail!(
                "service token audience {a:?} must be 1 to 128 visible ASCII characters without commas"
            );
        }
    }
    p.audiences = listed.into_iter().collect();
    if let Some(per_key) = &f.key_audiences {
        let mut out = BTreeMap::new();
        for (key, auds) in per_key {
            if let Some(a) = auds.iter().find(|a| !p.audiences.contains(*a)) {
                bail!(
                    "service_tokens.key_audiences.{key:?} names {a:?}, which is not in the audiences (LATCH_SERVICE_AUDIENCES or service_tokens.audiences)"
                );
            }
            out.insert(key.clone(), auds.iter().cloned().collect::<BTreeSet<_>>());
        }
        p.key_audiences = Some(out);
    }
    match f.rotate_every_s {
        Some(0) => p.rotate_every = None,
        Some(s) if s < 3600 => {
            bail!("service_tokens.rotate_every_s must be 0 (never) or at least 3600")
        }
        Some(s) => p.rotate_every = Some(Duration::from_secs(s)),
        None => {}
    }
    if let Some(s) = f.publish_ahead_s {
        p.publish_ahead = Duration::from_secs(s);
    }
    Ok(p)
}

pub(super) fn forward_auth(
    f: &ForwardAuthFile,
    tokens: &ServiceTokenPolicy,
) -> Result<ForwardAuthConfig> {
    let mut cookie = SessionCookie::default();
    if let Some(n) = &f.cookie_name {
        cookie = cookie
            .with_name(n)
            .map_err(|e| anyhow::anyhow!("forward_auth.cookie_name: {e}"))?;
    }
    cookie = match f.same_site.as_deref() {
        None | Some("lax") => cookie,
        Some("strict") => cookie.with_same_site(SameSite::Strict),
        Some(other) => bail!("forward_auth.same_site must be \"lax\" or \"strict\", not {other:?}"),
    };
    if let Some(a) = &f.service_token_audience
        && !tokens.audiences.contains(a)
    {
        bail!("forward_auth.service_token_audience {a:?} is not in the service token audiences");
    }
    if let Some(u) = &f.login_url
        && !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/'))
    {
        bail!("forward_auth.login_url must be an absolute URL or a path starting with /");
    }
    let mut rules = Vec::with_capacity(f.rules.len());
    for r in &f.rules {
        if !r.path_prefix.starts_with('/') || r.require_roles.is_empty() {
            bail!(
                "each [[forward_auth.rules]] needs a path_prefix starting with / and at least one role in require_roles"
            );
        }
        rules.push(RoleRule {
            path_prefix: r.path_prefix.clone(),
            roles: r.require_roles.clone(),
        });
    }
    Ok(ForwardAuthConfig {
        cookie,
        login_url: f.login_url.clone(),
        rules,
        service_token_audience: f.service_token_audience.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_come_from_the_environment_over_the_file_and_are_checked() {
        let f: ServiceTokensFile = toml::from_str(
            "audiences = [\"billing\"]\nttl_s = 30\n[key_audiences]\n\"config:1\" = [\"billing\"]",
        )
        .unwrap();
        let p = service_tokens(&f, None).unwrap();
        assert!(p.audiences.contains("billing"));
        assert_eq!(p.ttl, Duration::from_secs(30));
        assert!(
            service_tokens(&f, Some("search")).is_err(),
            "key_audiences names billing"
        );
        let none = service_tokens(&ServiceTokensFile::default(), None).unwrap();
        assert!(none.audiences.is_empty(), "none by default");
        for bad in [
            "ttl_s = 301",
            "ttl_s = 0",
            "audiences = [\"a,b\"]",
            "rotate_every_s = 5",
            "issuer = \"\"",
        ] {
            let f: ServiceTokensFile = toml::from_str(bad).unwrap();
            assert!(service_tokens(&f, None).is_err(), "{bad}");
        }
        let never: ServiceTokensFile = toml::from_str("rotate_every_s = 0").unwrap();
        assert!(service_tokens(&never, None).unwrap().rotate_every.is_none());
    }

    #[test]
    fn forward_auth_settings_are_checked() {
        let p = service_tokens(&ServiceTokensFile::default(), Some("app")).unwrap();
        let f: ForwardAuthFile = toml::from_str(
            "cookie_name = \"__Host-sid\"\nsame_site = \"strict\"\nservice_token_audience = \"app\"\n[[rules]]\npath_prefix = \"/admin\"\nrequire_roles = [\"admin\"]",
        )
        .unwrap();
        let c = forward_auth(&f, &p).unwrap();
        assert_eq!(c.cookie.name(), "__Host-sid");
        assert!(c.cookie.set("t").contains("SameSite=Strict"));
        assert_eq!(c.rules.len(), 1);
        for bad in [
            "same_site = \"none\"",
            "cookie_name = \"a b\"",
            "service_token_audience = \"other\"",
            "login_url = \"javascript:x\"",
            "[[rules]]\npath_prefix = \"admin\"\nrequire_roles = [\"a\"]",
            "[[rules]]\npath_prefix = \"/a\"\nrequire_roles = []",
        ] {
            let f: ForwardAuthFile = toml::from_str(bad).unwrap();
            assert!(forward_auth(&f, &p).is_err(), "{bad}");
        }
    }
}
