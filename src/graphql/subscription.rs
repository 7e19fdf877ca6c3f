//! Subscriptions: new tags and first-seen techniques, from the instance's live hub
//! (`crate::live`), which the transport (WebSocket or event stream) attaches to the
//! request. Filtering is in memory on events the tail read once for everybody.

use async_graphql::{Context, ErrorExtensions, ID, InputObject, Subscription};
use futures_util::stream::{Stream, StreamExt};

use super::error::{ApiError, ApiResult, Code, coded};
use super::types::live::{FeedCursor, FirstSeenEvent, FirstSeenScopeKind, TagEvent};
use super::types::tag::TagNode;
use crate::live::{Live, LiveError, TagFilter, in_scope};
use crate::store::FirstSeenScope;

/// Longest list a filter may hold (technique ids, tactics).
const MAX_FILTER_LIST: usize = 100;

/// Which new tags to receive; every given condition must hold.
#[derive(Debug, Default, Clone, InputObject)]
pub struct TagsAddedFilter {
    /// Tags in the identity's scope (on the identity, or on one of its attackers).
    pub identity_id: Option<ID>,
    /// Tags on this attacker.
    pub attacker_id: Option<ID>,
    /// Tags in the scope of one of the campaign's identities.
    pub campaign_id: Option<ID>,
    /// Tags of this session.
    pub session_id: Option<ID>,
    /// Technique or sub-technique ids (a parent id matches its sub-techniques too).
    pub technique_ids: Option<Vec<String>>,
    /// Tactic ids or shortnames (`TA0006`, `credential-access`).
    pub tactics: Option<Vec<String>>,
    /// At least this confidence, in [0, 1].
    pub min_confidence: Option<f64>,
}

impl TagsAddedFilter {
    /// The in-memory filter, or a `BAD_USER_INPUT` error.
    pub fn into_filter(self) -> ApiResult<TagFilter> {
        let list = |name: &str, v: Option<Vec<String>>| -> ApiResult<Vec<String>> {
            let v = v.unwrap_or_default();
            if v.len() > MAX_FILTER_LIST {
                return Err(bad(format!(
                    "{name} holds at most {MAX_FILTER_LIST} values, got {}",
                    v.len()
                )));
            }
            Ok(v)
        };
        if let Some(c) = self.min_confidence
            && !(0.0..=1.0).contains(&c)
        {
            return Err(bad(format!("minConfidence must be in [0, 1], got {c}")));
        }
        Ok(TagFilter {
            identity_id: self.identity_id.map(|i| i.0),
            attacker_id: self.attacker_id.map(|i| i.0),
            campaign_id: self.campaign_id.map(|i| i.0),
            session_id: self.session_id.map(|i| i.0),
            technique_ids: list("techniqueIds", self.technique_ids)?,
            tactics: list("tactics", self.tactics)?,
            min_confidence: self.min_confidence,
        })
    }
}

fn bad(message: String) -> ApiError {
    coded(Code::BadUserInput, message).into()
}

/// The client-facing form of a subscription's end: a coded error, with the cursor to
/// resume from in `extensions.cursor` when there is one.
fn ended(e: LiveError) -> ApiError {
    let (code, message) = match e {
        LiveError::CursorExpired { .. } => (
            Code::CursorExpired,
            "the cursor is older than the live feed's retention: reload, then subscribe without `after`",
        ),
        LiveError::SlowConsumer { .. } => (
            Code::SlowConsumer,
            "the client fell too far behind the live feed: resume with `after: extensions.cursor`",
        ),
        LiveError::ShuttingDown { .. } => (
            Code::Unavailable,
            "the server is shutting down: resume with `after: extensions.cursor`",
        ),
        LiveError::Unavailable { .. } => (
            Code::Unavailable,
            "the live feed cannot be read right now: resume with `after: extensions.cursor`",
        ),
    };
    let mut err = coded(code, message);
    if let Some(c) = e.cursor() {
        err = err.extend_with(|_, x| x.set("cursor", c.to_string()));
    }
    err.into()
}

fn live<'a>(ctx: &Context<'a>) -> ApiResult<&'a Live> {
    ctx.data::<Live>().map_err(|_| {
        coded(
            Code::BadRequest,
            "subscriptions are served over WebSocket (graphql-transport-ws) on /graphql",
        )
        .into()
    })
}

/// The root subscription type.
pub struct SubscriptionRoot;

