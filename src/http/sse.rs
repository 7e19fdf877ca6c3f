//! `GET /events/tags`: the `tagsAdded` subscription as server-sent events, for clients
//! without WebSocket. Same filters (query parameters), same event payload (the
//! subscription's `TagEvent` with every scalar of the tag), run through the same GraphQL
//! execution; `id:` is the event's cursor, so a reconnecting `EventSource` resumes with
//! `Last-Event-ID` (or `?after=`) without gap or duplicate.
//!
//! The token is the `Authorization` header, checked by the same middleware as
//! `/graphql`, re-checked every [`LiveOptions::auth_recheck`] and at its expiry. A
//! stream ends with an `event: error` carrying GraphQL's error shape (`CURSOR_EXPIRED`,
//! `SLOW_CONSUMER` or `UNAVAILABLE` with `extensions.cursor`, `UNAUTHENTICATED` when the
//! token expired or was revoked). A comment line every [`LiveOptions::keepalive`] keeps
//! proxies from closing an idle stream.
//!
//! [`LiveOptions::auth_recheck`]: crate::config::LiveOptions::auth_recheck
//! [`LiveOptions::keepalive`]: crate::config::LiveOptions::keepalive

use std::convert::Infallible;
use std::time::Duration;

use async_graphql::{ID, Request as GqlRequest, Variables};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::response::{Code, error_response};
use crate::auth::{AuthError, Principal};
use crate::graphql::subscription::TagsAddedFilter;
use crate::graphql::types::live::FeedCursor;

/// The subscription every event stream runs: every scalar of the tag.
const DOCUMENT: &str = r"subscription EventsTags($filter: TagsAddedFilter, $after: FeedCursor) {
  tagsAdded(filter: $filter, after: $after) {
    cursor
    tag {
      uuid sourceKind sourceId attacker { id } identity { id } session { id } deckyId
      tactic techniqueId subTechniqueId confidence ruleId ruleVersion evidence
      attackRelease mitreUrl createdAt
    }
  }
}";

/// The query parameters: `tagsAdded`'s filter (lists comma-separated) and `after`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Params {
    identity_id: Option<String>,
    attacker_id: Option<String>,
    campaign_id: Option<String>,
    session_id: Option<String>,
    technique_ids: Option<String>,
    tactics: Option<String>,
    min_confidence: Option<f64>,
    after: Option<String>,
}

fn list(v: &Option<String>) -> Option<Vec<String>> {
    v.as_ref().map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

fn bad(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, Code::BadUserInput, message, false)
}

pub async fn tags(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(Extension(principal)) = principal else {
        return error_response(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            "authentication required",
            false,
        );
    };
    let Ok(Query(p)) = params else {
        return bad("unknown or malformed query parameters");
    };
    // Checked here, before the stream starts (a 400 instead of an error event).
    let filter = TagsAddedFilter {
        identity_id: p.identity_id.clone().map(ID),
        attacker_id: p.attacker_id.clone().map(ID),
        campaign_id: p.campaign_id.clone().map(ID),
        session_id: p.session_id.clone().map(ID),
        technique_ids: list(&p.technique_ids),
        tactics: list(&p.tactics),
        min_confidence: p.min_confidence,
    };
    if let Err(e) = filter.clone().into_filter() {
        let e: async_graphql::Error = e.into();
        return bad(&e.message);
    }
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let after = match last_event_id.or(p.after.clone()) {
        None => None,
        Some(c) => match <FeedCursor as async_graphql::ScalarType>::parse(
            async_graphql::Value::String(c.clone()),
        ) {
            Ok(c) => Some(c.0.to_string()),
            Err(_) => return bad(&format!("not a feed cursor: {c:?}")),
        },
    };
    let Some(slot) = s.live.admit(&principal.user_uuid) else {
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            Code::Overloaded,
            "too many live connections for this user",
            false,
        );
    };
    let variables = json!({
        "filter": {
            "identityId": filter.identity_id.map(|i| i.0),
            "attackerId": filter.attacker_id.map(|i| i.0),
            "campaignId": filter.campaign_id.map(|i| i.0),
            "sessionId": filter.session_id.map(|i| i.0),
            "techniqueIds": filter.technique_ids,
            "tactics": filter.tactics,
            "minConfidence": filter.min_confidence,
        },
        "after": after,
    });
    let request = GqlRequest::new(DOCUMENT)
        .variables(Variables::from_json(variables))
        .data(principal)
        .data(s.live.clone());
    let responses = crate::graphql::execute_stream(&s.schema, &s.store, request);
    let events = responses.map(|resp| {
        if resp.is_err() {
            let body = json!({ "errors": resp.errors });
            (Event::default().event("error").data(body.to_string()), true)
        } else {
            let data = resp.data.into_json().unwrap_or(Value::Null);
            let ev = &data["tagsAdded"];
            let id = ev["cursor"].as_str().unwrap_or_default().to_owned();
            (Event::default().id(id).data(ev.to_string()), false)
        }
    });
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ending = ended(s.clone(), authorization);
    let opts = s.live.options().clone();
    // Events until the first terminal one (an error event, or the connection's end).
    let merged = stream::select(events.map(Some), stream::once(ending).map(Some))
        .chain(stream::once(async { None }))
        .scan((false, slot), |(done, _slot), item| {
            let out = match item {
                _ if *done => None,
                None => None,
                Some((ev, terminal)) => {
                    *done = terminal;
                    Some(Ok::<_, Infallible>(ev))
                }
            };
            std::future::ready(out)
        });
    Sse::new(merged)
        .keep_alive(
            KeepAlive::new()
                .interval(opts.keepalive.max(Duration::from_millis(10)))
                .text("keep-alive"),
        )
        .into_response()
}

/// Completes with a final error event when the stream must end for another reason
/// than the subscription: the token expired or was revoked, or the server is stopping.
async fn ended(s: AppState, authorization: Option<String>) -> (Event, bool) {
    let opts = s.live.options().clone();
    let expiry = s.auth.expiry(authorization.as_deref());
    let expires = async {
        match expiry {
            Some(at) => {
                tokio::time::sleep((at - chrono::Utc::now()).to_std().unwrap_or_default()).await
            }
            None => std::future::pending().await,
        }
    };
    let revoked = async {
        let mut recheck = tokio::time::interval(opts.auth_recheck.max(Duration::from_millis(10)));
        recheck.tick().await;
        loop {
            recheck.tick().await;
            match s.auth.authenticate(authorization.as_deref()).await {
                Ok(_) | Err(AuthError::Unavailable) => {}
                Err(_) => return,
            }
        }
    };
    let (code, message) = tokio::select! {
        () = expires => (Code::Unauthenticated, "the token expired"),
        () = revoked => (Code::Unauthenticated, "the token is no longer valid"),
        () = s.live.stopped() => (Code::Unavailable, "the server is shutting down"),
    };
    let body = json!({"errors": [{"message": message, "extensions": {"code": code.as_str()}}]});
    (Event::default().event("error").data(body.to_string()), true)
}
