//! The download routes (issue 11): DECNET's export paths and file names, so its web
//! frontend can point its buttons at ttpgraph unchanged, plus ours for the other scopes.
//! Behind the same authentication as `/graphql`; an unknown id is a 404 (with DECNET's
//! `detail` and our error shape); every download is counted in `/metrics`
//! (`ttpgraph_export_*`). The documents come from [`crate::export`], the same code the
//! GraphQL fields call. Fleet STIX and MISP stream (bounded memory, see
//! `export/fleet.rs`), at most [`AppState::fleet_exports`] at a time.
//!
//! | route (under `/api/v1`) | document |
//! | --- | --- |
//! | `GET /ttp/export/navigator` | DECNET's fleet layer |
//! | `GET /ttp/export/navigator/identity/{id}` | DECNET's identity layer |
//! | `GET /ttp/export/layer[/{scope}/{id}]?minConfidence=&tactics=` | our layer (fleet, identity, attacker, campaign, session) |
//! | `GET /attackers/{id}/export/{stix,misp}` | one attacker |
//! | `GET /attackers/export/{stix,misp}` | the fleet (streamed) |
//! | `GET /identities/{id}/export/{stix,misp}`, `GET /campaigns/{id}/export/{stix,misp}` | ours |

use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::response::{Code, error_body, overloaded};
use crate::export::fleet::{self, FleetFormat};
use crate::export::source::{self, Scope, ScopeKind};
use crate::export::{document, misp, navigator, stix};
use crate::metrics::{self, ExportLabels};
use crate::store::TechniqueFilter;

/// The routes, relative to `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ttp/export/navigator", get(decnet_fleet_layer))
        .route(
            "/ttp/export/navigator/identity/{id}",
            get(decnet_identity_layer),
        )
        .route("/ttp/export/layer", get(fleet_layer))
        .route("/ttp/export/layer/{scope}/{id}", get(scope_layer))
        .route("/attackers/export/stix", get(fleet_stix))
        .route("/attackers/export/misp", get(fleet_misp))
        .route(
            "/attackers/{id}/export/stix",
            get(|s, p| one(s, p, ScopeKind::Attacker, Format::Stix)),
        )
        .route(
            "/attackers/{id}/export/misp",
            get(|s, p| one(s, p, ScopeKind::Attacker, Format::Misp)),
        )
        .route(
            "/identities/{id}/export/stix",
            get(|s, p| one(s, p, ScopeKind::Identity, Format::Stix)),
        )
        .route(
            "/identities/{id}/export/misp",
            get(|s, p| one(s, p, ScopeKind::Identity, Format::Misp)),
        )
        .route(
            "/campaigns/{id}/export/stix",
            get(|s, p| one(s, p, ScopeKind::Campaign, Format::Stix)),
        )
        .route(
            "/campaigns/{id}/export/misp",
            get(|s, p| one(s, p, ScopeKind::Campaign, Format::Misp)),
        )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Stix,
    Misp,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Stix => "stix",
            Format::Misp => "misp",
        }
    }
}

/// Ids are uuids or recorder ids: anything longer is unknown without a look-up.
const MAX_ID_LEN: usize = 128;

/// Records the download in `/metrics` when dropped (for a stream: after its last byte).
struct Tally {
    format: &'static str,
    scope: &'static str,
    outcome: &'static str,
    started: Instant,
    bytes: u64,
}

impl Tally {
    fn new(format: &'static str, scope: ScopeKind) -> Self {
        Self {
            format,
            scope: scope.as_str(),
            outcome: "ok",
            started: Instant::now(),
            bytes: 0,
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        let labels = ExportLabels {
            format: self.format,
            scope: self.scope,
            outcome: self.outcome,
        };
        metrics::export(labels, self.started.elapsed(), self.bytes);
    }
}

/// Only letters, digits and dashes of an id, at most 8: DECNET's `uuid[:8]`, safe in a
/// header.
fn short(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(8)
        .collect()
}

fn document(mut tally: Tally, body: Vec<u8>, filename: &str) -> Response {
    tally.bytes = body.len() as u64;
    let mut resp = (StatusCode::OK, body).into_response();
    headers(&mut resp, filename);
    resp
}

fn headers(resp: &mut Response, filename: &str) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
}

