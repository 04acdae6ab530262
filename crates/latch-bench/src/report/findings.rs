//! What the figures mean: how long each approach honours a revoked credential or a removed
//! role, and which targets this run met.

use super::{Delay, Freshness, Group, Report, Target, secs};

impl Report {
    pub(super) fn freshness_rows(&self) -> Vec<Freshness> {
        let life = crate::jwt::LIFETIME_S as f64;
        let mut v = vec![Freshness {
            approach: format!(
                "JWT session token ({} min lifetime)",
                crate::jwt::LIFETIME_S / 60
            ),
            group: Group::Jwt,
            revoke: Delay::by_design(life, "valid until it expires"),
            demote: Delay::by_design(life, "the roles are in the token"),
        }];
        if let Some(p) = &self.postgres {
            v.push(Freshness {
                approach: "PostgreSQL sessions".into(),
                group: Group::Database,
                revoke: Delay::measured(p.revoke_us, "measured: the next read"),
                demote: Delay::measured(p.demote_us, "measured: roles joined on every read"),
            });
        }
        if let Some(r) = &self.redis {
            v.push(Freshness {
                approach: "Redis sessions, the usual way".into(),
                group: Group::Redis,
                revoke: Delay::measured(r.usual_revoke_us, "measured: the next GET"),
                demote: Delay::by_design(
                    8.0 * 3600.0,
                    "roles copied into the session at login: until re-login, up to the 8 h absolute timeout",
                ),
            });
        }
        if let Some(o) = &self.one_node {
            v.push(Freshness {
                approach: "Latch, one node".into(),
                group: Group::Latch,
                revoke: Delay::measured(o.revoke_us, "measured: the next validation"),
                demote: Delay::measured(o.demote_us, "measured: the next validation"),
            });
        }
        if let Some(r) = &self.redis {
            v.push(Freshness {
                approach: "Latch, another node (Redis feed)".into(),
                group: Group::Latch,
                revoke: Delay::measured((r.lag_us.0, r.lag_us.1), "measured across nodes"),
                demote: Delay::measured(
                    (r.demote_lag_us.0, r.demote_lag_us.1),
                    "measured across nodes",
                ),
            });
        }
        v.push(Freshness {
            approach: "Latch service token (for backend services)".into(),
            group: Group::Latch,
            revoke: Delay::by_design(
                60.0,
                "no new one once the session is revoked; live ones expire within their 60 s",
            ),
            demote: Delay::by_design(60.0, "the same"),
        });
        v
    }

    pub(super) fn target_rows(&self) -> Vec<Target> {
        let mut t = Vec::new();
        let mut add = |what: &str, target: &str, measured: String, met: bool| {
            t.push(Target {
                what: what.into(),
                target: target.into(),
                measured,
                met,
            });
        };
        if let (Some(warm), Some(hs), Some(ed)) = (
            self.median("Latch validate, warm"),
            self.median("JWT HS256"),
            self.median("JWT EdDSA"),
        ) {
            add(
                "warm validation vs HS256 verification",
                "at most 0.25x",
                format!("{:.3}x", warm / hs),
                warm / hs <= 0.25,
            );
            add(
                "warm validation vs EdDSA verification",
                "about 1/50 (0.02x)",
                format!("{:.4}x (1/{:.0})", warm / ed, ed / warm),
                warm / ed <= 0.02,
            );
        }
        if let Some(r) = &self.redis {
            let ratio = r.miss.median_ns / r.get.median_ns.max(f64::MIN_POSITIVE);
            add(
                "cache-miss validation on Redis vs one GET round trip",
                "at most 1.3x",
                format!("{ratio:.2}x"),
                ratio <= 1.3,
            );
            add(
                "revocation seen by another node, p99",
                "under 10 ms",
                secs(r.lag_us.1 / 1e6),
                r.lag_us.1 < 10_000.0,
            );
            add(
                "Redis memory per session at scale",
                "under 300 B",
                format!("{:.0} B at {} sessions", r.bytes_per_session, r.sessions),
                r.bytes_per_session < 300.0,
            );
        }
        let noop = self.http.noop_rps();
        if let Some(v) = self.http.rows.get(1) {
            let ratio = v.rps / noop.max(f64::MIN_POSITIVE);
            add(
                "HTTP validate throughput vs axum no-op",
                "at least 0.7x",
                format!("{ratio:.2}x"),
                ratio >= 0.7,
            );
        }
        if let Some((_, per_s)) = self.creates.iter().find(|(c, _)| *c == 64) {
            add(
                "durable creates, embedded store, 64 clients",
                "at least 20,000/s",
                format!("{per_s:.0}/s"),
                *per_s >= 20_000.0,
            );
        }
        if let Some(bytes) = self
            .validation
            .iter()
            .find(|r| r.group == Group::Latch)
            .and_then(|r| r.token_bytes)
        {
            add(
                "token size",
                "under 100 B",
                format!("{bytes} B"),
                bytes < 100,
            );
        }
        t
    }
}
