//! MCP over stdin/stdout.

use crate::mcp::{Gateway, McpHandler};
use rmcp::ServiceExt as _;
use std::sync::Arc;

/// Serves one client on stdin/stdout until it disconnects.
pub async fn serve(gateway: Arc<Gateway>) -> anyhow::Result<()> {
    let service = McpHandler::new(gateway)
        .serve(rmcp::transport::stdio())
        .await?;
    service.waiting().await?;
    Ok(())
}
