//! The one integration-test binary. Store and GraphQL contract tests run on SQLite and
//! MariaDB; HTTP tests drive the real router.

mod fixtures;
mod support;

mod auth;
mod browser;
mod exports;
mod faults;
mod fuzz;
mod graphiql;
mod graphql_batching;
mod graphql_input;
mod graphql_mutation;
mod graphql_nodes;
mod graphql_over_http;
mod graphql_pivots;
mod graphql_schema;
mod guards;
mod http;
mod http_compression;
mod http_hardening;
mod http_layers;
mod introspection;
mod kit;
mod live;
mod ops_cli;
mod ops_readiness;
mod playground;
mod response_cache;
mod response_limits;
mod store_contract;
mod store_datetimes;
mod store_decnet_writes;
mod store_differential;
mod store_migrate_history;
mod store_migrations;
mod store_plans;
mod store_summaries;
mod store_support;
mod store_uninstall;
