//! The blocklist's rules, in one place: what a pattern is (a host,
//! `evil.example`, or a domain with its subdomains, `*.evil.example`),
//! written as hosts are compared ([`crate::validate::host_key`]: lowercase,
//! punycode, no trailing dot); which patterns would block a host (the host
//! itself and `*.` of it and of each parent domain, so a check is one index
//! lookup however long the list); and the check every link write runs.
//!
//! Link writes take the blocklist's lock shared and adding an entry takes
//! it exclusive, so a link created while an entry is added is either
//! refused or seen (and disabled) by the entry: none slips between.

use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::auth::Actor;
use crate::db::blocklist as db;
use crate::error::{ApiError, ApiResult};
use crate::link_write::LinkWrite;
use crate::state::AppState;

/// Longest pattern (a DNS name is at most 253 characters).
pub const PATTERN_MAX_LEN: usize = 255;
/// Longest reason.
pub const REASON_MAX_CHARS: usize = 200;

/// The canonical form of a pattern as typed, or why it is not one.
pub fn pattern(input: &str) -> Result<String, String> {
    let input = input.trim();
    let (wildcard, host) = match input.strip_prefix("*.") {
        Some(domain) => (true, domain),
        None => (false, input),
    };
    let refuse = || "must be a host (evil.example) or *. and a domain (*.evil.example)".to_owned();
    if host.is_empty()
        || input.len() > PATTERN_MAX_LEN
        || host.contains(['/', '\\', '@', ':', '?', '#', '*', ' '])
    {
        return Err(refuse());
    }
    let parsed = url::Url::parse(&format!("http://{host}/")).map_err(|_| refuse())?;
    let key = crate::validate::host_key(&parsed).ok_or_else(refuse)?;
    if wildcard && !matches!(parsed.host(), Some(url::Host::Domain(_))) {
        return Err("*. takes a domain name, not an address".into());
    }
    Ok(if wildcard { format!("*.{key}") } else { key })
}

/// Every pattern that blocks `host` (as [`crate::validate::host_key`]
/// spells it): the host itself, and `*.` of it and of each parent domain.
pub fn patterns_blocking(host: &str) -> Vec<String> {
    let mut patterns = vec![host.to_owned()];
    let mut domain = host;
    loop {
        patterns.push(format!("*.{domain}"));
        match domain.split_once('.') {
            Some((_, parent)) if !parent.is_empty() => domain = parent,
            _ => break,
        }
    }
    patterns
}

/// Whether `pattern` (canonical) blocks `url`.
pub fn blocks(pattern: &str, url: &str) -> bool {
    host_of(url).is_some_and(|host| patterns_blocking(&host).iter().any(|p| p == pattern))
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|parsed| crate::validate::host_key(&parsed))
}

/// A link write's check of its destinations (`field` and its URL, each
/// already valid): 422 naming the field and the entry that blocks it. Takes
/// the blocklist's lock shared until the transaction ends.
pub async fn check(db: &mut PgConnection, urls: &[(&str, &str)]) -> ApiResult<()> {
    db::lock_shared(&mut *db).await?;
    for (field, url) in urls {
        let Some(host) = host_of(url) else { continue };
        if let Some(entry) = db::first_blocking(&mut *db, &patterns_blocking(&host)).await? {
            return Err(ApiError::validation(
                field,
                format!(
                    "points at a blocked host ({}, blocklist entry {})",
                    entry.pattern, entry.id
                ),
            ));
        }
    }
    Ok(())
}

/// Chunk of candidate links read at once while an entry is added.
const CANDIDATE_CHUNK: i64 = 10_000;

/// An entry just added, and how many links it disabled.
#[derive(Debug)]
pub struct Added {
    pub entry: db::Entry,
    pub disabled: usize,
}

