//! A small async OVSDB client: connect over `unix:`/`tcp:`, send requests,
//! receive notifications (monitor updates, lock events).
//!
//! One background task owns the connection: it matches replies to
//! requests by id, answers the server's `echo` requests itself, and
//! forwards notifications to a bounded channel (when the consumer falls
//! behind, reading from the server pauses: back-pressure rather than
//! unbounded buffering).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::codec::Framed;

use crate::jsonrpc::{DEFAULT_MAX_MESSAGE, JsonRpcCodec, JsonRpcError, Msg};
use crate::remote::Remote;

/// Notifications buffered before the client stops reading from the server.
pub const NOTIFY_QUEUE: usize = 4096;

/// Client-side failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting or transport failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered with a JSON-RPC error (any JSON value).
    #[error("server error: {0}")]
    Rpc(Value),
    /// The connection is gone.
    #[error("connection closed")]
    Closed,
    /// The server sent something that is not JSON-RPC.
    #[error(transparent)]
    Protocol(#[from] JsonRpcError),
    /// The remote is not an active (`unix:`/`tcp:`) form.
    #[error("cannot connect to passive remote {0}")]
    Passive(String),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, ClientError>>>>>;

/// A connection to an OVSDB server.
#[derive(Debug)]
pub struct Client {
    out: mpsc::UnboundedSender<Msg>,
    pending: Pending,
    next_id: AtomicU64,
    notes: Option<mpsc::Receiver<Msg>>,
}

impl Client {
    /// Connects to an active remote (`unix:PATH` or `tcp:IP:PORT`).
    pub async fn connect(remote: &Remote) -> Result<Client, ClientError> {
        match remote {
            Remote::Unix(p) => Ok(Client::over(tokio::net::UnixStream::connect(p).await?)),
            Remote::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a).await?;
                let _ = s.set_nodelay(true);
                Ok(Client::over(s))
            }
            other => Err(ClientError::Passive(other.to_string())),
        }
    }

    /// Runs the client over an already-connected stream.
    pub fn over<S>(stream: S) -> Client
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (out, mut out_rx) = mpsc::unbounded_channel::<Msg>();
        let (note_tx, notes) = mpsc::channel(NOTIFY_QUEUE);
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let p2 = pending.clone();
        // Weak, so dropping the `Client` closes the connection.
        let echo_out = out.downgrade();
        tokio::spawn(async move {
            let framed = Framed::new(stream, JsonRpcCodec::new(DEFAULT_MAX_MESSAGE));
            let (mut sink, mut stream) = framed.split();
            loop {
                tokio::select! {
                    m = out_rx.recv() => match m {
                        Some(m) => if sink.send(m).await.is_err() { break },
                        None => break,
                    },
                    m = stream.next() => match m {
                        None | Some(Err(_)) => break,
                        Some(Ok(msg)) => match msg {
                            Msg::Reply { result, id } => {
                                if let Some(tx) = take(&p2, &id).await { let _ = tx.send(Ok(result)); }
                            }
                            Msg::Error { error, id } => {
                                if let Some(tx) = take(&p2, &id).await { let _ = tx.send(Err(ClientError::Rpc(error))); }
                            }
                            Msg::Request { method, params, id } => {
                                let reply = if method == "echo" {
                                    Msg::Reply { result: params, id }
                                } else {
                                    Msg::Error { error: json!("unknown method"), id }
                                };
                                if let Some(o) = echo_out.upgrade() {
                                    let _ = o.send(reply);
                                }
                            }
                            n @ Msg::Notify { .. } => {
                                if note_tx.send(n).await.is_err() {
                                    // Nobody listens; keep serving replies.
                                }
                            }
                        },
                    },
                }
            }
            for (_, tx) in p2.lock().await.drain() {
                let _ = tx.send(Err(ClientError::Closed));
            }
        });
        Client {
            out,
            pending,
            next_id: AtomicU64::new(1),
            notes: Some(notes),
        }
    }

    /// Takes the notification stream (`update`, `update2`, `update3`,
    /// `locked`, `stolen`). Can be taken once.
    pub fn notifications(&mut self) -> Option<mpsc::Receiver<Msg>> {
        self.notes.take()
    }

    /// Sends a request and waits for its reply.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id, tx);
        self.out
            .send(Msg::request(method, params, json!(id)))
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Sends a notification.
    pub fn notify(&self, method: &str, params: Value) -> Result<(), ClientError> {
        self.out
            .send(Msg::notify(method, params))
            .map_err(|_| ClientError::Closed)
    }

    /// `list_dbs`.
    pub async fn list_dbs(&self) -> Result<Vec<String>, ClientError> {
        let v = self.request("list_dbs", json!([])).await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `get_schema`.
    pub async fn get_schema(&self, db: &str) -> Result<Value, ClientError> {
        self.request("get_schema", json!([db])).await
    }

    /// `transact`: returns the result array.
    pub async fn transact(&self, db: &str, ops: Vec<Value>) -> Result<Value, ClientError> {
        let mut params = vec![json!(db)];
        params.extend(ops);
        self.request("transact", Value::Array(params)).await
    }

    /// `monitor_cond` (falls back to nothing: the caller picks the
    /// method). Returns the initial contents; updates arrive as
    /// notifications.
    pub async fn monitor(
        &self,
        method: &str,
        db: &str,
        id: Value,
        requests: Value,
    ) -> Result<Value, ClientError> {
        self.request(method, json!([db, id, requests])).await
    }
}

async fn take(p: &Pending, id: &Value) -> Option<oneshot::Sender<Result<Value, ClientError>>> {
    let id = id.as_u64()?;
    p.lock().await.remove(&id)
}
