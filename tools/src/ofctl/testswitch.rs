//! A test double: an in-memory [`Switch`] served on a unix socket, for
//! tests that run `ovs-ofctl` and `rvs-ofctl` side by side before (or
//! without) the real daemon.
//!
//! This is **not** the channel layer (`ofproto::channel`): one blocking
//! thread per connection, the HELLO answered here, every other decoded
//! message handed to [`Switch::handle_message`] and everything it pushes
//! (replies and asynchronous messages alike) written back to the same
//! connection.  Time is the wall clock of the test process (milliseconds
//! since the server started), which only shows up in durations the tests
//! normalize.  Memory is bounded by the codec's 64 kB message limit.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ofproto::switch::{ConnCtx, Switch};
use ofproto::wire::consts::OFP_MAX_MESSAGE_LEN;
use ofproto::wire::framing::split_messages;
use ofproto::wire::{Body, Hello, Message};

/// A running test switch; stops (and removes its socket) on drop.
#[derive(Debug)]
pub struct TestSwitch {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The switch being served (inspect its tables from the test).
    pub switch: Arc<Mutex<Switch>>,
}

impl TestSwitch {
    /// Serves `switch` on a new unix socket at `path`.
    pub fn serve(path: &Path, switch: Switch) -> std::io::Result<TestSwitch> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        let switch = Arc::new(Mutex::new(switch));
        let stop = Arc::new(AtomicBool::new(false));
        let (sw, st) = (switch.clone(), stop.clone());
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (sw, st) = (sw.clone(), st.clone());
                        conns.push(std::thread::spawn(move || serve_conn(s, sw, st, start)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Ok(TestSwitch {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
            switch,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestSwitch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve_conn(mut s: UnixStream, sw: Arc<Mutex<Switch>>, stop: Arc<AtomicBool>, start: Instant) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let n = match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let Ok(frames) = split_messages(&mut buf, OFP_MAX_MESSAGE_LEN) else {
            return;
        };
        let mut out = Vec::new();
        for f in frames {
            match &f.msg {
                Ok(Message {
                    body: Body::Hello(_),
                    ..
                }) => out.push(Message::new(
                    f.header.xid,
                    Body::Hello(Hello::with_versions(&[4])),
                )),
                Ok(msg) => {
                    let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                    if let Ok(mut g) = sw.lock() {
                        g.handle_message(ConnCtx::default(), msg, &f.raw, now, &mut out);
                    }
                }
                Err(_) => out.extend(f.error_reply()),
            }
        }
        let mut wbuf = BytesMut::new();
        for m in &out {
            m.encode(&mut wbuf);
        }
        if s.write_all(&wbuf).is_err() {
            return;
        }
    }
}
