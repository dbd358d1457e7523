//! Guest stdout/stderr: accepted in full (a guest that cannot write may panic), kept up to a cap
//! and sent to the log, never to the process's stdout, which belongs to MCP.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// A sink that swallows everything a guest writes, keeping the first `cap` bytes.
#[derive(Clone)]
pub(crate) struct LogSink {
    inner: Arc<Mutex<SinkState>>,
}

struct SinkState {
    kept: Vec<u8>,
    total: u64,
    cap: usize,
}

impl LogSink {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(SinkState {
                kept: Vec::new(),
                total: 0,
                cap,
            })),
        }
    }

    fn push(&self, buf: &[u8]) {
        let mut s = self.inner.lock().unwrap();
        s.total += buf.len() as u64;
        let room = s.cap.saturating_sub(s.kept.len());
        let take = room.min(buf.len());
        s.kept.extend_from_slice(&buf[..take]);
    }

    /// What was kept, lossily decoded, and the total number of bytes written.
    pub(crate) fn take(&self) -> (String, u64) {
        let mut s = self.inner.lock().unwrap();
        let text = String::from_utf8_lossy(&std::mem::take(&mut s.kept)).into_owned();
        (text, s.total)
    }
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for LogSink {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(1024 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogSink {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogSink {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
