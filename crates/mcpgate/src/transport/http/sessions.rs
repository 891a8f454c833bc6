//! Stateful sessions: rmcp's in-memory session manager, with 256-bit session ids.
//!
//! rmcp's `LocalSessionManager` names sessions with UUIDv4 (122 random bits). A session id is
//! the only thing that ties a request to a session, so it is a bearer secret for as long as
//! the session lives; the security catalogue (TR04) asks for at least 128 bits. [`Sessions`]
//! creates each session itself with 32 bytes from the OS generator (43 base64url characters,
//! visible ASCII as the MCP specification requires) and delegates everything else to rmcp.

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::WorkerTransport;
use rmcp::transport::common::server_side_http::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker, create_local_session,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, SessionId, SessionManager,
};
use std::sync::Arc;

/// rmcp's local session manager with our session ids.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    /// The sessions (rmcp's registry and configuration).
    pub(crate) local: LocalSessionManager,
}

/// A fresh session id: 256 bits from the OS generator, base64url without padding (the same
/// generator as the OAuth tokens).
fn new_id() -> SessionId {
    Arc::from(crate::oauth::crypto::random_token(""))
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        // As `LocalSessionManager::create_session`, with our id (mcpgate sets no event store).
        let id = new_id();
        let (handle, worker) = create_local_session(id.clone(), self.local.session_config.clone());
        self.local.sessions.write().await.insert(id.clone(), handle);
        Ok((id, WorkerTransport::spawn(worker)))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.local.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.local.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.local.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.local.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.local.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::collections::HashSet;

    #[test]
    fn tr04_session_ids_have_256_bits_and_are_visible_ascii() {
        let ids: HashSet<SessionId> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.len(), 43, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(id.as_bytes())
                .unwrap_or_default();
            assert_eq!(raw.len(), 32);
        }
    }

    /// TR04 at the session layer: with 100 live sessions, 10⁶ random ids (visible ASCII,
    /// 1–64 characters, plus well-formed 43-character ids) match none of them. The HTTP
    /// path for hostile ids is tested end to end (tests/e2e/hardening2.rs).
    #[tokio::test]
    async fn tr04_a_million_random_ids_find_no_session() {
        let sessions = Sessions::default();
        let mut live = HashSet::new();
        for _ in 0..100 {
            let (id, transport) = sessions
                .create_session()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            drop(transport);
            live.insert(id);
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut found = 0;
        for i in 0..1_000_000u32 {
            let id: SessionId = if i % 2 == 0 {
                let len = 1 + (next() % 64) as usize;
                (0..len)
                    .map(|_| char::from(0x21 + (next() % 94) as u8))
                    .collect::<String>()
                    .into()
            } else {
                new_id()
            };
            if sessions.has_session(&id).await.unwrap_or(false) {
                found += 1;
            }
        }
        assert_eq!(found, 0);
        for id in &live {
            assert!(sessions.has_session(id).await.unwrap_or(false));
        }
    }
}