/// 404 with DECNET's `detail` (`unknown attacker uuid: '<id>'`) and our error shape.
fn not_found(mut tally: Tally, what: &str, id: &str) -> Response {
    tally.outcome = "not_found";
    let message = format!("unknown {what}: '{id}'");
    let mut body = error_body(Code::NotFound, &message);
    if let Some(m) = body.as_object_mut() {
        m.insert("detail".into(), serde_json::Value::String(message));
    }
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

fn bad_request(mut tally: Tally, message: &str) -> Response {
    tally.outcome = "bad_request";
    (
        StatusCode::BAD_REQUEST,
        axum::Json(error_body(Code::BadUserInput, message)),
    )
        .into_response()
}

fn failed(mut tally: Tally, e: &crate::store::StoreError) -> Response {
    tally.outcome = "error";
    tracing::error!(error = %e, "export failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(error_body(Code::Internal, "internal error")),
    )
        .into_response()
}

fn what(kind: ScopeKind) -> &'static str {
    match kind {
        ScopeKind::Fleet => "fleet",
        ScopeKind::Identity => "identity uuid",
        ScopeKind::Attacker => "attacker uuid",
        ScopeKind::Campaign => "campaign uuid",
        ScopeKind::Session => "session id",
    }
}

fn json_bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

async fn decnet_fleet_layer(State(s): State<AppState>) -> Response {
    let tally = Tally::new("navigator_decnet", ScopeKind::Fleet);
    let scope = Scope {
        kind: ScopeKind::Fleet,
        id: String::new(),
    };
    match source::techniques(&s.store, &scope, &TechniqueFilter::default()).await {
        Ok(rows) => {
            let layer =
                navigator::decnet_layer(&navigator::decnet_fleet_name(), &rows.unwrap_or_default());
            document(tally, json_bytes(&layer), "decnet-fleet.layer.json")
        }
        Err(e) => failed(tally, &e),
    }
}

async fn decnet_identity_layer(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let tally = Tally::new("navigator_decnet", ScopeKind::Identity);
    if id.len() > MAX_ID_LEN {
        return not_found(tally, what(ScopeKind::Identity), &id);
    }
    let scope = Scope {
        kind: ScopeKind::Identity,
        id: id.clone(),
    };
    match source::techniques(&s.store, &scope, &TechniqueFilter::default()).await {
        Ok(Some(rows)) => {
            let layer = navigator::decnet_layer(&navigator::decnet_identity_name(&id), &rows);
            let name = format!("decnet-identity-{}.layer.json", short(&id));
            document(tally, json_bytes(&layer), &name)
        }
        Ok(None) => not_found(tally, what(ScopeKind::Identity), &id),
        Err(e) => failed(tally, &e),
    }
}

/// `minConfidence=0.8&tactics=TA0006,discovery` (tactics also repeatable).
fn layer_filter(params: &[(String, String)]) -> Result<TechniqueFilter, String> {
    let mut min = None;
    let mut tactics: Option<Vec<String>> = None;
    for (k, v) in params {
        match k.as_str() {
            "minConfidence" => {
                min = Some(
                    v.trim()
                        .parse::<f64>()
                        .map_err(|_| format!("minConfidence must be a number, got {v:?}"))?,
                );
            }
            "tactics" | "tactic" => tactics.get_or_insert_with(Vec::new).extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            ),
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: use minConfidence or tactics"
                ));
            }
        }
    }
    source::parse_filter(min, tactics)
}

async fn fleet_layer(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    layer(s, ScopeKind::Fleet, String::new(), &params).await
}

