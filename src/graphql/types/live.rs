//! The types of live updates: a feed cursor and the events the subscriptions yield.

use async_graphql::{
    Enum, ID, InputValueError, InputValueResult, Object, Scalar, ScalarType, Value,
};

use super::catalog::AttackTechnique;
use super::tag::TagNode;

/// A position in the change feed (its sequence number, as a string). Pass the `cursor`
/// of the last event received as `after` to resume with no gap and no duplicate; the
/// same value is the `id` of a server-sent event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedCursor(pub i64);

/// A position in the live change feed: pass the last event's `cursor` as `after` to
/// resume with no gap and no duplicate (also the `id:` of a server-sent event).
#[Scalar(name = "FeedCursor")]
impl ScalarType for FeedCursor {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Self)
                .ok_or_else(|| InputValueError::custom(format!("not a feed cursor: {s:?}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A tag that was just written, and its position in the feed.
pub struct TagEvent {
    pub cursor: FeedCursor,
    pub tag: TagNode,
}

/// A new tag, whoever wrote it.
#[Object]
impl TagEvent {
    /// Resume after this event with `after: cursor`.
    async fn cursor(&self) -> FeedCursor {
        self.cursor
    }
    /// The tag, as the inspector shows it.
    async fn tag(&self) -> &TagNode {
        &self.tag
    }
}

/// The kind of scope a technique was first seen in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum FirstSeenScopeKind {
    /// Every tag of the fleet.
    Fleet,
    /// An identity's tags and its attackers'.
    Identity,
    /// One attacker's tags.
    Attacker,
    /// The tags of a campaign's identities.
    Campaign,
}

/// A technique a scope never showed before.
pub struct FirstSeenEvent {
    pub cursor: FeedCursor,
    pub kind: FirstSeenScopeKind,
    pub scope_id: Option<String>,
    pub tag: TagNode,
}

/// A scope (an identity, attacker, campaign or the fleet) shows a technique for the
/// first time: no earlier tag of this parent technique is in the scope (earlier in the
/// feed's order, or older than the feed).
#[Object]
impl FirstSeenEvent {
    /// Resume after this event with `after: cursor`.
    async fn cursor(&self) -> FeedCursor {
        self.cursor
    }
    /// The kind of scope the technique is new in.
    async fn scope(&self) -> FirstSeenScopeKind {
        self.kind
    }
    /// The identity, attacker or campaign id; null for the fleet.
    async fn scope_id(&self) -> Option<ID> {
        self.scope_id.clone().map(ID)
    }
    /// The parent technique id that is new in the scope.
    async fn technique_id(&self) -> &str {
        &self.tag.0.technique_id
    }
    /// Its catalog entry.
    async fn technique(&self) -> Option<AttackTechnique> {
        AttackTechnique::lookup(&self.tag.0.technique_id)
    }
    /// The tag that showed it first.
    async fn tag(&self) -> &TagNode {
        &self.tag
    }
}
