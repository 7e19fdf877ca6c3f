//! Relay-style cursor pagination with bounded page sizes. The connection types are our
//! own (not async-graphql's generic ones) so every type and field carries a description.

use crate::graphql::error::{ApiResult, ApiResult as Result};
use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::{ComplexObject, Context, SimpleObject};
use serde::{Serialize, de::DeserializeOwned};

use super::attacker::AttackerNode;
use super::campaign::CampaignNode;
use super::identity::IdentityNode;
use super::tag::TagNode;
use super::total::Total;
use crate::config::Limits;
use crate::graphql::cost;
use crate::graphql::error::bad_input;

/// Where a page sits in the whole list.
#[derive(SimpleObject, Default)]
pub struct PageInfo {
    /// More items follow: pass `endCursor` as `after`.
    pub has_next_page: bool,
    /// Items come before this page: pass `startCursor` as `before` (with `last`) to read
    /// them. Exact on lists that page both ways; on the others, whether `after` was given.
    pub has_previous_page: bool,
    /// Cursor of the first item of this page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of this page.
    pub end_cursor: Option<String>,
}

macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty, $what:literal) => {
        #[doc = concat!("A page of ", $what, ".")]
        #[derive(SimpleObject)]
        #[graphql(complex)]
        pub struct $conn {
            /// The items with their cursors.
            pub edges: Vec<$edge>,
            /// The items alone.
            pub nodes: Vec<$node>,
            /// Cursors and whether more pages exist.
            pub page_info: PageInfo,
            #[graphql(skip)]
            pub total: Total,
        }

        #[ComplexObject]
        impl $conn {
            /// How many items the whole list holds (every page, the same filter).
            #[graphql(complexity = "cost::TOTAL_COUNT")]
            async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
                self.total.resolve(ctx).await
            }
        }

        #[doc = concat!("One of the ", $what, " and its cursor.")]
        #[derive(SimpleObject)]
        pub struct $edge {
            /// Opaque position of this item: pass it as `after` to continue from here.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        impl Connection for $conn {
            type Node = $node;
            fn from_rows(
                has_previous: bool,
                first: usize,
                mut items: Vec<(String, $node)>,
                total: Total,
            ) -> Self {
                let has_next = items.len() > first;
                items.truncate(first);
                Self::from_page(has_previous, has_next, items, total)
            }

            fn from_page(
                has_previous: bool,
                has_next: bool,
                items: Vec<(String, $node)>,
                total: Total,
            ) -> Self {
                let page_info = PageInfo {
                    has_next_page: has_next,
                    has_previous_page: has_previous,
                    start_cursor: items.first().map(|i| i.0.clone()),
                    end_cursor: items.last().map(|i| i.0.clone()),
                };
                let nodes = items.iter().map(|i| i.1.clone()).collect();
                let edges = items
                    .into_iter()
                    .map(|(cursor, node)| $edge { cursor, node })
                    .collect();
                Self {
                    edges,
                    nodes,
                    page_info,
                    total,
                }
            }
        }
    };
}

/// A page type: built from `(cursor, node)` pairs of at most `first + 1` fetched rows,
/// whose extra row only tells that a next page exists, or from a page whose neighbours
/// are known; `total` answers `totalCount` when asked.
pub trait Connection: Sized {
    type Node;
    fn from_rows(
        has_previous: bool,
        first: usize,
        items: Vec<(String, Self::Node)>,
        total: Total,
    ) -> Self;
    fn from_page(
        has_previous: bool,
        has_next: bool,
        items: Vec<(String, Self::Node)>,
        total: Total,
    ) -> Self;
}

connection!(IdentityConnection, IdentityEdge, IdentityNode, "identities");
connection!(AttackerConnection, AttackerEdge, AttackerNode, "attackers");
connection!(CampaignConnection, CampaignEdge, CampaignNode, "campaigns");
connection!(TagConnection, TagEdge, TagNode, "raw tags");

/// Validated `first`/`after` arguments.
pub struct PageArgs<C> {
    pub first: usize,
    pub after: Option<C>,
}