async fn scope_layer(
    State(s): State<AppState>,
    Path((scope, id)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let kind = match scope.as_str() {
        "identity" => ScopeKind::Identity,
        "attacker" => ScopeKind::Attacker,
        "campaign" => ScopeKind::Campaign,
        "session" => ScopeKind::Session,
        _ => {
            let tally = Tally::new("navigator", ScopeKind::Fleet);
            return not_found(
                tally,
                "scope (identity, attacker, campaign or session)",
                &scope,
            );
        }
    };
    layer(s, kind, id, &params).await
}

async fn layer(s: AppState, kind: ScopeKind, id: String, params: &[(String, String)]) -> Response {
    let tally = Tally::new("navigator", kind);
    let filter = match layer_filter(params) {
        Ok(f) => f,
        Err(m) => return bad_request(tally, &m),
    };
    if id.len() > MAX_ID_LEN {
        return not_found(tally, what(kind), &id);
    }
    let scope = Scope { kind, id };
    match source::techniques(&s.store, &scope, &filter).await {
        Ok(Some(rows)) => {
            let (name, description) = document::layer_text(&scope, &filter);
            let layer = navigator::layer(&name, &description, &rows);
            let file = match kind {
                ScopeKind::Fleet => "ttpgraph-fleet.layer.json".to_owned(),
                k => format!("ttpgraph-{}-{}.layer.json", k.as_str(), short(&scope.id)),
            };
            document(tally, json_bytes(&layer), &file)
        }
        Ok(None) => not_found(tally, what(kind), &scope.id),
        Err(e) => failed(tally, &e),
    }
}

/// One attacker's, identity's or campaign's bundle or event.
async fn one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    kind: ScopeKind,
    format: Format,
) -> Response {
    let mut tally = Tally::new(format.as_str(), kind);
    if id.len() > MAX_ID_LEN {
        return not_found(tally, what(kind), &id);
    }
    let Ok(_permit) = s.executions.clone().try_acquire_owned() else {
        tally.outcome = "overloaded";
        return overloaded("too many requests in progress; retry shortly", false);
    };
    match document::objects(&s.store, kind, &id).await {
        Ok(Some((bundle_id, objects, info))) => {
            let body = match format {
                Format::Stix => stix::bundle_bytes(&bundle_id, &objects),
                Format::Misp => json_bytes(&misp::event(&bundle_id, &info, &objects)),
            };
            let name = format!(
                "decnet-{}-{}.{}.json",
                kind.as_str(),
                short(&id),
                format.as_str()
            );
            document(tally, body, &name)
        }
        Ok(None) => not_found(tally, what(kind), &id),
        Err(e) => failed(tally, &e),
    }
}

async fn fleet_stix(State(s): State<AppState>) -> Response {
    stream(s, FleetFormat::Stix, "stix").await
}

async fn fleet_misp(State(s): State<AppState>) -> Response {
    stream(s, FleetFormat::Misp, "misp").await
}

/// A fleet document, streamed as it is written; the permit and the tally live until
/// the body's last chunk.
async fn stream(s: AppState, format: FleetFormat, name: &'static str) -> Response {
    let mut tally = Tally::new(name, ScopeKind::Fleet);
    let Ok(permit) = s.fleet_exports.clone().try_acquire_owned() else {
        tally.outcome = "overloaded";
        return overloaded("a fleet export is already running; retry shortly", false);
    };
    let rx = fleet::spawn(s.store.clone(), format);
    let body = futures_util::stream::unfold(
        (rx, tally, permit),
        |(mut rx, mut tally, permit)| async move {
            match rx.recv().await? {
                Ok(chunk) => {
                    tally.bytes += chunk.len() as u64;
                    Some((Ok(Bytes::from(chunk)), (rx, tally, permit)))
                }
                Err(e) => {
                    tally.outcome = "error";
                    Some((
                        Err(std::io::Error::other(e.to_string())),
                        (rx, tally, permit),
                    ))
                }
            }
        },
    );
    let file = format!(
        "decnet-fleet-{}.{name}.json",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    let mut resp = Body::from_stream(body).into_response();
    headers(&mut resp, &file);
    resp
}