/// Adds an entry (409 if its pattern is listed) and disables every live,
/// enabled link whose destination it blocks, each with a `disabled` event
/// naming the entry, in one [`LinkWrite`]: they stop redirecting as after a
/// `PUT`.
pub async fn add(state: &AppState, actor: Actor, input: &str, reason: &str) -> ApiResult<Added> {
    let pattern = pattern(input).map_err(|p| ApiError::validation("pattern", p))?;
    check_reason(reason)?;
    let mut write = LinkWrite::begin(state, actor).await?;
    db::lock_exclusive(write.tx()).await?;
    let entry = db::insert(write.tx(), &pattern, reason)
        .await?
        .ok_or_else(|| ApiError::conflict("pattern", "is already on the blocklist"))?;
    let domain = pattern.trim_start_matches("*.");
    let like = crate::db::link_list::contains_pattern(domain);
    let disabled_reason = match reason {
        "" => format!("blocked by blocklist entry {} ({pattern})", entry.id),
        reason => format!(
            "blocked by blocklist entry {} ({pattern}): {reason}",
            entry.id
        ),
    };
    let mut disabled = 0;
    let mut after = 0;
    loop {
        let chunk = db::candidates(write.tx(), &like, after, CANDIDATE_CHUNK).await?;
        let Some(last) = chunk.last() else { break };
        after = last.id;
        let caught: Vec<db::Caught> = chunk
            .into_iter()
            .filter(|link| {
                blocks(&pattern, &link.original_url)
                    || link
                        .fallback_url
                        .as_deref()
                        .is_some_and(|f| blocks(&pattern, f))
                    || link.routes.iter().any(|r| blocks(&pattern, &r.url))
            })
            .collect();
        if caught.is_empty() {
            continue;
        }
        let ids: Vec<i64> = caught.iter().map(|l| l.id).collect();
        let users: Vec<i64> = caught.iter().map(|l| l.user_id).collect();
        let details: Vec<Value> = caught
            .iter()
            .map(|l| json!({"short_code": l.short_code, "entry_id": entry.id, "pattern": pattern, "reason": reason}))
            .collect();
        db::disable(write.tx(), &ids, &disabled_reason, entry.id).await?;
        write.events("disabled", &ids, &users, &details).await?;
        disabled += caught.len();
        write.touched_all(caught.into_iter().map(|l| l.short_code));
    }
    write.commit().await?;
    Ok(Added { entry, disabled })
}

/// Removes entry `id` (404 if there is none). The links it disabled stay
/// disabled until someone enables each (`PUT` with `"disabled": null`).
pub async fn remove(state: &AppState, id: i64) -> ApiResult<()> {
    if db::delete(&state.pool, id).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("blocklist entry"))
    }
}

/// A reason: at most 200 characters, no control characters.
pub fn check_reason(reason: &str) -> ApiResult<()> {
    if reason.chars().count() > REASON_MAX_CHARS || reason.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "reason",
            format!("must be at most {REASON_MAX_CHARS} characters, without control characters"),
        ));
    }
    Ok(())
}

/// The first of an import's `(row, field, url)` targets that the blocklist
/// blocks, all checked in one query. Takes the lock shared.
pub async fn first_blocked_row<'a>(
    db: &mut PgConnection,
    targets: impl IntoIterator<Item = (usize, &'a str, &'a str)>,
) -> ApiResult<Option<db::BlockedRow>> {
    db::lock_shared(&mut *db).await?;
    let (mut rows, mut fields, mut patterns) = (Vec::new(), Vec::new(), Vec::new());
    for (row, field, url) in targets {
        for pattern in host_of(url)
            .map(|h| patterns_blocking(&h))
            .unwrap_or_default()
        {
            rows.push(row as i64);
            fields.push(field);
            patterns.push(pattern);
        }
    }
    Ok(db::first_blocked_row(&mut *db, &rows, &fields, &patterns).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_hosts_or_wildcard_domains_written_as_hosts_compare() {
        assert_eq!(pattern("Evil.Example."), Ok("evil.example".into()));
        assert_eq!(pattern(" *.EVIL.example "), Ok("*.evil.example".into()));
        assert_eq!(
            pattern("bücher.example"),
            Ok("xn--bcher-kva.example".into())
        );
        assert_eq!(pattern("10.0.0.1"), Ok("10.0.0.1".into()));
        for bad in [
            "",
            "*.",
            "*.10.0.0.1",
            "http://evil.example",
            "evil.example/x",
            "a b",
            "*evil.example",
            "a@b",
            "x:80",
            &"a".repeat(256),
        ] {
            assert!(pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_host_is_blocked_by_itself_and_by_wildcards_of_it_and_its_parents() {
        assert_eq!(
            patterns_blocking("a.evil.example"),
            [
                "a.evil.example",
                "*.a.evil.example",
                "*.evil.example",
                "*.example"
            ]
        );
        assert!(blocks("evil.example", "https://EVIL.example./x"));
        assert!(blocks("*.evil.example", "https://evil.example"));
        assert!(blocks(
            "*.evil.example",
            "http://deep.sub.evil.example:8080/"
        ));
        assert!(!blocks("evil.example", "https://sub.evil.example/"));
        assert!(!blocks("*.evil.example", "https://notevil.example/"));
        assert!(!blocks("*.evil.example", "https://evil.example.com/"));
    }
}