/// Live updates, over WebSocket (graphql-transport-ws) on `/graphql`.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every new tag matching `filter`, whoever wrote it (ttpgraph, DECNET's workers,
    /// another instance), in the feed's order. With `after`, first every tag after that
    /// cursor (no gap, no duplicate), then new ones. Ends with `SLOW_CONSUMER` (resume
    /// from `extensions.cursor`) if the client falls too far behind, or
    /// `CURSOR_EXPIRED` if `after` is older than the feed's retention.
    async fn tags_added(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which tags; none: every tag.")] filter: Option<TagsAddedFilter>,
        #[graphql(desc = "Resume after this cursor (the last event received).")] after: Option<
            FeedCursor,
        >,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TagEvent>> + use<>> {
        let filter = filter
            .unwrap_or_default()
            .into_filter()
            .map_err(async_graphql::Error::from)?;
        let events = live(ctx)
            .map_err(async_graphql::Error::from)?
            .subscribe(after.map(|c| c.0))
            .await;
        Ok(until_error(events.filter_map(move |item| {
            let out = match item {
                Ok(e) if filter.matches(&e.row) => Some(Ok(TagEvent {
                    cursor: FeedCursor(e.row.seq),
                    tag: TagNode(e.row.tag.clone()),
                })),
                Ok(_) => None,
                Err(e) => Some(Err(ended(e).into())),
            };
            std::future::ready(out)
        })))
    }

    /// Fires when a scope shows a (parent) technique it never showed before: the given
    /// identity, attacker or campaign (at most one), else the whole fleet. "Before" is
    /// the feed's order, the same on every instance: the tag is first when no other tag
    /// of that technique in the scope is older than the feed or earlier in it. Scope
    /// membership (an attacker's identity, an identity's campaign) is read when the
    /// event is. `after` resumes as for `tagsAdded`.
    async fn technique_first_seen(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An identity's scope (its tags and its attackers').")] identity_id: Option<
            ID,
        >,
        #[graphql(desc = "An attacker's scope.")] attacker_id: Option<ID>,
        #[graphql(desc = "A campaign's scope (its identities').")] campaign_id: Option<ID>,
        #[graphql(desc = "Resume after this cursor (the last event received).")] after: Option<
            FeedCursor,
        >,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<FirstSeenEvent>> + use<>>
    {
        let (scope, kind, scope_id) = match (identity_id, attacker_id, campaign_id) {
            (None, None, None) => (FirstSeenScope::Fleet, FirstSeenScopeKind::Fleet, None),
            (Some(i), None, None) => (
                FirstSeenScope::Identity(i.0.clone()),
                FirstSeenScopeKind::Identity,
                Some(i.0),
            ),
            (None, Some(a), None) => (
                FirstSeenScope::Attacker(a.0.clone()),
                FirstSeenScopeKind::Attacker,
                Some(a.0),
            ),
            (None, None, Some(c)) => (
                FirstSeenScope::Campaign(c.0.clone()),
                FirstSeenScopeKind::Campaign,
                Some(c.0),
            ),
            _ => {
                return Err(bad(
                    "give at most one of identityId, attackerId, campaignId (none: the fleet)"
                        .into(),
                )
                .into());
            }
        };
        let live = live(ctx).map_err(async_graphql::Error::from)?.clone();
        let watch = live.watch_scope(scope.clone());
        let events = live.subscribe(after.map(|c| c.0)).await;
        Ok(until_error(events.filter_map(move |item| {
            let (live, scope, scope_id) = (live.clone(), scope.clone(), scope_id.clone());
            let _held_while_subscribed = &watch;
            async move {
                let e = match item {
                    Ok(e) => e,
                    Err(e) => return Some(Err(ended(e).into())),
                };
                if !in_scope(&e.row, &scope) {
                    return None;
                }
                let decided = e.first_seen.iter().find(|(s, _)| *s == scope).map(|x| x.1);
                let first = match decided {
                    Some(f) => f,
                    None => match live.is_first_seen(&scope, &e.row).await {
                        Ok(f) => f,
                        Err(err) => {
                            tracing::warn!(error = %err, "live: first-seen check failed");
                            return Some(Err(ended(LiveError::Unavailable {
                                cursor: e.row.seq - 1,
                            })
                            .into()));
                        }
                    },
                };
                first.then(|| {
                    Ok(FirstSeenEvent {
                        cursor: FeedCursor(e.row.seq),
                        kind,
                        scope_id,
                        tag: TagNode(e.row.tag.clone()),
                    })
                })
            }
        })))
    }
}

/// Ends a subscription after its first error: what follows an error is not resumable
/// from the cursor the error names.
fn until_error<T: Send + 'static>(
    s: impl Stream<Item = async_graphql::Result<T>> + Send + 'static,
) -> impl Stream<Item = async_graphql::Result<T>> + Send + 'static {
    s.scan(false, |failed, item| {
        let out = if *failed {
            None
        } else {
            *failed = item.is_err();
            Some(item)
        };
        std::future::ready(out)
    })
}
