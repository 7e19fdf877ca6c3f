//! The execution deadline: a request that runs longer gets a `TIMEOUT` error and its
//! futures (including in-flight SQL) are dropped.

use std::time::Duration;

use async_graphql::Response;

use crate::graphql::error::{Code, request_error};

/// Runs `exec` with a deadline.
pub async fn with_deadline(deadline: Duration, exec: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(deadline, exec).await {
        Ok(resp) => resp,
        Err(_) => Response::from_errors(vec![request_error(
            Code::Timeout,
            format!(
                "the request took longer than {} ms and was cancelled",
                deadline.as_millis()
            ),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_execution_becomes_a_timeout_error() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Response::new(async_graphql::Value::Null)
        };
        let resp = with_deadline(Duration::from_millis(20), slow).await;
        let code = resp.errors[0]
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        assert_eq!(code, Some(async_graphql::Value::from("TIMEOUT")));
        let fast = with_deadline(Duration::from_millis(20), async {
            Response::new(async_graphql::Value::Null)
        })
        .await;
        assert!(fast.errors.is_empty());
    }
}
