//! Visit caps, exact across every redirector: one Valkey counter per capped
//! link ([`shared::link::Keys::visit_cap`]) holding the GET redirects served.
//! A GET takes one with a script that raises the count only while it is
//! below the cap (a script runs atomically, so however many redirectors
//! race, at most `max_visits` GETs are ever admitted, and a raised cap lets
//! visitors through again at once). A HEAD only reads the count. Links
//! without a cap never get here. When Valkey does not answer, a capped link
//! is not served (503): over-serving would break the cap.

use std::time::Duration;

use shared::valkey::Valkey;

/// `KEYS[1]`: the count; `ARGV[1]`: the cap. 1 when a visit was taken.
const TAKE: &str = "local served = tonumber(redis.call('GET', KEYS[1]) or '0')
if served < tonumber(ARGV[1]) then
    redis.call('INCR', KEYS[1])
    return 1
end
return 0";

/// Whether a capped link may be served now: for a GET, takes one of its
/// visits; for a HEAD, asks whether one is left.
pub async fn admit(valkey: &Valkey, code: &str, max: i64, take: bool) -> redis::RedisResult<bool> {
    let key = valkey.keys().visit_cap(code);
    let mut connection = connect(valkey).await?;
    if take {
        let taken: i64 = redis::cmd("EVAL")
            .arg(TAKE)
            .arg(1)
            .arg(&key)
            .arg(max)
            .query_async(&mut connection)
            .await?;
        Ok(taken == 1)
    } else {
        let served: Option<i64> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut connection)
            .await?;
        Ok(served.unwrap_or(0) < max)
    }
}

/// This thread's Valkey connection. While one request opens it, the others
/// are refused at once (lookups then ask Postgres); a capped link has no
/// such way around, so it waits a few milliseconds for the connection.
async fn connect(valkey: &Valkey) -> redis::RedisResult<shared::valkey::Connection> {
    let mut wait = Duration::from_millis(2);
    for _ in 0..CONNECT_ATTEMPTS - 1 {
        if let Ok(connection) = valkey.connection().await {
            return Ok(connection);
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    valkey.connection().await
}

/// Tries at the connection before a capped link gets a 503 (about 30 ms).
const CONNECT_ATTEMPTS: u32 = 5;
