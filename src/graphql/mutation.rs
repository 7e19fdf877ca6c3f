//! `insertTags`: DECNET's idempotent write path over GraphQL. The uuid is computed
//! server-side; the whole batch is validated before anything is written.

use crate::graphql::error::ApiResult as Result;
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};

use super::authz::RoleGuard;
use super::error::{bad_input, from_store};
use super::types::scalars::DateTime;
use super::{limits, rc};
use crate::attack;
use crate::auth::Role;
use crate::store::{NewTag, StoreError};

/// One tag to insert.
#[derive(InputObject)]
pub struct TagInput {
    /// Kind of source event (`command`, `session`, `identity`, `intel`, …).
    pub source_kind: String,
    /// Id of the source event, e.g. `{session_id}#{index}`.
    pub source_id: String,
    /// Attacker anchor (at least one of attackerUuid / identityUuid is required).
    pub attacker_uuid: Option<String>,
    /// Identity anchor.
    pub identity_uuid: Option<String>,
    /// Session recorder id.
    pub session_id: Option<String>,
    /// Decky name.
    pub decky_id: Option<String>,
    /// A known ATT&CK tactic: id (`TA0006`), shortname (`credential-access`) or name;
    /// stored as the id. It need not be one of the technique's tactics in the current
    /// release (DECNET's rules, and tags written against older releases, name others).
    pub tactic: String,
    /// Parent technique id, e.g. `T1110`: an ATT&CK Enterprise technique (revoked and
    /// deprecated ids included).
    pub technique_id: String,
    /// Full sub-technique id, e.g. `T1110.003`: a sub-technique of `techniqueId`.
    pub sub_technique_id: Option<String>,
    /// In [0, 1]; below 0.3 the tag is dropped (counted, not stored).
    pub confidence: f64,
    /// Rule id, e.g. `R0014`.
    pub rule_id: String,
    /// Rule version.
    pub rule_version: i32,
    /// Why the rule fired: a JSON object.
    pub evidence: Json<serde_json::Value>,
    /// ATT&CK release of the rule pack (default `v19.2`).
    pub attack_release: Option<String>,
    /// Event time (default: now); from 2000-01-01 to one day ahead of the server's clock.
    /// MySQL/MariaDB keep whole seconds.
    pub created_at: Option<DateTime>,
    /// The ATT&CK URL to store, as DECNET's tagger sends it: omitted → the catalog's URL
    /// of the (sub-)technique; `null` → none; a string → stored as given (an
    /// `https://attack.mitre.org/` URL of at most 255 characters).
    pub mitre_url: MaybeUndefined<String>,
}

/// What `insertTags` did.
#[derive(SimpleObject)]
pub struct InsertTagsPayload {
    /// Tags newly stored.
    pub inserted: i64,
    /// Tags under the 0.3 confidence floor, dropped.
    pub dropped_below_floor: i64,
    /// Tags already stored (or repeated in the batch): first write wins.
    pub duplicates: i64,
    /// Deterministic uuid of every input tag, in input order.
    pub uuids: Vec<ID>,
}

/// The root mutation type.
pub struct MutationRoot;

/// Root of every write.
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Inserts tags with DECNET's semantics: deterministic uuids, insert-or-ignore, the
    /// 0.3 confidence floor. An invalid tag fails the whole call; nothing is written.
    /// Needs the admin role (a viewer gets a FORBIDDEN error).
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn insert_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The tags (at most the server's batch limit, 5000 by default).")]
        tags: Vec<TagInput>,
    ) -> Result<InsertTagsPayload> {
        let max = limits(ctx).max_insert_tags;
        if tags.len() > max {
            return Err(bad_input(format!(
                "at most {max} tags per call, got {}",
                tags.len()
            )));
        }
        let rows = tags
            .into_iter()
            .enumerate()
            .map(|(i, t)| to_new_tag(i, t))
            .collect::<Result<Vec<_>>>()?;
        let uuids = rows.iter().map(|t| ID(t.uuid().to_string())).collect();
        let out = rc(ctx)?
            .store
            .insert_tags(&rows)
            .await
            .map_err(|e| match e {
                StoreError::InvalidTag {
                    index,
                    field,
                    message,
                } => bad_input(format!("tags[{index}].{}: {message}", camel(field))),
                e => from_store(&e),
            })?;
        Ok(InsertTagsPayload {
            inserted: out.inserted as i64,
            dropped_below_floor: out.below_floor as i64,
            duplicates: out.duplicates as i64,
            uuids,
        })
    }
}

fn to_new_tag(i: usize, t: TagInput) -> Result<NewTag> {
    // Everything else is checked by the store (`store::validate`), which names the field.
    let tactic = attack::tactic_id(&t.tactic)
        .map(str::to_owned)
        .ok_or_else(|| {
            bad_input(format!(
                "tags[{i}].tactic: {:?} is not an ATT&CK tactic (use an id like TA0006 or a name like credential-access)",
                t.tactic
            ))
        })?;
    let mitre_url = match t.mitre_url {
        MaybeUndefined::Undefined => attack::catalog()
            .url(t.sub_technique_id.as_deref().unwrap_or(&t.technique_id))
            .map(str::to_owned),
        MaybeUndefined::Null => None,
        MaybeUndefined::Value(url) => Some(url),
    };
    Ok(NewTag {
        source_kind: t.source_kind,
        source_id: t.source_id,
        attacker_uuid: t.attacker_uuid,
        identity_uuid: t.identity_uuid,
        session_id: t.session_id,
        decky_id: t.decky_id,
        tactic,
        technique_id: t.technique_id,
        sub_technique_id: t.sub_technique_id,
        confidence: t.confidence,
        rule_id: t.rule_id,
        rule_version: i64::from(t.rule_version),
        evidence: t.evidence.0,
        attack_release: t.attack_release.unwrap_or_else(|| attack::RELEASE.into()),
        mitre_url,
        created_at: t.created_at.map(|d| d.0),
    })
}

/// `sub_technique_id` → `subTechniqueId`, so errors name the GraphQL field.
fn camel(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
