//! The export fields shared by the scope types: Navigator layer, STIX bundle, MISP event
//! (each a `JSON` value, the same document the download routes serve) and similar
//! groups. Each is costed by what it loads (`cost.rs`) and charged to the response
//! budget by its size before it is returned.

use async_graphql::{Context, Json};
use serde_json::Value;

use super::group::GroupSimilarity;
use crate::export::{self, Scope, ScopeKind, navigator, similar};
use crate::graphql::error::{ApiResult as Result, bad_input};
use crate::graphql::rc;

/// Most groups `similarGroups` returns.
pub const MAX_SIMILAR: i32 = 50;

fn scope(kind: ScopeKind, id: &str) -> Scope {
    Scope {
        kind,
        id: id.to_owned(),
    }
}

fn charged(ctx: &Context<'_>, v: Value) -> Result<Json<Value>> {
    let size = serde_json::to_vec(&v).map_or(0, |b| b.len());
    rc(ctx)?.charge(size)?;
    Ok(Json(v))
}

/// Our layer of a scope (null when the id is unknown).
pub async fn navigator_layer(
    ctx: &Context<'_>,
    kind: ScopeKind,
    id: &str,
    min_confidence: Option<f64>,
    tactics: Option<Vec<String>>,
) -> Result<Option<Json<Value>>> {
    let filter = export::source::parse_filter(min_confidence, tactics).map_err(bad_input)?;
    let s = scope(kind, id);
    let Some(rows) = export::source::techniques(&rc(ctx)?.store, &s, &filter).await? else {
        return Ok(None);
    };
    let (name, description) = export::document::layer_text(&s, &filter);
    Ok(Some(charged(
        ctx,
        navigator::layer(&name, &description, &rows),
    )?))
}

/// A scope's STIX bundle as JSON (null when unknown; attackers need DECNET's row).
pub async fn stix_bundle(
    ctx: &Context<'_>,
    kind: ScopeKind,
    id: &str,
) -> Result<Option<Json<Value>>> {
    let Some((bundle_id, objects, _)) = scope_objects(ctx, kind, id).await? else {
        return Ok(None);
    };
    let v = serde_json::json!({"type": "bundle", "id": bundle_id, "objects": objects});
    Ok(Some(charged(ctx, v)?))
}

/// A scope's MISP event (null when unknown).
pub async fn misp_event(
    ctx: &Context<'_>,
    kind: ScopeKind,
    id: &str,
) -> Result<Option<Json<Value>>> {
    let Some((bundle_id, objects, info)) = scope_objects(ctx, kind, id).await? else {
        return Ok(None);
    };
    Ok(Some(charged(
        ctx,
        export::misp::event(&bundle_id, &info, &objects),
    )?))
}

/// The STIX objects of a scope, its bundle id and a title.
pub async fn scope_objects(
    ctx: &Context<'_>,
    kind: ScopeKind,
    id: &str,
) -> Result<Option<(String, Vec<Value>, String)>> {
    let store = &rc(ctx)?.store;
    Ok(export::document::objects(store, kind, id).await?)
}

/// Groups most similar to a scope's observed techniques.
pub async fn similar_groups(
    ctx: &Context<'_>,
    kind: ScopeKind,
    id: &str,
    first: Option<i32>,
) -> Result<Vec<GroupSimilarity>> {
    let n = first.unwrap_or(5);
    if !(1..=MAX_SIMILAR).contains(&n) {
        return Err(bad_input(format!(
            "first must be between 1 and {MAX_SIMILAR}, got {n}"
        )));
    }
    let rows = export::source::techniques(
        &rc(ctx)?.store,
        &scope(kind, id),
        &crate::store::TechniqueFilter::default(),
    )
    .await?
    .unwrap_or_default();
    Ok(
        similar::similar_groups(rows.iter().map(|r| r.id()), n as usize)
            .into_iter()
            .map(GroupSimilarity)
            .collect(),
    )
}
