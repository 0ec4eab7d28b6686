//! Pagination (`core/pagination-request.json`, `core/pagination-response.json`): a [`Page`]
//! of a list from the request's `pagination`, and the response's. Cursors are opaque to the
//! buyer: a cursor this agent did not issue is `INVALID_REQUEST` on `pagination.cursor`.
//!
//! ```
//! use adcp_runtime::Page;
//! use adcp_runtime::wire::PaginationRequest;
//!
//! let mut asked = PaginationRequest::default();
//! asked.max_results = Some(2);
//! let items = ["a", "b", "c"];
//! let (first, more) = Page::of(Some(&asked), &items).unwrap();
//! assert_eq!(first, ["a", "b"]);
//! assert!(more.has_more);
//! asked.cursor = more.cursor;
//! let (rest, done) = Page::of(Some(&asked), &items).unwrap();
//! assert_eq!((rest, done.has_more, done.cursor), (&["c"][..], false, None));
//! ```

use std::ops::Range;

use adcp_wire::{PaginationRequest, PaginationResponse};
use base64::Engine as _;

use crate::error::{AdcpError, AdcpResult};

/// Default page size (`core/pagination-request.json`).
pub const DEFAULT_PAGE: usize = 50;
/// Largest page.
pub const MAX_PAGE: usize = 100;

/// One page of a list of `total` items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    start: usize,
    end: usize,
    total: usize,
}

const CURSOR_PREFIX: &str = "adcp.page.v1:";

/// A cursor of the list kind `prefix` (`adcp.page.v1:`) saying `position`, opaque to the buyer.
pub(crate) fn seal_cursor(prefix: &str, position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{prefix}{position}"))
}

/// The position a cursor of the list kind `prefix` says; `None` when this agent did not issue
/// it for that kind of list.
pub(crate) fn open_cursor(prefix: &str, cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix(prefix)
        .map(str::to_owned)
}

/// How many items a page holds: the request's `max_results` within 1..=[`MAX_PAGE`], else
/// [`DEFAULT_PAGE`].
pub(crate) fn page_size(pagination: Option<&PaginationRequest>) -> usize {
    pagination
        .and_then(|p| p.max_results)
        .map_or(DEFAULT_PAGE, |m| {
            usize::try_from(m).unwrap_or(1).clamp(1, MAX_PAGE)
        })
}

fn encode_cursor(offset: usize) -> String {
    seal_cursor(CURSOR_PREFIX, &offset.to_string())
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    open_cursor(CURSOR_PREFIX, cursor)?.parse().ok()
}

impl Page {
    /// The page `pagination` asks for, over `total` items.
    pub fn new(pagination: Option<&PaginationRequest>, total: usize) -> AdcpResult<Page> {
        let max = page_size(pagination);
        let start = match pagination.and_then(|p| p.cursor.as_deref()) {
            None => 0,
            Some(c) => decode_cursor(c).filter(|n| *n <= total).ok_or_else(|| {
                AdcpError::invalid_request(
                    "pagination.cursor",
                    "this cursor was not issued by this agent, or the list has changed",
                )
            })?,
        };
        Ok(Page {
            start,
            end: start.saturating_add(max).min(total),
            total,
        })
    }

    /// The items of the page `pagination` asks for, and the response's `pagination`.
    pub fn of<'a, T>(
        pagination: Option<&PaginationRequest>,
        items: &'a [T],
    ) -> AdcpResult<(&'a [T], PaginationResponse)> {
        let page = Page::new(pagination, items.len())?;
        Ok((&items[page.range()], page.response()))
    }

    /// Like [`Page::of`], keeping only the page's items of an owned list.
    pub fn take<T>(
        pagination: Option<&PaginationRequest>,
        mut items: Vec<T>,
    ) -> AdcpResult<(Vec<T>, PaginationResponse)> {
        let page = Page::new(pagination, items.len())?;
        items.truncate(page.end);
        items.drain(..page.start);
        Ok((items, page.response()))
    }

    /// The positions of the page's items.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The response's `pagination`: `has_more`, the cursor of the next page when there is
    /// one, and `total_count`.
    pub fn response(&self) -> PaginationResponse {
        let has_more = self.end < self.total;
        let mut r = PaginationResponse::new(has_more);
        r.total_count = i64::try_from(self.total).ok();
        if has_more {
            r.cursor = Some(encode_cursor(self.end));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(max: i64, cursor: Option<String>) -> PaginationRequest {
        PaginationRequest {
            max_results: Some(max),
            cursor,
        }
    }

    #[test]
    fn pages_walk_to_the_end_and_refuse_foreign_cursors() {
        let p = Page::new(Some(&asked(2, None)), 5).unwrap();
        assert_eq!(p.range(), 0..2);
        let r = p.response();
        assert_eq!((r.has_more, r.total_count), (true, Some(5)));
        let p = Page::new(Some(&asked(2, r.cursor)), 5).unwrap();
        assert_eq!(p.range(), 2..4);
        let p = Page::new(Some(&asked(200, p.response().cursor)), 5).unwrap();
        assert_eq!(p.range(), 4..5);
        assert_eq!(p.response().cursor, None);
        for bad in ["zzz", "o:2", &encode_cursor(9)] {
            let e = Page::new(Some(&asked(2, Some(bad.into()))), 5).unwrap_err();
            assert_eq!(e.field(), Some("pagination.cursor"), "{bad}");
        }
        let (items, r) = Page::take(Some(&asked(2, None)), vec![1, 2, 3]).unwrap();
        assert_eq!((items, r.has_more), (vec![1, 2], true));
    }
}
