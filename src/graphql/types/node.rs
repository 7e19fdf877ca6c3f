//! The Relay `Node` interface and the global look-up behind `node(id)` / `nodes(ids)`.
//!
//! Global ids are the ids the types already return (DECNET's frontend uses the raw
//! uuids), not encoded `Type:id` strings: DECNET's attacker, identity and campaign uuids
//! are random and unique across its tables, and a session id is the recorder's own id,
//! which names no row. So `node(id)` looks the id up as each type in turn — a DECNET row
//! (attacker, identity, campaign), then the tags (attacker, identity, a campaign some
//! identity names, a session) — and answers the first that knows it. Every step is a
//! DataLoader key, so many look-ups in one request share their statements.

use async_graphql::{Context, ID, Interface};

use super::attacker::AttackerNode;
use super::campaign::CampaignNode;
use super::identity::IdentityNode;
use super::session::SessionNode;
use crate::graphql::error::ApiResult as Result;
use crate::graphql::loaders::{AttackerRow, CampaignIdentities, CampaignRow, IdentityRow, Tagged};
use crate::graphql::rc;
use crate::store::context::TagAnchor;

/// An object with a global id: `node(id:)` returns it again. The id is the one the type
/// itself returns (a uuid, or a session's recorder id).
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "The global id: DECNET's uuid, or a session's recorder id."
))]
pub enum Node {
    Identity(IdentityNode),
    Attacker(AttackerNode),
    Campaign(CampaignNode),
    Session(SessionNode),
}

/// The node `id` names, or None.
pub async fn lookup(ctx: &Context<'_>, id: &str) -> Result<Option<Node>> {
    let l = &rc(ctx)?.loaders;
    let key = id.to_owned();
    let (attacker, identity, campaign) = futures_util::future::join3(
        l.load_one(AttackerRow(key.clone())),
        l.load_one(IdentityRow(key.clone())),
        l.load_one(CampaignRow(key.clone())),
    )
    .await;
    if let Some(row) = attacker? {
        return Ok(Some(Node::Attacker(AttackerNode::from_row(row))));
    }
    if identity?.is_some() {
        return Ok(Some(Node::Identity(IdentityNode { id: key })));
    }
    if campaign?.is_some() {
        return Ok(Some(Node::Campaign(CampaignNode { id: key })));
    }
    let (a, i, s, c) = futures_util::future::join4(
        l.load_one(Tagged(TagAnchor::Attacker, key.clone())),
        l.load_one(Tagged(TagAnchor::Identity, key.clone())),
        l.load_one(Tagged(TagAnchor::Session, key.clone())),
        l.load_one(CampaignIdentities(key.clone())),
    )
    .await;
    Ok(if a?.unwrap_or(false) {
        Some(Node::Attacker(AttackerNode { id: key, row: None }))
    } else if i?.unwrap_or(false) {
        Some(Node::Identity(IdentityNode { id: key }))
    } else if c?.is_some_and(|v| !v.is_empty()) {
        Some(Node::Campaign(CampaignNode { id: key }))
    } else if s?.unwrap_or(false) {
        Some(Node::Session(SessionNode { id: key }))
    } else {
        None
    })
}
