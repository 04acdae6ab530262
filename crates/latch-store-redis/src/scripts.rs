//! The Lua scripts. Each multi-key change runs as one script on keys that share the user's
//! hash tag (`{shard}`), so it is atomic on a standalone server and on a cluster alike, and it
//! publishes its invalidations from inside the script, before the write is acknowledged.
//!
//! Session hash fields: `u` user id, `v` verifier (32 raw bytes), `c` created, `l` last seen,
//! `i` idle timeout, `e` absolute expiry (milliseconds), `ua`, `ip` (a leading `=` marks a
//! present value, so an empty user agent differs from none). User hash fields: `r` roles
//! (JSON), `b` blocked (`1`/`0`), `a` attributes (JSON).
//!
//! Invalidations are published on the channel as `s:<ms>:<session id>` and `u:<ms>:<user id>`,
//! `<ms>` being the Redis server's clock when the change was made (for the revocation-lag
//! metric).
//!
//! Every session key expires `GRACE_MS` after it stops being live by its stored last use; the
//! user index expires with the last of its sessions. User records do not expire: a block must
//! not lapse.

use std::sync::LazyLock;

use redis::Script;

/// How long after a session stops being live Redis deletes it (clock skew between Latch nodes
/// and Redis must not delete a live session early).
pub(crate) const GRACE_MS: u64 = 60_000;

const PRELUDE: &str = r#"
local FIELDS = {'u','v','c','l','i','e','ua','ip'}
local function rec(k) return redis.call('HMGET', k, unpack(FIELDS)) end
local function live(k, now)
  local f = redis.call('HMGET', k, 'l', 'i', 'e')
  if not f[1] then return false end
  local l, i, e = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
  return now < e and now < l + i
end
local function pub(chan, kind, payload)
  local t = redis.call('TIME')
  redis.call('PUBLISH', chan, kind .. ':' .. (t[1] * 1000 + math.floor(t[2] / 1000)) .. ':' .. payload)
end
local function extend(k, t)
  if redis.call('PTTL', k) < 0 then redis.call('PEXPIREAT', k, t)
  else redis.call('PEXPIREAT', k, t, 'GT') end
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("local GRACE = {GRACE_MS}\n{PRELUDE}{body}"))
}

/// KEYS: user, index, session. ARGV: base, sid, uid, verifier, created, last seen, idle,
/// expires, user agent, ip, cap, now, channel. Returns `{0}` if the user is blocked, else
/// `{1, evicted ids...}`.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local base, sid, cap, now, chan = ARGV[1], ARGV[2], tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13]
if redis.call('HGET', KEYS[1], 'b') == '1' then return {0} end
local out = {1}
if redis.call('ZCARD', KEYS[2]) >= cap then
  local alive = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local k = base .. 's:' .. id
    if live(k, now) then table.insert(alive, id)
    else redis.call('DEL', k); redis.call('ZREM', KEYS[2], id) end
  end
  for j = 1, #alive - (cap - 1) do
    local id = alive[j]
    redis.call('DEL', base .. 's:' .. id)
    redis.call('ZREM', KEYS[2], id)
    pub(chan, 's', id)
    table.insert(out, id)
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'r', '[]', 'b', '0', 'a', '{}')
end
redis.call('HSET', KEYS[3], 'u', ARGV[3], 'v', ARGV[4], 'c', ARGV[5], 'l', ARGV[6], 'i', ARGV[7], 'e', ARGV[8], 'ua', ARGV[9], 'ip', ARGV[10])
local t = math.min(tonumber(ARGV[6]) + tonumber(ARGV[7]), tonumber(ARGV[8])) + GRACE
redis.call('PEXPIREAT', KEYS[3], t)
redis.call('ZADD', KEYS[2], ARGV[5], sid)
extend(KEYS[2], t)
return out
"#,
    )
});

