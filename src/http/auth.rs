//! The authentication middleware of `/graphql` (health probes and GraphiQL's HTML stay
//! public). Who the caller is is settled here, before the body is read: a missing,
//! invalid, expired or revoked token is a 401 with `WWW-Authenticate: Bearer`, a user who
//! must change their password a 403, both in GraphQL's error shape. On success the
//! [`Principal`] goes into the request extensions for the GraphQL handlers.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::response::{Code, error_response};
use crate::auth::{AuthError, Authenticator, Principal};

/// DECNET's message for every 401; the reason is only logged.
const UNAUTHENTICATED: &str = "Could not validate credentials";

pub async fn require(State(auth): State<Authenticator>, mut req: Request, next: Next) -> Response {
    // A WebSocket carries its token in `connection_init` (browsers cannot set headers on
    // it): `ws.rs` checks it there, with this same `Authenticator`.
    if super::ws::is_upgrade(req.headers()) {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth.authenticate(header).await {
        Ok(principal) => {
            let caller = super::access_log::Caller(principal.username.clone());
            req.extensions_mut().insert::<Principal>(principal);
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(caller);
            resp
        }
        Err(AuthError::Unauthenticated(reason)) => {
            tracing::debug!(%reason, "request refused: 401");
            let mut resp = error(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                UNAUTHENTICATED,
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            resp
        }
        Err(AuthError::Forbidden(message)) => {
            tracing::debug!(%message, "request refused: 403");
            error(StatusCode::FORBIDDEN, Code::Forbidden, message)
        }
        Err(AuthError::Unavailable) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal,
            "authentication is temporarily unavailable",
        ),
    }
}

fn error(status: StatusCode, code: Code, message: &str) -> Response {
    error_response(status, code, message, false)
}
