//! Keyset paging shared by the console's links, users and events lists: a
//! page is the rows below or above an id (never an offset), fetched one past
//! its size to know whether there is more, with **Previous** / **Next**
//! links (`templates/pager.html`).

use crate::db::link_list::Edge;

/// Rows per page.
pub const PAGE_SIZE: i64 = 50;

/// Rows to fetch for a page: one more than it shows.
pub const FETCH: i64 = PAGE_SIZE + 1;

/// Where a page starts, from its `before` / `after` query parameters.
pub fn edge(before: Option<i64>, after: Option<i64>) -> Edge {
    match (before, after) {
        (Some(id), _) => Edge::Below(id),
        (None, Some(id)) => Edge::Above(id),
        (None, None) => Edge::Newest,
    }
}

/// The page's **Previous** and **Next** links.
#[derive(Debug, Default)]
pub struct Pager {
    pub previous: Option<String>,
    pub next: Option<String>,
}

/// Drops the extra row fetched past the far edge of `rows` (newest first,
/// fetched with [`FETCH`] from `edge`) and links the pages around it:
/// `base` is the list's path with its filters (`/ui/events?actor=x`).
pub fn pager<T>(rows: &mut Vec<T>, edge: Edge, base: &str, id: impl Fn(&T) -> i64) -> Pager {
    let more = rows.len() as i64 > PAGE_SIZE;
    if more {
        // The extra row is the oldest going down, the newest going up.
        if matches!(edge, Edge::Above(_)) {
            rows.remove(0);
        } else {
            rows.pop();
        }
    }
    let (has_newer, has_older) = match edge {
        Edge::Newest => (false, more),
        Edge::Below(_) => (true, more),
        Edge::Above(_) => (more, true),
    };
    let join = if base.contains('?') { "&" } else { "?" };
    Pager {
        previous: rows
            .first()
            .filter(|_| has_newer)
            .map(|row| format!("{base}{join}after={}", id(row))),
        next: rows
            .last()
            .filter(|_| has_older)
            .map(|row| format!("{base}{join}before={}", id(row))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_page_going_down_links_both_ways_and_drops_its_extra_row() {
        let mut rows: Vec<i64> = (0..FETCH).map(|i| 100 - i).collect();
        let pager = pager(&mut rows, Edge::Below(101), "/ui/users", |r| *r);
        assert_eq!(rows.len() as i64, PAGE_SIZE);
        assert_eq!(pager.previous.as_deref(), Some("/ui/users?after=100"));
        assert_eq!(pager.next.as_deref(), Some("/ui/users?before=51"));
    }

    #[test]
    fn the_first_page_has_no_previous_and_a_short_one_no_next() {
        let mut rows = vec![3_i64, 2, 1];
        let first = pager(&mut rows, Edge::Newest, "/ui/events?actor=a", |r| *r);
        assert_eq!((first.previous, first.next), (None, None));
        let mut rows: Vec<i64> = (0..FETCH).map(|i| 200 - i).collect();
        let pager = pager(&mut rows, Edge::Above(149), "/ui/events?actor=a", |r| *r);
        assert_eq!(rows.first(), Some(&199));
        assert_eq!(
            pager.previous.as_deref(),
            Some("/ui/events?actor=a&after=199")
        );
        assert_eq!(pager.next.as_deref(), Some("/ui/events?actor=a&before=150"));
    }
}
