//! Guards that run before validation, resolvers or SQL. async-graphql's own depth,
//! complexity, recursion and directive limits are set in [`super::build_schema`]; these
//! cover what it lacks or does too late (checked by [`DocumentGuard::check`], which
//! [`super::execute`] calls before async-graphql sees the request: an async-graphql
//! extension would put every resolved field through its extension chain):
//! - [`nesting`]: bracket nesting of the raw text, checked before the parser recurses;
//! - [`fanout`]: the size of the document with fragments expanded (memoised), plus
//!   aliases and root fields — async-graphql expands fragments without memoisation in its
//!   own checks, so a 1 KB document of doubling fragments costs exponential CPU there;
//! - [`depth`]: selection depth, with introspection (`__schema`/`__type`) measured by its
//!   own rule, and refused with `INTROSPECTION_DISABLED` when switched off;
//! - [`timeout`]: the execution deadline;
//! - [`turns`]: large pages take turns (memory), inside the execution.

pub mod depth;
pub mod fanout;
pub mod nesting;
pub mod timeout;
pub mod turns;

use std::sync::Arc;

use async_graphql::{Request, ServerError, ServerResult};

use crate::config::Limits;
use crate::graphql::error::{Code, request_error};

/// The document checks, with what they need (in the schema's data).
#[derive(Clone)]
pub struct DocumentGuard {
    pub limits: Arc<Limits>,
    /// `false` with `--no-introspection`.
    pub introspection: bool,
}

impl DocumentGuard {
    /// Checks `request`'s text, then parses it (the parsed document stays in the request,
    /// so async-graphql does not parse it again) and measures it.
    pub fn check(&self, request: &mut Request) -> ServerResult<()> {
        let l = &self.limits;
        nesting::check(&request.query, l.max_text_nesting).map_err(too_complex)?;
        // Parse once here (the parsed document is kept for async-graphql), then measure.
        let doc = request.parsed_query()?;
        let shape = fanout::measure(doc).map_err(too_complex)?;
        if shape.expanded_fields > l.max_expanded_fields {
            return Err(too_complex(format!(
                "the query selects {} fields once fragments are expanded; the limit is {}",
                shape.expanded_fields, l.max_expanded_fields
            )));
        }
        if shape.aliases > l.max_aliases {
            return Err(too_complex(format!(
                "the query uses {} aliases; the limit is {}",
                shape.aliases, l.max_aliases
            )));
        }
        if shape.root_fields > l.max_root_fields {
            return Err(too_complex(format!(
                "the operation has {} root fields; the limit is {}",
                shape.root_fields, l.max_root_fields
            )));
        }
        let depth = depth::measure(doc);
        if depth.introspects() && !self.introspection {
            return Err(request_error(
                Code::IntrospectionDisabled,
                "introspection (__schema, __type) is disabled on this server; the schema is published as schema.graphql",
            ));
        }
        depth.check(l.max_depth).map_err(too_complex)
    }
}

fn too_complex(message: String) -> ServerError {
    request_error(Code::QueryTooComplex, message)
}
