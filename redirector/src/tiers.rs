//! The lookup tiers behind the cache: Valkey first; Postgres when Valkey
//! fails, or when Valkey may be incomplete (its loaded marker is gone, e.g.
//! after a restart without persistence). A Valkey miss while the marker is
//! present is authoritative, so unknown codes never reach Postgres then.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use shared::link::{self, LinkRecord, StoredLink};
use shared::valkey::Valkey;
use sqlx::PgPool;

use crate::cache::Unavailable;

/// Which tier answered, and how.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum Outcome {
    hit,
    miss,
    error,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum Tier {
    valkey,
    postgres,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: Tier,
    outcome: Outcome,
}

/// Valkey and the optional Postgres fallback. Valkey comes with each
/// lookup: every serving thread asks through a connection of its own.
pub struct Tiers {
    postgres: Option<PgPool>,
    lookups: Family<TierLabels, Counter>,
}

impl Tiers {
    pub fn new(postgres: Option<PgPool>, registry: &mut Registry) -> Self {
        let lookups = Family::<TierLabels, Counter>::default();
        registry.register(
            "tier_lookups",
            "Lookups behind the cache by tier and outcome",
            lookups.clone(),
        );
        Self { postgres, lookups }
    }

    fn count(&self, tier: Tier, outcome: Outcome) {
        self.lookups
            .get_or_create(&TierLabels { tier, outcome })
            .inc();
    }

    /// The link behind `code`, `Ok(None)` when there is none.
    pub async fn fetch(
        &self,
        valkey: &Valkey,
        code: &str,
    ) -> Result<Option<LinkRecord>, Unavailable> {
        let valkey_failed = match ask_valkey(valkey, code).await {
            Ok((Some(record), _)) => {
                self.count(Tier::valkey, Outcome::hit);
                return Ok(Some(record));
            }
            Ok((None, true)) => {
                self.count(Tier::valkey, Outcome::miss);
                return Ok(None);
            }
            Ok((None, false)) => {
                self.count(Tier::valkey, Outcome::miss);
                false
            }
            Err(err) => {
                self.count(Tier::valkey, Outcome::error);
                tracing::debug!(error = %err, "Valkey lookup failed");
                true
            }
        };
        let Some(pool) = &self.postgres else {
            return if valkey_failed {
                Err(Unavailable)
            } else {
                Ok(None)
            };
        };
        match link::by_code(pool, code).await {
            Ok(Some(row)) => {
                self.count(Tier::postgres, Outcome::hit);
                Ok(Some(row.record()))
            }
            Ok(None) => {
                self.count(Tier::postgres, Outcome::miss);
                Ok(None)
            }
            Err(err) => {
                self.count(Tier::postgres, Outcome::error);
                tracing::debug!(error = %err, "Postgres lookup failed");
                Err(Unavailable)
            }
        }
    }
}

/// The record, and whether Valkey holds every link (the loaded marker).
/// A hit is one `GET`; only a miss asks for the marker (a second round
/// trip, paid once per unknown code and negative TTL).
async fn ask_valkey(valkey: &Valkey, code: &str) -> redis::RedisResult<(Option<LinkRecord>, bool)> {
    let keys = valkey.keys();
    let mut connection = valkey.connection().await?;
    let raw: Option<Vec<u8>> = redis::cmd("GET")
        .arg(keys.link(code))
        .query_async(&mut connection)
        .await?;
    match raw.as_deref().map(StoredLink::decode) {
        Some(Ok(StoredLink::Live(record))) => Ok((Some(record), true)),
        // A tombstone: the link was deleted; that settles it.
        Some(Ok(StoredLink::Deleted { .. })) => Ok((None, true)),
        // An unreadable record settles nothing: let Postgres answer.
        Some(Err(_)) => Ok((None, false)),
        None => {
            let loaded: bool = redis::cmd("EXISTS")
                .arg(keys.loaded_marker(code))
                .query_async(&mut connection)
                .await?;
            Ok((None, loaded))
        }
    }
}
