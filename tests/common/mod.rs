//! Helpers shared by the integration tests that run the gateway binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 at the time of asking, for a process the test starts to listen on.
///
/// Taken below the kernel's ephemeral range (32768 and up), from a block of 128 ports chosen by
/// the test process's id, in turn: a port the kernel hands out to a connection or to a test's
/// own `bind(0)` listener (fake upstreams) cannot be the one the gateway is about to bind, and
/// the tests of one binary never get the same port twice. (A `bind(0)` port was seen taken by
/// another test in the moment before the gateway bound it.)
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let block = 20_000 + (std::process::id() % 97) as u16 * 128;
    for _ in 0..1024 {
        let port = block + NEXT.fetch_add(1, Ordering::Relaxed) % 128;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 127.0.0.1:{block}..{}", block + 127)
}

/// Waits (at most 20 s) until something listens on 127.0.0.1:`port`.
pub fn wait_for(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
