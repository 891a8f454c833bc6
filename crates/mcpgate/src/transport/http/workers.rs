//! The serving threads: one single-threaded tokio runtime per thread.
//!
//! With tokio's work-stealing runtime, a task woken on one worker wakes a sleeping sibling to
//! steal it, and a pooled upstream connection's driver task may run on another worker than
//! the request using it: a tool call (inbound read, upstream write, upstream read, inbound
//! write) then wakes two or three threads. Here each accepted connection is handed to one
//! thread and everything it starts stays there; measured with the pass-through row of
//! `examples/http_bench.rs` on the 2-core machine: 35 → 25 µs of CPU per proxied request,
//! 33k → 47k requests/s at 64 connections.
//!
//! The price: one connection's requests never move to an idle thread, so one slow request
//! (a 1.7 MB `tools/list`) delays the others of the same thread. Connections are spread
//! round robin, and clients and ingresses open several.

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// Handles of the serving runtimes; [`Workers::next`] picks them in turn.
#[derive(Debug)]
pub(super) struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `threads` (at least one) serving threads; they run until `done` is cancelled,
    /// and then drop their runtime, which cancels whatever still runs on it.
    pub(super) fn start(threads: usize, done: &CancellationToken) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let done = done.clone();
            std::thread::Builder::new()
                .name(format!("mcpgate-http-{i}"))
                .spawn(move || runtime.block_on(done.cancelled()))?;
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
        })
    }

    /// The runtime for the next connection.
    pub(super) fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }
}

#[cfg(test)]
mod tests {
    use super::Workers;
    use tokio_util::sync::CancellationToken;

    /// Connections are spread over every thread in turn, each task runs on its thread, and
    /// cancelling `done` ends the threads.
    #[test]
    fn tasks_go_round_robin_and_stay_on_their_thread() {
        let done = CancellationToken::new();
        let workers = Workers::start(2, &done).unwrap();
        let names: Vec<String> = (0..4)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel();
                workers.next().spawn(async move {
                    tokio::task::yield_now().await;
                    let _ = tx.send(std::thread::current().name().unwrap_or("").to_owned());
                });
                rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap()
            })
            .collect();
        assert_eq!(
            names,
            [
                "mcpgate-http-0",
                "mcpgate-http-1",
                "mcpgate-http-0",
                "mcpgate-http-1"
            ]
        );
        // A task still running when `done` fires is cancelled with its runtime.
        let pending = workers.next().spawn(std::future::pending::<()>());
        done.cancel();
        let outcome = futures::executor::block_on(pending);
        assert!(outcome.is_err_and(|e| e.is_cancelled()));
    }
}
