//! Authorisation inside GraphQL: *what* a caller may do. *Who* the caller is was decided
//! at the HTTP layer (401/403 before execution); a valid user who asks for a field their
//! role does not allow gets HTTP 200 with that field null and a `FORBIDDEN` error, like
//! any other field error, while the rest of the operation still runs.

use async_graphql::{Context, Guard, Result};

use super::error::{Code, coded};
use crate::auth::{Principal, Role};

/// Allows a field to callers whose role is at least `0`.
pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        match ctx.data_opt::<Principal>() {
            Some(p) if p.role.allows(self.0) => Ok(()),
            Some(_) => Err(coded(
                Code::Forbidden,
                format!("Insufficient permissions: this needs the {} role", self.0),
            )),
            None => Err(coded(Code::Unauthenticated, "authentication required")),
        }
    }
}
