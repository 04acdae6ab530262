//! The Lua scripts. Each multi-key change runs as one script on keys that share the user's
//! hash tag (`{shard}`), so it is atomic on a standalone server and on a cluster alike, and it
//! publishes its invalidations from inside the script, before the write is acknowledged.
//!
//! A session is one string value, packed big-endian (Lua: `struct`, Rust: [`crate::codec`]):
//! verifier (32 bytes), created (u48 ms), last seen (u48), idle timeout (u48 ms), absolute expiry
//! (u48), flags (u8: 1 user agent present, 2 ip present), then the user id (u16 length), user
//! agent (u16 length) and ip (u8 length). About 75 bytes for a typical session. User hash fields:
//! `r` roles (JSON), `b` blocked (`1`/`0`), `a` attributes (JSON). Session keys and index members
//! carry the 32 hex digits after the shard; messages carry the whole session id.
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
local FMT = '>c32 I6 I6 I6 I6 B I2 c0 I2 c0 B c0'
local function dec(v)
  if not v then return nil end
  local vf, c, l, i, e, f, u, ua, ip = struct.unpack(FMT, v)
  return {v = vf, c = c, l = l, i = i, e = e, f = f, u = u, ua = ua, ip = ip}
end
local function enc(s)
  return struct.pack(FMT, s.v, s.c, s.l, s.i, s.e, s.f, #s.u, s.u, #s.ua, s.ua, #s.ip, s.ip)
end
local function live(s, now) return now < s.e and now < s.l + s.i end
local function ends(s) return math.min(s.l + s.i, s.e) end
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

/// KEYS: user, index, session. ARGV: base, shard, member, value, created, cap, now, channel.
/// Returns `{0}` if the user is blocked, else `{1, evicted session ids...}`.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local base, shard, cap, now, chan = ARGV[1], ARGV[2], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if redis.call('HGET', KEYS[1], 'b') == '1' then return {0} end
local out = {1}
if redis.call('ZCARD', KEYS[2]) >= cap then
  local alive = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local k = base .. 's:' .. id
    local s = dec(redis.call('GET', k))
    if s and live(s, now) then table.insert(alive, id)
    else redis.call('DEL', k); redis.call('ZREM', KEYS[2], id) end
  end
  for j = 1, #alive - (cap - 1) do
    local id = alive[j]
    redis.call('DEL', base .. 's:' .. id)
    redis.call('ZREM', KEYS[2], id)
    pub(chan, 's', shard .. id)
    table.insert(out, shard .. id)
  end
end
local t = ends(dec(ARGV[4])) + GRACE
redis.call('SET', KEYS[3], ARGV[4], 'PXAT', t)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
extend(KEYS[2], t)
return out
"#,
    )
});

/// KEYS: session. ARGV: base. Returns `{session value, user fields}`, or nil: a validation's
/// cache miss in one round trip.
pub(crate) static SESSION_WITH_USER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local v = redis.call('GET', KEYS[1])
if not v then return false end
return {v, redis.call('HMGET', ARGV[1] .. 'u:' .. dec(v).u, 'r', 'b', 'a')}
"#,
    )
});

/// KEYS: session. ARGV: base, at. Raises the last use if newer and the session is live then.
pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local s = dec(redis.call('GET', KEYS[1]))
if not s then return 0 end
local at = tonumber(ARGV[2])
if at <= s.l or not live(s, at) then return 0 end
s.l = at
local t = ends(s) + GRACE
redis.call('SET', KEYS[1], enc(s), 'PXAT', t)
extend(ARGV[1] .. 'x:' .. s.u, t)
return 1
"#,
    )
});

/// KEYS: session. ARGV: current verifier, next verifier, now, channel, session id. Returns the
/// value after the change, or nil.
pub(crate) static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = tonumber(ARGV[3])
local s = dec(redis.call('GET', KEYS[1]))
if not s or s.v ~= ARGV[1] or not live(s, now) then return false end
s.v = ARGV[2]
s.l = math.max(s.l, now)
local v = enc(s)
redis.call('SET', KEYS[1], v, 'PXAT', ends(s) + GRACE)
pub(ARGV[4], 's', ARGV[5])
return v
"#,
    )
});

/// KEYS: session. ARGV: base, expected verifier or empty, channel, session id, member. Returns
/// the deleted value, or nil.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local v = redis.call('GET', KEYS[1])
if not v then return false end
local s = dec(v)
if ARGV[2] ~= '' and s.v ~= ARGV[2] then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. 'x:' .. s.u, ARGV[5])
pub(ARGV[3], 's', ARGV[4])
return v
"#,
    )
});

/// KEYS: index. ARGV: base, except member (or empty), channel, shard. Returns the deleted ids.
pub(crate) static DELETE_USER_SESSIONS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local gone = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[2] then
    if redis.call('DEL', ARGV[1] .. 's:' .. id) == 1 then
      table.insert(gone, ARGV[4] .. id)
      pub(ARGV[3], 's', ARGV[4] .. id)
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
return gone
"#,
    )
});

/// KEYS: user, index. ARGV: base, roles JSON or empty, blocked (`1`/`0`) or empty, attributes
/// JSON or empty, channel, user id, shard. Returns `{before, after, revoked ids}`; blocking
/// deletes every session of the user in the same step.
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
      table.insert(gone, ARGV[7] .. id)
      pub(ARGV[5], 's', ARGV[7] .. id)
    end
  end
  redis.call('DEL', KEYS[2])
end
pub(ARGV[5], 'u', ARGV[6])
return {before, after, gone}
"#,
    )
});

/// KEYS: index. ARGV: base, now, shard. Returns `{id, value}` pairs for the live sessions,
/// oldest first, and drops index entries whose session is gone.
pub(crate) static USER_SESSIONS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now, out = tonumber(ARGV[2]), {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', ARGV[1] .. 's:' .. id)
  if not v then redis.call('ZREM', KEYS[1], id)
  elseif live(dec(v), now) then table.insert(out, ARGV[3] .. id); table.insert(out, v) end
end
return out
"#,
    )
});

/// KEYS: session. ARGV: base, now, session id, channel, member. Deletes the session if it is
/// not live at `now`; returns the value, or nil.
pub(crate) static SWEEP_ONE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local v = redis.call('GET', KEYS[1])
if not v then return false end
local s = dec(v)
if live(s, tonumber(ARGV[2])) then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. 'x:' .. s.u, ARGV[5])
pub(ARGV[4], 's', ARGV[3])
return v
"#,
    )
});

/// KEYS: the published-keys hash. ARGV: now, then key id and `until \t jwk` pairs. Replaces
/// those fields, deletes fields whose time has passed, and lets the hash expire with its last
/// key. Returns how many keys remain published.
pub(crate) static PUBLISH_KEYS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local now = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local last, n = 0, 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local u = tonumber(string.match(all[i + 1], '^(%d+)\t'))
  if u == nil or u <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    n = n + 1
    if u > last then last = u end
  end
end
if n > 0 then redis.call('PEXPIREAT', KEYS[1], last) end
return n
"#,
    )
});
