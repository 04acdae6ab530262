//! Optional replica acknowledgement: after each acknowledged write, `WAIT` until enough
//! replicas have it, so a revocation survives a failover to one of them. On a cluster the
//! `WAIT` goes to the primary that owns the written slot.

use std::time::Duration;

use latch_core::store::StoreError;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};

use crate::conn::Conn;

/// How many replicas must acknowledge each write, and for how long to wait for them.
#[derive(Clone, Copy, Debug)]
pub struct ReplicaAck {
    /// Replicas that must have the write before it is acknowledged.
    pub replicas: u32,
    /// How long to wait; a write not replicated in time answers "unavailable" (it is on the
    /// primary, and may or may not survive a failover).
    pub timeout: Duration,
}

/// Waits for the replicas of the primary that holds `key`.
pub(crate) async fn wait(conn: &Conn, ack: ReplicaAck, key: &[u8]) -> Result<(), StoreError> {
    let mut cmd = redis::cmd("WAIT");
    cmd.arg(ack.replicas)
        .arg(u64::try_from(ack.timeout.as_millis()).unwrap_or(u64::MAX));
    let got: redis::RedisResult<i64> = match conn {
        Conn::Single(c) => cmd.query_async(&mut c.clone()).await,
        Conn::Cluster(c) => {
            let route = Route::new(slot(key), SlotAddr::Master);
            let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
            match c.clone().route_command(cmd, routing).await {
                Ok(v) => redis::from_redis_value(v).map_err(redis::RedisError::from),
                Err(e) => Err(e),
            }
        }
    };
    let got = got.map_err(|e| StoreError::Unavailable(format!("redis WAIT: {:?}", e.kind())))?;
    if got < i64::from(ack.replicas) {
        return Err(StoreError::Unavailable(format!(
            "written on the primary but acknowledged by {got} of {} replicas in time",
            ack.replicas
        )));
    }
    Ok(())
}

/// The cluster slot of a key: CRC16 (XMODEM) of its hash tag (or the whole key), mod 16384.
pub(crate) fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(tagged) % 16384
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(slot(b"123456789"), 12739);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), 8363);
        assert_eq!(slot(b"latch:{ab12}:s:x"), 15064);
    }
}
