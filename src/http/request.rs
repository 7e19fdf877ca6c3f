//! Reading a GraphQL request per the GraphQL-over-HTTP spec, where async-graphql's own
//! helpers are lenient: its query-string parser reads `operation_name` instead of
//! `operationName`, and both it and its JSON `Request` default a missing `query` to "",
//! which then "executes" as a parse error with status 200. Here a request without a
//! query is a 400, and one that only names a persisted query says that ttpgraph keeps
//! none (clients such as Apollo's then resend the full query).

use async_graphql::Request;
use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use serde::Deserialize;

use super::response::Code;

/// Why a request cannot be executed: status, code and a client-facing message.
pub type Refusal = (StatusCode, Code, &'static str);

/// The parameters of `GET /graphql` (`variables` and `extensions` are JSON texts).
#[derive(Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// The request a `GET /graphql` URL carries.
pub fn from_uri(uri: &Uri) -> Result<Request, Refusal> {
    const MALFORMED: Refusal = (
        StatusCode::BAD_REQUEST,
        Code::BadRequest,
        "malformed query parameters (query, operationName, variables, extensions)",
    );
    let Query(p) = Query::<GetParams>::try_from_uri(uri).map_err(|_| MALFORMED)?;
    let mut r = Request::new(p.query.unwrap_or_default());
    r.operation_name = p.operation_name.filter(|n| !n.is_empty());
    if let Some(v) = json(p.variables).ok_or(MALFORMED)? {
        r.variables = v;
    }
    if let Some(e) = json(p.extensions).ok_or(MALFORMED)? {
        r.extensions = e;
    }
    check(&r)?;
    Ok(r)
}

/// An optional JSON parameter: `Some(None)` when absent or blank, `None` when malformed.
fn json<T: serde::de::DeserializeOwned>(s: Option<String>) -> Option<Option<T>> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(t) => serde_json::from_str(t).ok().map(Some),
    }
}

/// Refuses a request without a query (after JSON or query-string decoding, which
/// default it to ""), naming a persisted-query-only request as such.
pub fn check(r: &Request) -> Result<(), Refusal> {
    if !r.query.trim().is_empty() {
        return Ok(());
    }
    if r.extensions.contains_key("persistedQuery") {
        return Err((
            StatusCode::BAD_REQUEST,
            Code::PersistedQueryNotSupported,
            "persisted queries are not supported: send the full query",
        ));
    }
    Err((
        StatusCode::BAD_REQUEST,
        Code::BadRequest,
        "the request has no query (a GraphQL request is {\"query\": \"…\"} with optional operationName, variables and extensions)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(q: &str) -> Result<Request, Refusal> {
        from_uri(&format!("/graphql?{q}").parse().expect("uri"))
    }

    #[test]
    fn get_reads_operation_name_variables_and_refuses_a_missing_query() {
        let r = get("query=query%20A%7Ba%7D&operationName=A&variables=%7B%22x%22%3A1%7D")
            .expect("valid");
        assert_eq!(r.operation_name.as_deref(), Some("A"));
        assert_eq!(
            r.variables.get("x").map(|v| v.to_string()),
            Some("1".into())
        );
        assert_eq!(
            get("qeury=%7Ba%7D").err().map(|e| e.1),
            Some(Code::BadRequest)
        );
        assert_eq!(
            get("query=%7Ba%7D&variables=%7B").err().map(|e| e.1),
            Some(Code::BadRequest)
        );
        let apq = "extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%7D%7D";
        assert_eq!(
            get(apq).err().map(|e| e.1),
            Some(Code::PersistedQueryNotSupported)
        );
    }
}