/// Checks `first` against the limits and decodes the opaque `after` cursor.
pub fn page_args<C: Serialize + DeserializeOwned>(
    limits: &Limits,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PageArgs<C>> {
    sized_args(limits, first, after, ("first", "after"))
}

/// [`page_args`] for either way: `names` are the size and cursor arguments, for the
/// error messages.
fn sized_args<C: Serialize + DeserializeOwned>(
    limits: &Limits,
    size: Option<i32>,
    cursor: Option<String>,
    (size_name, cursor_name): (&str, &str),
) -> Result<PageArgs<C>> {
    let first = match size {
        None => limits.default_page_size,
        Some(n) if n >= 1 && (n as usize) <= limits.max_page_size => n as usize,
        Some(n) => {
            return Err(bad_input(format!(
                "{size_name} must be between 1 and {}, got {n}",
                limits.max_page_size
            )));
        }
    };
    let after = match cursor {
        None => None,
        Some(s) => Some(
            OpaqueCursor::<C>::decode_cursor(&s)
                .map_err(|_| bad_input(format!("{cursor_name} is not a cursor this API issued")))?
                .0,
        ),
    };
    Ok(PageArgs { first, after })
}

/// Which way a two-way keyset page reads, from which cursor.
pub enum Way<C> {
    /// `first`/`after`: rows strictly after the cursor, in list order.
    Forward(Option<C>),
    /// `last`/`before`: rows strictly before the cursor (or the list's end), nearest
    /// first, that is in reverse list order.
    Backward(Option<C>),
}

/// One keyset page, either way: checks the size and decodes the cursor, then reads
/// `first + 1` rows strictly after `after` (the extra one tells that a next page exists),
/// or `last + 1` rows backwards from `before` (the list's end without it) and turns them
/// around, so `hasPreviousPage` is exact backwards as `hasNextPage` is forwards. Mixing
/// the two ways in one call is refused.
#[allow(clippy::too_many_arguments)]
pub async fn keyset_page<Cur, R, C>(
    limits: &Limits,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
    fetch: impl AsyncFnOnce(Way<Cur>, i64) -> ApiResult<Vec<R>>,
    item: impl Fn(R) -> (Cur, C::Node),
    total: Total,
) -> ApiResult<C>
where
    Cur: Serialize + DeserializeOwned + Clone,
    C: Connection,
{
    let backward = last.is_some() || before.is_some();
    if backward && (first.is_some() || after.is_some()) {
        return Err(bad_input(
            "first/after and last/before do not mix: page one way per call",
        ));
    }
    let (size, cursor_arg, names) = if backward {
        (last, before, ("last", "before"))
    } else {
        (first, after, ("first", "after"))
    };
    let page = sized_args::<Cur>(limits, size, cursor_arg, names)?;
    let from_cursor = page.after.is_some();
    let way = if backward {
        Way::Backward(page.after)
    } else {
        Way::Forward(page.after)
    };
    let rows = fetch(way, page.first as i64 + 1).await?;
    let mut items: Vec<(String, C::Node)> = rows
        .into_iter()
        .map(|r| {
            let (c, node) = item(r);
            (cursor(&c), node)
        })
        .collect();
    if !backward {
        return Ok(C::from_rows(from_cursor, page.first, items, total));
    }
    let has_previous = items.len() > page.first;
    items.truncate(page.first);
    items.reverse();
    Ok(C::from_page(has_previous, from_cursor, items, total))
}

/// Encodes a cursor value.
pub fn cursor<C: Serialize + DeserializeOwned + Clone>(c: &C) -> String {
    OpaqueCursor(c.clone()).encode_cursor()
}

/// Complexity of a paginated field: its page size times the cost of one node (see
/// [`crate::graphql::cost`]). Sizes past the largest page are refused when resolving;
/// here they are costed at 1000 so a huge `first` cannot overflow the sum.
pub fn page_cost(first: Option<i32>, child: usize) -> usize {
    crate::graphql::cost::sized(first, Limits::default().default_page_size, 1000, child)
}
