//! The log writer: lines are appended to a shared buffer and a writer thread writes the
//! buffer to stderr in batches.
//!
//! Why not `tracing_appender::non_blocking`: it sends every line through a channel and wakes
//! its worker thread for each one when the worker is idle. At thousands of requests per
//! second that is thousands of futex wake-ups, context switches and small pipe writes per
//! second (about a fifth of the gateway's CPU in the HTTP benchmark). Here a request task
//! only appends to a `Vec` under a mutex; the writer thread is woken at most once per
//! [`BATCH_DELAY`] and writes everything gathered in one `write`.
//!
//! Guarantees: lines keep their order and none is dropped. Memory is bounded: a caller that
//! finds more than [`MAX_PENDING`] bytes waiting writes them itself (back-pressure, like a
//! blocking writer). Dropping the [`LogGuard`] flushes everything and stops the thread.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long the writer thread waits after the first pending line before writing, so that
/// the lines of a burst go out together.
const BATCH_DELAY: Duration = Duration::from_millis(5);
/// Above this many pending bytes the writer thread is woken at once.
const WAKE_AT: usize = 64 * 1024;
/// Above this many pending bytes the logging task writes them itself.
const MAX_PENDING: usize = 4 * 1024 * 1024;

struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Held while a batch is taken and written, so batches reach the output in order.
    output: Mutex<Box<dyn Write + Send>>,
    wake: Condvar,
    /// The writer thread is waiting for a first line (set and cleared under `pending`).
    idle: AtomicBool,
    stop: AtomicBool,
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Takes what is pending and writes it (in order with every other batch).
    fn flush(&self) {
        let mut out = lock(&self.output);
        let batch = std::mem::take(&mut *lock(&self.pending));
        if !batch.is_empty() {
            // Nowhere to report a failing stderr; the line is lost either way.
            let _ = out.write_all(&batch);
            let _ = out.flush();
        }
    }

    fn append(&self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        pending.extend_from_slice(line);
        let len = pending.len();
        let wake = len >= WAKE_AT || self.idle.swap(false, Ordering::AcqRel);
        drop(pending);
        if len >= MAX_PENDING {
            self.flush();
        } else if wake {
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        loop {
            {
                let mut pending = lock(&self.pending);
                while pending.is_empty() && !self.stop.load(Ordering::Acquire) {
                    self.idle.store(true, Ordering::Release);
                    pending = self
                        .wake
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                self.idle.store(false, Ordering::Release);
                if pending.len() < WAKE_AT && !self.stop.load(Ordering::Acquire) {
                    // Let the rest of the burst arrive (a full buffer or stop cuts it short).
                    drop(
                        self.wake
                            .wait_timeout(pending, BATCH_DELAY)
                            .unwrap_or_else(PoisonError::into_inner),
                    );
                }
            }
            self.flush();
            if self.stop.load(Ordering::Acquire) {
                self.flush();
                return;
            }
        }
    }
}

/// A `MakeWriter` for `tracing_subscriber::fmt`: each event is one `write_all` of one line.
#[derive(Clone)]
pub(crate) struct BatchWriter(Arc<Shared>);

impl std::fmt::Debug for BatchWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchWriter")
    }
}

/// Flushes and stops the writer thread when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _pending = lock(&self.shared.pending);
            self.shared.wake.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.flush();
    }
}

/// A writer to `out` with its writer thread. Without a thread (it cannot be spawned), every
/// line is written at once by the logging task.
pub(crate) fn batch_writer(out: Box<dyn Write + Send>) -> (BatchWriter, LogGuard) {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(16 * 1024)),
        output: Mutex::new(out),
        wake: Condvar::new(),
        idle: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name("mcpgate-log".into())
        .spawn(move || worker.run())
        .ok();
    if thread.is_none() {
        shared.stop.store(true, Ordering::Release);
    }
    (BatchWriter(shared.clone()), LogGuard { shared, thread })
}

/// The per-event handle `tracing_subscriber` writes one formatted line to.
#[derive(Debug)]
pub(crate) struct LineWriter<'a>(&'a BatchWriter);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let shared = &(self.0).0;
        if shared.stop.load(Ordering::Acquire) {
            // No writer thread (or shutting down): write through, in order.
            let mut out = lock(&shared.output);
            let pending = std::mem::take(&mut *lock(&shared.pending));
            out.write_all(&pending)?;
            out.write_all(buf)?;
            out.flush()?;
        } else {
            shared.append(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_in_order_and_none_is_lost() {
        let sink = Sink::default();
        let (writer, guard) = batch_writer(Box::new(sink.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        let line = format!("thread {t} line {i} {}\n", "x".repeat(i % 300));
                        LineWriter(&writer).write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let mut words = line.split(' ');
            assert_eq!(words.next(), Some("thread"), "a torn line: {line:?}");
            let t: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(words.next(), Some("line"));
            let i: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(i, next[t], "thread {t}: out of order or lost");
            assert_eq!(words.next().unwrap().len(), i % 300);
            next[t] += 1;
        }
        assert_eq!(next, [20_000; 4]);
    }

    #[test]
    fn a_quiet_line_is_written_without_further_traffic() {
        let sink = Sink::default();
        let (writer, _guard) = batch_writer(Box::new(sink.clone()));
        LineWriter(&writer).write_all(b"one line\n").unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < until,
                "the line was never written"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"one line\n");
    }
}
