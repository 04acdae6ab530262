//! The validation answer serialized straight from the validation result: the JSON of
//! [`super::ValidationView`] without building one (no string copies, no clone of the user's
//! attributes). `POST /v1/sessions/validate` is the hot route; this is its answer.

use std::fmt::Display;

use latch_core::ActiveSession;
use latch_core::session::SessionRecord;
use latch_core::time::Timestamp;
use latch_core::user::User;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use super::Status;

/// `{"active": true, "session", "user"}` for an active session, `{"active": false}` otherwise.
pub struct ValidationAnswer<'a>(pub Option<&'a ActiveSession>);

impl Serialize for ValidationAnswer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(a) = self.0 else {
            let mut m = s.serialize_struct("ValidationView", 1)?;
            m.serialize_field("active", &false)?;
            return m.end();
        };
        let mut m = s.serialize_struct("ValidationView", 3)?;
        m.serialize_field("active", &true)?;
        m.serialize_field(
            "session",
            &SessionRef {
                s: a.record(),
                last_seen: a.last_seen_at(),
            },
        )?;
        m.serialize_field("user", &UserRef(a.user()))?;
        m.end()
    }
}

/// Writes a value through its `Display`, without an intermediate `String`.
struct Shown<T>(T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct SessionRef<'a> {
    s: &'a SessionRecord,
    last_seen: Timestamp,
}

impl Serialize for SessionRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.s;
        let mut m = s.serialize_struct("SessionView", 7)?;
        m.serialize_field("id", &Shown(r.id))?;
        m.serialize_field("user_id", r.user_id.as_str())?;
        m.serialize_field("created_at", &Shown(r.created_at))?;
        m.serialize_field("last_seen_at", &Shown(self.last_seen))?;
        m.serialize_field(
            "idle_expires_at",
            &Shown(r.idle_expires_after(self.last_seen)),
        )?;
        m.serialize_field("expires_at", &Shown(r.expires_at))?;
        m.serialize_field("device", &DeviceRef(r))?;
        m.end()
    }
}

struct DeviceRef<'a>(&'a SessionRecord);

impl Serialize for DeviceRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = &self.0.device;
        let mut m = s.serialize_struct("DeviceView", 2)?;
        m.serialize_field("user_agent", &d.user_agent)?;
        m.serialize_field("ip", &d.ip.map(Shown))?;
        m.end()
    }
}

struct UserRef<'a>(&'a User);

impl Serialize for UserRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut m = s.serialize_struct("UserView", 4)?;
        m.serialize_field("id", u.id.as_str())?;
        m.serialize_field("roles", &u.roles)?;
        m.serialize_field("status", &Status::from(u.status))?;
        m.serialize_field("attributes", &u.attributes)?;
        m.end()
    }
}