/// KEYS: session. ARGV: base. Returns `{session fields, user fields}` (the user read from the
/// same slot), or nil: a validation's cache miss in one round trip.
pub(crate) static SESSION_WITH_USER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local r = rec(KEYS[1])
if not r[1] then return false end
return {r, redis.call('HMGET', ARGV[1] .. 'u:' .. r[1], 'r', 'b', 'a')}
"#,
    )
});

/// KEYS: session. ARGV: base, at. Raises the last use if newer and the session is live then.
pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local f = redis.call('HMGET', KEYS[1], 'u', 'l', 'i', 'e')
if not f[1] then return 0 end
local at, l, i, e = tonumber(ARGV[2]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
if at <= l or at >= e or at >= l + i then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[2])
local t = math.min(at + i, e) + GRACE
redis.call('PEXPIREAT', KEYS[1], t)
extend(ARGV[1] .. 'x:' .. f[1], t)
return 1
"#,
    )
});

/// KEYS: session. ARGV: current verifier, next verifier, now, channel, sid. Returns the record
/// after the change, or nil.
pub(crate) static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = tonumber(ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'v', 'l', 'i', 'e')
if not f[1] or f[1] ~= ARGV[1] or not live(KEYS[1], now) then return false end
local l, i, e = tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
local nl = math.max(l, now)
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'l', tostring(nl))
redis.call('PEXPIREAT', KEYS[1], math.min(nl + i, e) + GRACE)
pub(ARGV[4], 's', ARGV[5])
return rec(KEYS[1])
"#,
    )
});

/// KEYS: session. ARGV: base, expected verifier or empty, channel, sid. Returns the deleted
/// record, or nil.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local r = rec(KEYS[1])
if not r[1] then return false end
if ARGV[2] ~= '' and r[2] ~= ARGV[2] then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. 'x:' .. r[1], ARGV[4])
pub(ARGV[3], 's', ARGV[4])
return r
"#,
    )
});

/// KEYS: index. ARGV: base, except (or empty), channel. Returns the deleted ids.
pub(crate) static DELETE_USER_SESSIONS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local gone = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[2] then
    if redis.call('DEL', ARGV[1] .. 's:' .. id) == 1 then
      table.insert(gone, id)
      pub(ARGV[3], 's', id)
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
return gone
"#,
    )
});

/// KEYS: user, index. ARGV: base, roles JSON or empty, blocked (`1`/`0`) or empty, attributes
/// JSON or empty, channel, uid. Returns `{before, after, revoked ids}`; blocking deletes every
/// session of the user in the same step.
pub(crate) static UPDATE_USER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local before = redis.call('HMGET', KEYS[1], 'r', 'b', 'a')
if not before[1] then redis.call('HSET', KEYS[1], 'r', '[]', 'b', '0', 'a', '{}') end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'r', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'b', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'a', ARGV[4]) end
local after = redis.call('HMGET', KEYS[1], 'r', 'b', 'a')
local gone = {}
if after[2] == '1' then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('DEL', ARGV[1] .. 's:' .. id) == 1 then
      table.insert(gone, id)
      pub(ARGV[5], 's', id)
    end
  end
  redis.call('DEL', KEYS[2])
end
pub(ARGV[5], 'u', ARGV[6])
return {before, after, gone}
"#,
    )
});

/// KEYS: index. ARGV: base, now. Returns `{id, record}` pairs for the live sessions, oldest
/// first, and drops index entries whose session is gone.
pub(crate) static USER_SESSIONS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now, out = tonumber(ARGV[2]), {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[1] .. 's:' .. id
  if redis.call('EXISTS', k) == 0 then redis.call('ZREM', KEYS[1], id)
  elseif live(k, now) then table.insert(out, id); table.insert(out, rec(k)) end
end
return out
"#,
    )
});

/// KEYS: session. ARGV: base, now, sid, channel. Deletes the session if it is not live at
/// `now`; returns the record, or nil.
pub(crate) static SWEEP_ONE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local r = rec(KEYS[1])
if not r[1] or live(KEYS[1], tonumber(ARGV[2])) then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. 'x:' .. r[1], ARGV[3])
pub(ARGV[4], 's', ARGV[3])
return r
"#,
    )
});
