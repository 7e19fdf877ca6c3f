//! The one integration-test binary. Store contract tests run on SQLite and MariaDB.

mod fixtures;
mod support;

mod store_contract;
mod store_datetimes;
mod store_differential;
mod store_migrations;
