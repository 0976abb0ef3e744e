//! The real gateway binary in front of fake upstreams: upstream faults become dialect-correct
//! 502/504 answers, refused requests never reach the upstream, large bodies are held back until
//! decided, large responses stream through (or are cut), SIGTERM lets in-flight exchanges finish,
//! and `check` names file, line and key.
//!
//! Everything speaks HTTP/1.1 by hand over `std::net` (no HTTP client dependency): requests carry
//! `Connection: close` and are read to the end. Every fake upstream, every read and every wait is
//! bounded in time; the gateway process is killed when its guard drops.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::free_port;

use taxii_gateway::taxii::{scan_body, Dialect, Envelope, ScanLimits, Transport};

// ------------------------------------------------------------------------------------------
// Messages
// ------------------------------------------------------------------------------------------

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const DIALECTS: [Dialect; 3] = [Dialect::V11, Dialect::V10, Dialect::Draft1];

/// A valid poll request of the dialect and its message id.
fn poll_request(d: Dialect) -> (Vec<u8>, &'static str) {
    match d {
        Dialect::V11 => (
            fixture("1.1/Poll_Request-query.xml"),
            "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a13",
        ),
        Dialect::V10 => (fixture("1.0/Poll_Request-content-binding.xml"), "1015"),
        Dialect::Draft1 => (
            fixture("draft1/TAXII_PollRequest-content-binding.xml"),
            "c0ffee00-7a11-4b0b-9d3e-51a7e0000112",
        ),
    }
}

/// A valid poll response of the dialect.
fn poll_response(d: Dialect) -> Vec<u8> {
    match d {
        Dialect::V11 => fixture("1.1/Poll_Response.xml"),
        Dialect::V10 => fixture("1.0/Poll_Response-empty.xml"),
        Dialect::Draft1 => fixture("draft1/TAXII_PollResponse-empty.xml"),
    }
}

/// A valid message of another dialect than `d` (a response, so that only its dialect is wrong).
fn other_dialect_response(d: Dialect) -> Vec<u8> {
    match d {
        Dialect::V11 => poll_response(Dialect::V10),
        Dialect::V10 | Dialect::Draft1 => poll_response(Dialect::V11),
    }
}

/// The request headers of the dialect's HTTP binding (plain HTTP).
fn taxii_headers(d: Dialect) -> Vec<(&'static str, &'static str)> {
    let mut h = vec![
        ("Content-Type", "application/xml"),
        ("X-TAXII-Content-Type", d.content_type_id()),
        ("X-TAXII-Protocol", d.protocol_id(Transport::Http)),
    ];
    if let Some(s) = d.services_id() {
        h.push(("X-TAXII-Services", s));
    }
    h
}

/// An upstream's answer: status line, the dialect's headers, an exact length. The fakes serve
/// one exchange per connection and say so: a pooled connection they closed could otherwise be
/// reused by the gateway before it notices the close, and Pingora never retries a POST on
/// another connection (a spurious 502, as with any keep-alive upstream that closes idle
/// connections).
fn upstream_answer(d: Dialect, body: &[u8]) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\nConnection: close\r\n".to_vec();
    for (name, value) in taxii_headers(d) {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// A 1.1 Inbox_Message of about `target` bytes (STIX packages from the demo generator).
fn big_inbox_message(target: usize) -> Vec<u8> {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Inbox_Message \
         xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1.1\" \
         message_id=\"urn:uuid:0b1c2d3e-4f50-4617-8a9b-acbdcedf0001\">\n",
    );
    let mut i = 0;
    while x.len() < target {
        x.push_str(
            "  <Content_Block>\n    <Content_Binding binding_id=\"urn:stix.mitre.org:xml:1.1.1\"/>\n    <Content>\n",
        );
        x.push_str(&taxii_gateway::demo::stix_package(i, "      "));
        x.push_str("\n    </Content>\n  </Content_Block>\n");
        i += 1;
    }
    x.push_str("</Inbox_Message>\n");
    x.into_bytes()
}

const BIG_INBOX_ID: &str = "urn:uuid:0b1c2d3e-4f50-4617-8a9b-acbdcedf0001";

// ------------------------------------------------------------------------------------------
// The gateway process
// ------------------------------------------------------------------------------------------

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "taxii-gw-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `taxii-gateway run` on a free port; killed (SIGKILL) when dropped.
struct Gateway {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Gateway {
    /// `server`: lines of the `[server]` table; `rest`: upstreams and routes.
    fn start(server: &str, rest: &str) -> Gateway {
        let mut last_log = String::new();
        // A port found free may be taken before the gateway binds it: try another one.
        for _ in 0..3 {
            let dir = TempDir::new("gw");
            let port = free_port();
            let config = format!(
                "[server]\nthreads = 2\npid_file = \"{}\"\n{server}\n\n[[listener]]\naddress = \"127.0.0.1:{port}\"\n\n{rest}\n",
                dir.0.join("gw.pid").display()
            );
            let config_path = dir.0.join("gateway.toml");
            std::fs::write(&config_path, config).unwrap();
            let log = dir.0.join("gateway.log");
            let log_file = std::fs::File::create(&log).unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_taxii-gateway"))
                .arg("run")
                .arg("--config")
                .arg(&config_path)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .expect("the gateway binary starts");
            let mut gw = Gateway {
                child,
                port,
                log,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = gw.child.try_wait() {
                    break;
                }
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    // Still running: the listener is its own, not another process's.
                    thread::sleep(Duration::from_millis(50));
                    if let Ok(None) = gw.child.try_wait() {
                        return gw;
                    }
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            last_log = gw.log_text();
        }
        panic!("the gateway did not start listening; its log:\n{last_log}");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- gateway log ---\n{}\n--- end ---", self.log_text());
        }
    }
}

// ------------------------------------------------------------------------------------------
// Fake upstreams
// ------------------------------------------------------------------------------------------

/// A request head as the upstream saw it.
#[derive(Debug, Clone)]
struct Head {
    path: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One accepted connection of a fake upstream; every byte read is recorded.
struct Conn {
    stream: TcpStream,
    log: Arc<Mutex<Vec<u8>>>,
    head_len: Arc<AtomicUsize>,
}

impl Conn {
    fn read_some(&mut self, buf: &mut [u8]) -> usize {
        match self.stream.read(buf) {
            Ok(n) => {
                self.log.lock().unwrap().extend_from_slice(&buf[..n]);
                n
            }
            Err(_) => 0,
        }
    }

    /// Reads the request head one byte at a time, so that no body byte is consumed.
    fn read_head(&mut self) -> Option<Head> {
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            if raw.len() > 64 * 1024 || self.read_some(&mut byte) == 0 {
                return None;
            }
            raw.push(byte[0]);
        }
        self.head_len.store(raw.len(), Ordering::SeqCst);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let mut lines = text.split("\r\n");
        let path = lines.next()?.split(' ').nth(1)?.to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Some(Head { path, headers })
    }

    fn read_line(&mut self) -> Option<String> {
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n") {
            if raw.len() > 1024 || self.read_some(&mut byte) == 0 {
                return None;
            }
            raw.push(byte[0]);
        }
        Some(String::from_utf8_lossy(&raw[..raw.len() - 2]).into_owned())
    }

    fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut out = vec![0u8; n];
        let mut got = 0;
        while got < n {
            let k = self.read_some(&mut out[got..]);
            if k == 0 {
                return None;
            }
            got += k;
        }
        Some(out)
    }

    /// The request body, by `Content-Length` or chunked (decoded).
    fn read_body(&mut self, head: &Head) -> Option<Vec<u8>> {
        if head
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            let mut body = Vec::new();
            loop {
                let line = self.read_line()?;
                let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
                if size == 0 {
                    // Trailers (none expected) up to the empty line.
                    while !self.read_line()?.is_empty() {}
                    return Some(body);
                }
                body.extend(self.read_exact(size)?);
                if !self.read_line()?.is_empty() {
                    return None;
                }
            }
        }
        let n = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.read_exact(n)
    }

    fn read_request(&mut self) -> Option<(Head, Vec<u8>)> {
        let head = self.read_head()?;
        let body = self.read_body(&head)?;
        Some((head, body))
    }

    /// Reads (and records) whatever comes until the peer closes, at most `limit`.
    fn read_until_closed(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 16 * 1024];
        while Instant::now() < deadline {
            let _ = self
                .stream
                .set_read_timeout(Some(Duration::from_millis(100)));
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.log.lock().unwrap().extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }
}

type Handler = Arc<dyn Fn(&mut Conn) + Send + Sync>;

/// What one connection of a fake upstream received.
struct Received {
    bytes: Arc<Mutex<Vec<u8>>>,
    head_len: Arc<AtomicUsize>,
}

/// A fake upstream: accepts connections for at most 50 s, each served by `handler` on its own
/// thread with 10 s socket timeouts.
struct Fake {
    port: u16,
    conns: Arc<Mutex<Vec<Received>>>,
    /// Connections whose handler returned.
    finished: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Fake {
    fn start(handler: impl Fn(&mut Conn) + Send + Sync + 'static) -> Fake {
        let handler: Handler = Arc::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<Received>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicUsize::new(0));
        let accept = {
            let (conns, stop, finished) = (conns.clone(), stop.clone(), finished.clone());
            thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(50) {
                    let stream = match listener.accept() {
                        Ok((s, _)) => s,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        Err(_) => continue,
                    };
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
                    let log: Arc<Mutex<Vec<u8>>> = Arc::default();
                    let head_len = Arc::new(AtomicUsize::new(0));
                    conns.lock().unwrap().push(Received {
                        bytes: log.clone(),
                        head_len: head_len.clone(),
                    });
                    let (handler, finished) = (handler.clone(), finished.clone());
                    thread::spawn(move || {
                        let mut conn = Conn {
                            stream,
                            log,
                            head_len,
                        };
                        handler(&mut conn);
                        drop(conn);
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        };
        Fake {
            port,
            conns,
            finished,
            stop,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// Waits until `n` connections were served to the end, at most `limit`.
    fn wait_finished(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.finished.load(Ordering::SeqCst) >= n {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Bytes received on connection `i`: (head, everything after the head).
    fn received(&self, i: usize) -> (Vec<u8>, Vec<u8>) {
        let conns = self.conns.lock().unwrap();
        let all = conns[i].bytes.lock().unwrap().clone();
        let head_len = conns[i].head_len.load(Ordering::SeqCst).min(all.len());
        (all[..head_len].to_vec(), all[head_len..].to_vec())
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------------------------------
// The client
// ------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The body arrived whole: its length as announced, or the terminating chunk.
    complete: bool,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        format!(
            "HTTP {} {:?}\n{}",
            self.status,
            self.headers,
            String::from_utf8_lossy(&self.body[..self.body.len().min(2000)])
        )
    }
}

/// A raw HTTP/1.1 request with `Host`, `Connection: close` and, with a body, `Content-Length`.
fn request(method: &str, target: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out =
        format!("{method} {target} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        out.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body.unwrap_or_default());
    out
}

/// A POST of `body` with the dialect's TAXII headers.
fn post(path: &str, d: Dialect, body: &[u8]) -> Vec<u8> {
    request("POST", path, &taxii_headers(d), Some(body))
}

/// A POST of `body` with the dialect's TAXII headers, chunked in pieces of `piece` bytes.
fn post_chunked(path: &str, d: Dialect, body: &[u8], piece: usize) -> Vec<u8> {
    let mut headers = taxii_headers(d);
    headers.push(("Transfer-Encoding", "chunked"));
    let mut out = request("POST", path, &headers, None);
    for c in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Sends `raw` (from another thread, so that a gateway answering before reading the whole body
/// cannot block us) and reads the answer until the gateway closes, at most 30 s.
fn exchange(port: u16, raw: Vec<u8>) -> Response {
    exchange_with(port, raw, |_| {})
}

/// [`exchange`], calling `progress` with the number of bytes received so far after each read.
fn exchange_with(port: u16, raw: Vec<u8>, mut progress: impl FnMut(usize)) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let _ = writer.write_all(&raw);
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                progress(got.len());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset after the answer, or the 30 s bound: what arrived is the answer.
            Err(_) => break,
        }
    }
    // Unblocks the sender if the gateway answered without reading the whole request.
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sender.join();
    parse_response(&got)
}

fn parse_response(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP response head in {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(500)])
            )
        });
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
        complete: false,
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let (body, complete) = dechunk(rest);
        resp.body = body;
        resp.complete = complete;
    } else if let Some(n) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        resp.body = rest[..n.min(rest.len())].to_vec();
        resp.complete = rest.len() >= n;
    } else {
        resp.body = rest.to_vec();
        resp.complete = true;
    }
    resp
}

/// Decodes a chunked body as far as it goes; `true` when the terminating chunk arrived.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let line = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (body, false);
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            return (body, rest.starts_with(b"\r\n"));
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..size.min(rest.len())]);
            return (body, false);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ------------------------------------------------------------------------------------------
// Assertions
// ------------------------------------------------------------------------------------------

/// The answer carries a valid message of dialect `d`, with the binding's headers for plain HTTP,
/// of that status type, in response to `irt`.
fn assert_taxii_answer(
    r: &Response,
    what: &str,
    status: u16,
    d: Dialect,
    status_type: &str,
    irt: Option<&str>,
) -> Envelope {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert!(r.complete, "{what}: incomplete body: {}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/xml"),
        "{what}: {}",
        r.text()
    );
    assert_eq!(
        r.header("X-TAXII-Content-Type"),
        Some(d.content_type_id()),
        "{what}: {}",
        r.text()
    );
    assert_eq!(
        r.header("X-TAXII-Protocol"),
        Some(d.protocol_id(Transport::Http)),
        "{what}: {}",
        r.text()
    );
    assert_eq!(
        r.header("X-TAXII-Services"),
        d.services_id(),
        "{what}: {}",
        r.text()
    );
    let env = scan_body(&r.body, &ScanLimits::default()).unwrap_or_else(|e| {
        panic!(
            "{what}: the answer is not a valid message ({e}): {}",
            r.text()
        )
    });
    assert_eq!(env.dialect, d, "{what}: {}", r.text());
    let expected_root = if d == Dialect::Draft1 {
        "TAXII_ErrorMessage"
    } else {
        "Status_Message"
    };
    assert_eq!(env.message, expected_root, "{what}: {}", r.text());
    assert_eq!(
        env.status_type.as_ref().map(|f| f.value.as_str()),
        Some(status_type),
        "{what}: {}",
        r.text()
    );
    assert_eq!(
        env.in_response_to.as_ref().map(|f| f.value.as_str()),
        irt,
        "{what}: {}",
        r.text()
    );
    env
}

/// A Draft 1 error answer: a bare HTTP status, no TAXII body, `X-TAXII-Protocol` still sent.
fn assert_draft1_bare(r: &Response, what: &str, status: u16) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert!(r.complete, "{what}: {}", r.text());
    assert!(r.body.is_empty(), "{what}: a body: {}", r.text());
    assert_eq!(
        r.header("X-TAXII-Protocol"),
        Some(Dialect::Draft1.protocol_id(Transport::Http)),
        "{what}: {}",
        r.text()
    );
    assert_eq!(
        r.header("X-TAXII-Content-Type"),
        None,
        "{what}: {}",
        r.text()
    );
}

/// The FAILURE answer to an upstream fault (DESIGN.md, "Errors, per dialect"): 502/504 with a
/// `Status_Message FAILURE` in 1.x, a bare status in Draft 1.
fn assert_upstream_failure(r: &Response, what: &str, status: u16, d: Dialect, irt: &str) {
    if d == Dialect::Draft1 {
        assert_draft1_bare(r, what, status);
    } else {
        assert_taxii_answer(r, what, status, d, "FAILURE", Some(irt));
    }
}

/// The good exchange: a valid poll request answered by the upstream's valid poll response,
/// passed through unchanged.
fn assert_good(port: u16, path: &str, d: Dialect, after: &str) {
    let (req, _) = poll_request(d);
    let r = exchange(port, post(path, d, &req));
    assert_eq!(
        r.status,
        200,
        "{d} good request after {after}: {}",
        r.text()
    );
    assert!(r.complete, "{d} good request after {after}: {}", r.text());
    assert_eq!(
        r.body,
        poll_response(d),
        "{d} good request after {after}: {}",
        r.text()
    );
}

/// The handler of a fake upstream that answers every request with the poll response of the
/// request's dialect (from its X-TAXII-Content-Type).
fn good_answer(conn: &mut Conn, head: &Head) {
    let d = dialect_of(head);
    conn.send(&upstream_answer(d, &poll_response(d)));
}

fn dialect_of(head: &Head) -> Dialect {
    match head.header("x-taxii-content-type") {
        Some(v) if v == Dialect::V10.content_type_id() => Dialect::V10,
        Some(v) if v == Dialect::V11.content_type_id() => Dialect::V11,
        _ => Dialect::Draft1,
    }
}

// ------------------------------------------------------------------------------------------
// 1. Upstream faults
// ------------------------------------------------------------------------------------------

/// One fake upstream; the route path chooses the fault.
fn faulty_upstream() -> Fake {
    Fake::start(|conn| {
        let Some(head) = conn.read_head() else {
            return;
        };
        let d = dialect_of(&head);
        let path = head.path.as_str();
        // The reset faults leave the request body unread, so that the kernel answers their
        // close with RST; the others read the whole request first.
        if !path.starts_with("/reset-") && conn.read_body(&head).is_none() {
            return;
        }
        let answer = upstream_answer(d, &poll_response(d));
        let half_body = answer.len() - poll_response(d).len() / 2;
        match path {
            "/good" => good_answer(conn, &head),
            "/reset-head" => {
                // Half a status line, then a reset.
                thread::sleep(Duration::from_millis(100));
                conn.send(b"HTTP/1.1 200 O");
            }
            "/reset-body" => {
                // The head and most of the body of a valid answer, then a reset.
                thread::sleep(Duration::from_millis(100));
                conn.send(&answer[..answer.len() - 40]);
            }
            "/garbage" => conn.send(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02\xff\xfe garbage\r\n\r\n"),
            "/http500" => {
                let html = b"<html><head><title>500 Internal Server Error</title></head>\
                             <body><h1>Internal Server Error</h1><pre>Traceback ...</pre></body></html>";
                let mut out = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\
                     Content-Type: text/html\r\nContent-Length: {}\r\n\r\n",
                    html.len()
                )
                .into_bytes();
                out.extend_from_slice(html);
                conn.send(&out);
            }
            "/http500-truncated" => conn.send(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n\
                  Content-Length: 1000\r\n\r\n<html><body>Internal",
            ),
            // A valid head announcing the whole body; the connection closes after half of it.
            "/truncated" => conn.send(&answer[..half_body]),
            "/stall-body" => {
                // A valid head and half the body, then silence (until the gateway gives up).
                conn.send(&answer[..half_body]);
                conn.read_until_closed(Duration::from_secs(5));
            }
            "/wrong-dialect-headers" => {
                let other = if d == Dialect::V11 {
                    Dialect::V10
                } else {
                    Dialect::V11
                };
                conn.send(&upstream_answer(other, &poll_response(other)));
            }
            // The request's dialect in the headers, another one in the body.
            "/wrong-dialect-body" => conn.send(&upstream_answer(d, &other_dialect_response(d))),
            "/request-message" => conn.send(&upstream_answer(d, &poll_request(d).0)),
            // Accepts, reads, never answers (until the gateway gives up).
            "/silent" => conn.read_until_closed(Duration::from_secs(5)),
            _ => {}
        }
    })
}

fn fault_routes(fake: &Fake, closed_port: u16) -> String {
    let mut s = format!(
        "[[upstream]]\nname = \"fake\"\nurl = \"{url}\"\nconnect_timeout_ms = 1000\nread_timeout_ms = 5000\n\n\
         [[upstream]]\nname = \"fake-impatient\"\nurl = \"{url}\"\nconnect_timeout_ms = 1000\nread_timeout_ms = 400\n\n\
         [[upstream]]\nname = \"down\"\nurl = \"http://127.0.0.1:{closed_port}\"\nconnect_timeout_ms = 1000\nread_timeout_ms = 1000\n\n",
        url = fake.url()
    );
    for path in [
        "/good",
        "/reset-head",
        "/reset-body",
        "/garbage",
        "/http500",
        "/truncated",
        "/wrong-dialect-headers",
        "/wrong-dialect-body",
        "/request-message",
        "/http500-truncated",
    ] {
        s.push_str(&format!(
            "[[route]]\npath = \"{path}\"\nupstream = \"fake\"\n\n"
        ));
    }
    for path in ["/silent", "/stall-body"] {
        s.push_str(&format!(
            "[[route]]\npath = \"{path}\"\nupstream = \"fake-impatient\"\n\n"
        ));
    }
    s.push_str("[[route]]\npath = \"/refused\"\nupstream = \"down\"\n\n");
    s
}

#[test]
fn upstream_faults_become_502_or_504_in_the_requesters_dialect() {
    let fake = faulty_upstream();
    let gw = Gateway::start("", &fault_routes(&fake, free_port()));
    for d in DIALECTS {
        let (req, id) = poll_request(d);
        for (path, status) in [
            ("/refused", 502),
            ("/reset-head", 502),
            ("/garbage", 502),
            ("/http500", 502),
            ("/wrong-dialect-headers", 502),
            ("/silent", 504),
        ] {
            let what = format!("{d} {path}");
            let r = exchange(gw.port, post(path, d, &req));
            assert_upstream_failure(&r, &what, status, d, id);
            assert_good(gw.port, "/good", d, &what);
        }
    }
}

#[test]
fn invalid_200_responses_become_failure_messages() {
    let fake = faulty_upstream();
    let gw = Gateway::start("", &fault_routes(&fake, free_port()));
    for d in DIALECTS {
        let (req, id) = poll_request(d);
        for path in ["/wrong-dialect-body", "/request-message"] {
            let what = format!("{d} {path}");
            let r = exchange(gw.port, post(path, d, &req));
            // The status line and headers left before the body was read: response.rs completes
            // them with a FAILURE message of the request's dialect (Draft 1: a
            // TAXII_ErrorMessage), and nothing of the upstream's body.
            assert_taxii_answer(&r, &what, 200, d, "FAILURE", Some(id));
            assert_good(gw.port, "/good", d, &what);
        }
    }
}

#[test]
fn upstream_faults_after_the_response_head_complete_it_with_a_failure() {
    let fake = faulty_upstream();
    let gw = Gateway::start("", &fault_routes(&fake, free_port()));
    for d in DIALECTS {
        let (req, id) = poll_request(d);
        // The upstream's 200 head left (re-framed as chunked), then the upstream closed, reset
        // or stalled before the body was whole. No body byte had left (the body is held up to
        // responses.hold_bytes): the answer is completed with a FAILURE message, as for a
        // rejected body, never with a part of the upstream's body.
        for path in ["/truncated", "/reset-body", "/stall-body"] {
            let what = format!("{d} {path}");
            let r = exchange(gw.port, post(path, d, &req));
            assert_taxii_answer(&r, &what, 200, d, "FAILURE", Some(id));
            assert_good(gw.port, "/good", d, &what);
        }
        // A 500 replaced by the 502 answer at its head, then truncated: the 502 answer is
        // still written whole.
        let what = format!("{d} /http500-truncated");
        let r = exchange(gw.port, post("/http500-truncated", d, &req));
        assert_upstream_failure(&r, &what, 502, d, id);
        assert_good(gw.port, "/good", d, &what);
    }
}

// ------------------------------------------------------------------------------------------
// 2. Refused requests never reach the upstream
// ------------------------------------------------------------------------------------------

/// A fake upstream that answers every request well.
fn good_upstream() -> Fake {
    Fake::start(|conn| {
        if let Some((head, _)) = conn.read_request() {
            good_answer(conn, &head);
        }
    })
}

/// (what, request, status, dialect of the answer, 1.x status type, 1.x in_response_to)
type Refused<'a> = (&'a str, Vec<u8>, u16, Dialect, &'a str, Option<&'a str>);

#[test]
fn refused_requests_never_reach_the_upstream() {
    let fake = good_upstream();
    let routes = format!(
        "[[upstream]]\nname = \"fake\"\nurl = \"{url}\"\n\n\
         [[route]]\npath = \"/services/poll\"\nupstream = \"fake\"\n\n\
         [[route]]\npath = \"/services/draft1\"\nupstream = \"fake\"\ndialects = [\"draft1\"]\n\n\
         [[route]]\npath = \"/services/v11\"\nupstream = \"fake\"\ndialects = [\"1.1\"]\n",
        url = fake.url()
    );
    let gw = Gateway::start("", &routes);
    let p = gw.port;
    let (v11_poll, _) = poll_request(Dialect::V11);
    let (v10_poll, v10_id) = poll_request(Dialect::V10);
    let (d1_poll, _) = poll_request(Dialect::Draft1);
    let d1_doctype = String::from_utf8(d1_poll.clone()).unwrap().replacen(
        "<TAXII_PollRequest",
        "<!DOCTYPE TAXII_PollRequest [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<TAXII_PollRequest",
        1,
    );
    let v10_malformed = String::from_utf8(v10_poll.clone())
        .unwrap()
        .replace("</p:Poll_Request>", "</p:Poll_Reqest>");
    let v11_status = fixture("1.1/Status_Message-success.xml");

    let cases: Vec<Refused> = vec![
        (
            "1.1 DOCTYPE",
            post(
                "/services/poll",
                Dialect::V11,
                &fixture("bad/doctype-xxe-file.xml"),
            ),
            200,
            Dialect::V11,
            "BAD_MESSAGE",
            Some("0"),
        ),
        (
            "1.1 malformed",
            post(
                "/services/poll",
                Dialect::V11,
                &fixture("bad/malformed-mismatched-end-tag.xml"),
            ),
            200,
            Dialect::V11,
            "BAD_MESSAGE",
            Some("urn:example-isac:bad:1"),
        ),
        (
            "1.0 malformed",
            post("/services/poll", Dialect::V10, v10_malformed.as_bytes()),
            200,
            Dialect::V10,
            "BAD_MESSAGE",
            Some(v10_id),
        ),
        (
            "1.1 a response message as request",
            post("/services/poll", Dialect::V11, &v11_status),
            200,
            Dialect::V11,
            "BAD_MESSAGE",
            Some("urn:example-isac:msg:resp-001"),
        ),
        (
            "1.1 headers, 1.0 body",
            post("/services/poll", Dialect::V11, &v10_poll),
            200,
            Dialect::V11,
            "BAD_MESSAGE",
            // "1015" is also a valid 1.1 id (a URI reference): echoed.
            Some(v10_id),
        ),
        (
            "1.0 headers, 1.1 body",
            post("/services/poll", Dialect::V10, &v11_poll),
            200,
            Dialect::V10,
            "BAD_MESSAGE",
            Some("0"),
        ),
        (
            "1.1 PUT",
            request(
                "PUT",
                "/services/poll",
                &taxii_headers(Dialect::V11),
                Some(&v11_poll),
            ),
            405,
            Dialect::V11,
            "BAD_MESSAGE",
            // Refused on the method, before the body is read.
            Some("0"),
        ),
        (
            "1.1 Content-Type text/plain",
            request(
                "POST",
                "/services/poll",
                &[
                    ("Content-Type", "text/plain"),
                    ("X-TAXII-Content-Type", Dialect::V11.content_type_id()),
                    (
                        "X-TAXII-Protocol",
                        Dialect::V11.protocol_id(Transport::Http),
                    ),
                    ("X-TAXII-Services", "urn:taxii.mitre.org:services:1.1"),
                ],
                Some(&v11_poll),
            ),
            415,
            Dialect::V11,
            "UNSUPPORTED_MESSAGE",
            Some("0"),
        ),
        (
            "1.0 message on a 1.1-only route",
            post("/services/v11", Dialect::V10, &v10_poll),
            415,
            Dialect::V10,
            "UNSUPPORTED_MESSAGE",
            Some(v10_id),
        ),
        (
            "1.1 POST without TAXII headers",
            request(
                "POST",
                "/services/v11",
                &[("Content-Type", "application/xml")],
                Some(&v11_poll),
            ),
            400,
            Dialect::V11,
            "BAD_MESSAGE",
            Some("0"),
        ),
        (
            "GET without message_type on a 1.1 route",
            request("GET", "/services/v11", &[], None),
            400,
            Dialect::V11,
            "BAD_MESSAGE",
            Some("0"),
        ),
        (
            "Draft 1 DOCTYPE",
            post("/services/poll", Dialect::Draft1, d1_doctype.as_bytes()),
            400,
            Dialect::Draft1,
            "",
            None,
        ),
        (
            "Draft 1 undefined entity",
            post(
                "/services/poll",
                Dialect::Draft1,
                &fixture("bad/entity-undefined-in-text.xml"),
            ),
            400,
            Dialect::Draft1,
            "",
            None,
        ),
        (
            "Draft 1 headers, 1.1 body",
            post("/services/poll", Dialect::Draft1, &v11_poll),
            400,
            Dialect::Draft1,
            "",
            None,
        ),
        (
            "Draft 1 POSTed discovery request",
            post(
                "/services/draft1",
                Dialect::Draft1,
                &fixture("draft1/TAXII_DiscoveryRequest.xml"),
            ),
            405,
            Dialect::Draft1,
            "",
            None,
        ),
        (
            "Draft 1 PUT",
            request(
                "PUT",
                "/services/draft1",
                &taxii_headers(Dialect::Draft1),
                Some(&d1_poll),
            ),
            405,
            Dialect::Draft1,
            "",
            None,
        ),
        (
            "Draft 1 GET without message_type",
            request("GET", "/services/draft1?message_id=a1", &[], None),
            400,
            Dialect::Draft1,
            "",
            None,
        ),
        (
            "Draft 1 Content-Type text/plain",
            request(
                "POST",
                "/services/draft1",
                &[
                    ("Content-Type", "text/plain"),
                    ("X-TAXII-Protocol", "TAXII_HTTP_BINDING_1.0"),
                ],
                Some(&d1_poll),
            ),
            415,
            Dialect::Draft1,
            "",
            None,
        ),
    ];
    for (what, raw, status, d, status_type, irt) in cases {
        let r = exchange(p, raw);
        if d == Dialect::Draft1 {
            assert_draft1_bare(&r, what, status);
        } else {
            assert_taxii_answer(&r, what, status, d, status_type, irt);
        }
        if status == 405 {
            let allow = if d == Dialect::Draft1 {
                "GET, POST"
            } else {
                "POST"
            };
            assert_eq!(r.header("Allow"), Some(allow), "{what}: {}", r.text());
        }
        assert!(r.header("X-Request-Id").is_some(), "{what}: {}", r.text());
    }

    // No TAXII service at an unknown path: a plain 404, as any HTTP server answers.
    let r = exchange(p, post("/services/nope", Dialect::V11, &v11_poll));
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.header("X-TAXII-Content-Type"), None, "{}", r.text());

    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        fake.connections(),
        0,
        "a refused request reached the upstream: {:?}",
        String::from_utf8_lossy(&fake.received(0).0)
    );

    // The upstream is reachable: the absence above means something.
    assert_good(p, "/services/poll", Dialect::V11, "the refusals");
    assert_eq!(fake.connections(), 1);

    // A chunked body, however small, is decided in request_body_filter (PINGORA.md): the
    // upstream is contacted and sees the request head, then the connection closes without one
    // body byte.
    let r = exchange(
        p,
        post_chunked(
            "/services/poll",
            Dialect::V11,
            &fixture("bad/malformed-mismatched-end-tag.xml"),
            100,
        ),
    );
    assert_taxii_answer(
        &r,
        "1.1 malformed, chunked",
        200,
        Dialect::V11,
        "BAD_MESSAGE",
        Some("urn:example-isac:bad:1"),
    );
    assert!(fake.wait_finished(2, Duration::from_secs(10)));
    let (head, rest) = fake.received(1);
    assert!(head.starts_with(b"POST /services/poll HTTP/1.1\r\n"));
    assert_eq!(rest, b"", "the upstream received body bytes");
}

// ------------------------------------------------------------------------------------------
// 3. Bodies above 64 KiB
// ------------------------------------------------------------------------------------------

/// Answers every request with a 1.1 Status_Message SUCCESS once its body was read.
fn inbox_upstream() -> Fake {
    Fake::start(|conn| {
        let Some(head) = conn.read_head() else {
            return;
        };
        // A refused body ends with the connection: every byte that came is recorded.
        if conn.read_body(&head).is_some() {
            conn.send(&upstream_answer(
                Dialect::V11,
                &fixture("1.1/Status_Message-success.xml"),
            ));
        }
    })
}

fn inbox_routes(fake: &Fake) -> String {
    format!(
        "[[upstream]]\nname = \"fake\"\nurl = \"{url}\"\n\n\
         [[route]]\npath = \"/services/inbox\"\nupstream = \"fake\"\nupstream_path = \"/inbox\"\n\n\
         [[route]]\npath = \"/services/inbox-small\"\nupstream = \"fake\"\nupstream_path = \"/inbox-small\"\nmax_body_bytes = 100000\n",
        url = fake.url()
    )
}

/// The body the upstream received on connection `i` (de-chunked if it came chunked).
fn upstream_body(fake: &Fake, i: usize) -> (String, Vec<u8>) {
    let (head, rest) = fake.received(i);
    let head = String::from_utf8_lossy(&head).into_owned();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let (body, complete) = dechunk(&rest);
        assert!(complete, "the upstream got an unfinished chunked body");
        body
    } else {
        rest
    };
    (head, body)
}

#[test]
fn large_request_bodies_are_forwarded_intact() {
    let fake = inbox_upstream();
    let gw = Gateway::start("", &inbox_routes(&fake));
    let body = big_inbox_message(200 * 1024);
    assert!(body.len() > 200 * 1024);
    assert!(scan_body(&body, &ScanLimits::default()).is_ok());
    let success = fixture("1.1/Status_Message-success.xml");

    for (i, (what, raw)) in [
        (
            "Content-Length",
            post("/services/inbox", Dialect::V11, &body),
        ),
        (
            "chunked",
            post_chunked("/services/inbox", Dialect::V11, &body, 10_000),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let r = exchange(gw.port, raw);
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        assert_eq!(r.body, success, "{what}: {}", r.text());
        assert!(fake.wait_finished(i + 1, Duration::from_secs(10)));
        let (head, got) = upstream_body(&fake, i);
        assert!(
            head.starts_with("POST /inbox HTTP/1.1\r\n"),
            "{what}: {head}"
        );
        assert_eq!(got.len(), body.len(), "{what}: {head}");
        assert!(got == body, "{what}: the upstream got other bytes");
    }
}

#[test]
fn a_large_hostile_body_is_refused_before_any_body_byte_leaves() {
    let fake = inbox_upstream();
    let gw = Gateway::start("", &inbox_routes(&fake));
    let good = big_inbox_message(200 * 1024);
    // An undefined entity in the last content block, 200 KB into the body.
    let text = String::from_utf8(good).unwrap();
    let at = text.rfind("</Content>").unwrap();
    let hostile = format!("{}&undefined;{}", &text[..at], &text[at..]).into_bytes();

    let mut connections = 0;
    for (what, raw) in [
        (
            "Content-Length",
            post("/services/inbox", Dialect::V11, &hostile),
        ),
        (
            "chunked",
            post_chunked("/services/inbox", Dialect::V11, &hostile, 16_000),
        ),
    ] {
        let r = exchange(gw.port, raw);
        assert_taxii_answer(
            &r,
            what,
            200,
            Dialect::V11,
            "BAD_MESSAGE",
            Some(BIG_INBOX_ID),
        );
        // The upstream saw the request head, and then the connection closed: not one body
        // byte.
        assert!(
            fake.wait_finished(connections + 1, Duration::from_secs(10)),
            "{what}: no upstream connection, or it stayed open"
        );
        for i in connections..fake.connections() {
            let (head, rest) = fake.received(i);
            let head = String::from_utf8_lossy(&head);
            assert!(
                head.starts_with("POST /inbox HTTP/1.1\r\n"),
                "{what}: {head}"
            );
            assert_eq!(
                rest.len(),
                0,
                "{what}: the upstream received body bytes: {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(300)])
            );
        }
        connections = fake.connections();
    }
    assert_eq!(
        connections, 2,
        "each request opened one upstream connection"
    );

    // The gateway keeps serving.
    let r = exchange(
        gw.port,
        post("/services/inbox", Dialect::V11, &big_inbox_message(100_000)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_body_above_the_routes_limit_is_413() {
    let fake = inbox_upstream();
    let gw = Gateway::start("", &inbox_routes(&fake));
    let body = big_inbox_message(200 * 1024);

    // Announced too large: refused before the upstream is contacted.
    let r = exchange(gw.port, post("/services/inbox-small", Dialect::V11, &body));
    assert_taxii_answer(
        &r,
        "Content-Length",
        413,
        Dialect::V11,
        "BAD_MESSAGE",
        Some("0"),
    );
    let r = exchange(
        gw.port,
        post("/services/inbox-small", Dialect::Draft1, &body),
    );
    assert_draft1_bare(&r, "Draft 1 Content-Length", 413);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(fake.connections(), 0);

    // Chunked, found too large while collected: the upstream has the head, no body byte.
    let r = exchange(
        gw.port,
        post_chunked("/services/inbox-small", Dialect::V11, &body, 8_000),
    );
    assert_taxii_answer(&r, "chunked", 413, Dialect::V11, "BAD_MESSAGE", Some("0"));
    assert!(fake.wait_finished(1, Duration::from_secs(10)));
    let (head, rest) = fake.received(0);
    assert!(head.starts_with(b"POST /inbox-small HTTP/1.1\r\n"));
    assert_eq!(rest.len(), 0, "the upstream received body bytes");

    // Just under the limit passes.
    let fits = big_inbox_message(90_000);
    assert!(fits.len() < 100_000);
    let r = exchange(gw.port, post("/services/inbox-small", Dialect::V11, &fits));
    assert_eq!(r.status, 200, "{}", r.text());
}

// ------------------------------------------------------------------------------------------
// 4. Large poll responses stream through, or are cut
// ------------------------------------------------------------------------------------------

const BIG_RESPONSE_BYTES: usize = 50 * 1000 * 1000;

/// The 50 MB response, made once for the test binary.
fn big_response() -> &'static [u8] {
    static BODY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BODY.get_or_init(|| taxii_gateway::demo::poll_response(Dialect::V11, BIG_RESPONSE_BYTES))
}

/// The same response with an undefined entity in the content of its last block; the offset of
/// that block.
fn big_hostile_response() -> (Vec<u8>, usize) {
    let body = big_response();
    let block = memrfind(body, b"<taxii_11:Content_Block>").unwrap();
    let at = block + memfind(&body[block..], b"</taxii_11:Content>").unwrap();
    let mut out = body[..at].to_vec();
    out.extend_from_slice(b"&undefined;");
    out.extend_from_slice(&body[at..]);
    (out, block)
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn memrfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Serves `body` as a 1.1 poll response in 64 KiB writes (`chunked`: with chunked framing, else
/// with a length). After `pause_after` bytes it waits (at most 10 s) for `go` before going on,
/// and tells `waited` whether the signal came.
fn streaming_upstream(
    body: Vec<u8>,
    chunked: bool,
    pause_after: usize,
    go: mpsc::Receiver<()>,
    waited: mpsc::Sender<bool>,
) -> Fake {
    let state = Mutex::new(Some((go, waited)));
    let body = Arc::new(body);
    Fake::start(move |conn| {
        if conn.read_request().is_none() {
            return;
        }
        let Some((go, waited)) = state.lock().unwrap().take() else {
            return;
        };
        let mut head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n".to_vec();
        for (name, value) in taxii_headers(Dialect::V11) {
            head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if chunked {
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        } else {
            head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        }
        conn.send(&head);
        let mut sent = 0;
        let mut paused = false;
        for piece in body.chunks(64 * 1024) {
            if !paused && sent >= pause_after {
                paused = true;
                let _ = waited.send(go.recv_timeout(Duration::from_secs(10)).is_ok());
            }
            if chunked {
                let mut c = format!("{:x}\r\n", piece.len()).into_bytes();
                c.extend_from_slice(piece);
                c.extend_from_slice(b"\r\n");
                conn.send(&c);
            } else {
                conn.send(piece);
            }
            sent += piece.len();
        }
        if chunked {
            conn.send(b"0\r\n\r\n");
        }
    })
}

#[test]
fn a_large_poll_response_streams_through_intact() {
    let body = big_response().to_vec();
    assert!(body.len() > 45_000_000);
    let (go_tx, go_rx) = mpsc::channel();
    let (waited_tx, waited_rx) = mpsc::channel();
    // The upstream stops after 8 MB until the client has received 2 MB: the gateway streams
    // (it holds at most responses.hold_bytes, 1 MiB by default, plus one content block).
    let fake = streaming_upstream(body, false, 8 << 20, go_rx, waited_tx);
    let routes = format!(
        "[[upstream]]\nname = \"fake\"\nurl = \"{}\"\n\n[[route]]\npath = \"/services/poll\"\nupstream = \"fake\"\n",
        fake.url()
    );
    let gw = Gateway::start("", &routes);
    let (req, _) = poll_request(Dialect::V11);
    let mut go = Some(go_tx);
    let r = exchange_with(gw.port, post("/services/poll", Dialect::V11, &req), |n| {
        if n >= 2 << 20 {
            if let Some(go) = go.take() {
                let _ = go.send(());
            }
        }
    });
    assert_eq!(
        waited_rx.recv_timeout(Duration::from_secs(1)),
        Ok(true),
        "the client did not get 2 MB while the upstream had sent 8 MB"
    );
    assert_eq!(r.status, 200);
    assert!(r.complete, "the chunked answer did not end");
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(r.body.len(), big_response().len());
    assert!(r.body == big_response(), "the body changed on its way");
}

#[test]
fn a_large_poll_response_with_a_hostile_block_is_cut() {
    let (body, block) = big_hostile_response();
    let (go_tx, go_rx) = mpsc::channel();
    let (waited_tx, _waited_rx) = mpsc::channel();
    // No pause: the signal is sent up front.
    go_tx.send(()).unwrap();
    let fake = streaming_upstream(body, true, usize::MAX, go_rx, waited_tx);
    let routes = format!(
        "[[upstream]]\nname = \"fake\"\nurl = \"{}\"\n\n[[route]]\npath = \"/services/poll\"\nupstream = \"fake\"\n",
        fake.url()
    );
    let gw = Gateway::start("", &routes);
    let (req, _) = poll_request(Dialect::V11);
    let r = exchange(gw.port, post("/services/poll", Dialect::V11, &req));
    assert_eq!(r.status, 200);
    // Bytes had left: the gateway cannot replace the answer any more, it cuts it. The client
    // sees an unfinished chunked transfer holding only verified blocks, never the hostile one.
    assert!(!r.complete, "the cut answer looks complete");
    assert!(
        r.body.len() <= block,
        "{} bytes passed, the hostile block starts at {block}",
        r.body.len()
    );
    assert!(r.body == big_response()[..r.body.len()]);
    assert!(
        r.body.len() > 1 << 20,
        "only {} bytes were streamed before the cut",
        r.body.len()
    );
    assert_eq!(memfind(&r.body, b"&undefined;"), None);

    // The gateway keeps serving.
    let r = exchange(gw.port, post("/services/nope", Dialect::V11, &req));
    assert_eq!(r.status, 404);
}

// ------------------------------------------------------------------------------------------
// 5. Graceful shutdown
// ------------------------------------------------------------------------------------------

#[test]
fn sigterm_lets_the_exchange_in_flight_finish() {
    let (arrived_tx, arrived_rx) = mpsc::channel();
    let arrived_tx = Mutex::new(arrived_tx);
    let fake = Fake::start(move |conn| {
        if let Some((head, _)) = conn.read_request() {
            let _ = arrived_tx.lock().unwrap().send(());
            thread::sleep(Duration::from_millis(1500));
            good_answer(conn, &head);
        }
    });
    let routes = format!(
        "[[upstream]]\nname = \"fake\"\nurl = \"{}\"\n\n[[route]]\npath = \"/services/poll\"\nupstream = \"fake\"\n",
        fake.url()
    );
    let mut gw = Gateway::start(
        "grace_period_seconds = 3\ngraceful_shutdown_timeout_seconds = 1",
        &routes,
    );
    let port = gw.port;
    let client = thread::spawn(move || {
        let (req, _) = poll_request(Dialect::V11);
        exchange(port, post("/services/poll", Dialect::V11, &req))
    });
    arrived_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the request reached the upstream");
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    let r = client.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.complete);
    assert_eq!(r.body, poll_response(Dialect::V11));

    // Pingora waits out the grace period (3 s), then stops within the shutdown timeout (1 s).
    let status = gw
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the gateway still runs {:?} after SIGTERM", sent.elapsed()));
    assert!(status.success(), "{status:?}");
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?}",
        sent.elapsed()
    );
}

// ------------------------------------------------------------------------------------------
// 6. `check`
// ------------------------------------------------------------------------------------------

#[test]
fn check_names_file_line_and_key_of_a_broken_configuration() {
    let dir = TempDir::new("check");
    let good = "[[listener]]\naddress = \"127.0.0.1:9080\"\n\n\
                [[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:9000\"\n\n\
                [[route]]\npath = \"/services/poll\"\nupstream = \"up\"\n";
    let check = |name: &str, text: &str| {
        let path = dir.0.join(name);
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_taxii-gateway"))
            .args(["check", "--config"])
            .arg(&path)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        (
            path,
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (_, status, stdout, stderr) = check("good.toml", good);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("valid"), "{stdout}");

    for (name, text, line, key) in [
        (
            "typo.toml",
            good.replace("upstream = \"up\"", "upstream = \"up\"\nmax_body_bytez = 5"),
            11,
            "max_body_bytez",
        ),
        (
            "unknown-upstream.toml",
            good.replace("upstream = \"up\"", "upstream = \"nope\""),
            10,
            "route.upstream",
        ),
        (
            "bad-url.toml",
            good.replace("http://127.0.0.1:9000", "ftp://127.0.0.1"),
            6,
            "upstream.url",
        ),
        (
            "bad-listener.toml",
            good.replace("127.0.0.1:9080", "localhost"),
            2,
            "listener.address",
        ),
    ] {
        let (path, status, stdout, stderr) = check(name, &text);
        assert!(!status.success(), "{name}: {stdout}{stderr}");
        let expected = format!("{}:{line}: {key}: ", path.display());
        assert!(
            stderr.contains(&expected),
            "{name}: expected {expected:?} in {stderr:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// 7. Stale pooled upstream connections
// ------------------------------------------------------------------------------------------

/// An upstream that keeps connections alive after the first answer, then closes each one as
/// soon as a second request arrives on it (a server dropping an idle connection at the moment
/// the gateway reuses it).
fn closing_keepalive_upstream() -> Fake {
    Fake::start(|conn| {
        let Some((head, _)) = conn.read_request() else {
            return;
        };
        let d = dialect_of(&head);
        let keepalive = String::from_utf8(upstream_answer(d, &poll_response(d)))
            .unwrap()
            .replace("Connection: close\r\n", "");
        conn.send(keepalive.as_bytes());
        // The next request on this connection is never answered: the socket closes.
        let _ = conn.read_head();
    })
}

#[test]
fn read_only_requests_are_resent_when_a_pooled_connection_was_closed() {
    let fake = closing_keepalive_upstream();
    let gw = Gateway::start(
        "",
        &format!(
            "[[upstream]]\nname = \"up\"\nurl = \"{}\"\n\n[[route]]\npath = \"/poll\"\nupstream = \"up\"\n\n[[route]]\npath = \"/inbox\"\nupstream = \"up\"\n",
            fake.url()
        ),
    );
    let d = Dialect::V11;
    // Polls only read: every one succeeds, a reused-and-closed connection being replaced.
    for i in 0..4 {
        assert_good(
            gw.port,
            "/poll",
            d,
            &format!("poll {i} on a pooled connection"),
        );
    }
    assert!(
        fake.connections() >= 3,
        "the upstream should have seen reused connections closed and new ones opened"
    );
    // An inbox push changes state upstream: it is never resent, whatever the connection.
    let inbox = fixture("1.1/Inbox_Message.xml");
    let mut failed = 0;
    for _ in 0..4 {
        let r = exchange(gw.port, post("/inbox", d, &inbox));
        if r.status == 502 {
            failed += 1;
        }
    }
    assert!(
        failed > 0,
        "a push on a reused, closed connection must not be resent"
    );
}

// ------------------------------------------------------------------------------------------
// 8. What the upstream learns about the exchange
// ------------------------------------------------------------------------------------------

#[test]
fn the_upstream_gets_the_route_path_host_request_id_and_client_address() {
    let fake = inbox_upstream();
    let gw = Gateway::start("", &inbox_routes(&fake));
    let body = fixture("1.1/Inbox_Message.xml");
    let r = exchange(gw.port, post("/services/inbox", Dialect::V11, &body));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(fake.wait_finished(1, Duration::from_secs(10)));
    let (head, got) = upstream_body(&fake, 0);
    let lower = head.to_ascii_lowercase();
    assert!(head.starts_with("POST /inbox HTTP/1.1\r\n"), "{head}");
    assert!(
        lower.contains(&format!("host: 127.0.0.1:{}\r\n", fake.port)),
        "{head}"
    );
    assert!(lower.contains("x-forwarded-for: 127.0.0.1\r\n"), "{head}");
    assert!(
        lower.contains("forwarded: for=127.0.0.1;proto=http\r\n"),
        "{head}"
    );
    // The same request id the client saw.
    let id = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
        .map(|(_, v)| v.clone())
        .expect("the answer names its request id");
    assert!(lower.contains(&format!("x-request-id: {id}\r\n")), "{head}");
    assert_eq!(got, body, "the same bytes");
}

#[test]
fn the_upstream_gets_the_gateways_credentials_never_the_clients() {
    let fake = inbox_upstream();
    let dir = TempDir::new("cred");
    let pass = dir.0.join("upstream.pass");
    std::fs::write(&pass, "gw-secret\n").unwrap();
    let routes = inbox_routes(&fake).replacen(
        &format!("url = \"{}\"", fake.url()),
        &format!(
            "url = \"{}\"\ncredentials = {{ basic_user = \"gateway\", basic_password_file = \"{}\" }}",
            fake.url(),
            pass.display()
        ),
        1,
    );
    let gw = Gateway::start("", &routes);
    let body = fixture("1.1/Inbox_Message.xml");
    let mut raw = post("/services/inbox", Dialect::V11, &body);
    // The client's own credentials and a forged identity header.
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 2;
    raw.splice(
        at..at,
        b"Authorization: Basic Y2xpZW50OnNlY3JldA==\r\nX-TAXII-Partner: admin\r\n"
            .iter()
            .copied(),
    );
    let r = exchange(gw.port, raw);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(fake.wait_finished(1, Duration::from_secs(10)));
    let (head, _) = upstream_body(&fake, 0);
    let lower = head.to_ascii_lowercase();
    // base64("gateway:gw-secret")
    assert!(
        lower.contains("authorization: basic z2f0zxdhetpndy1zzwnyzxq=\r\n"),
        "{head}"
    );
    assert!(!lower.contains("y2xpzw50onnly3jlda=="), "{head}");
    assert_eq!(lower.matches("authorization:").count(), 1, "{head}");
    assert!(
        !lower.contains("x-taxii-partner"),
        "no policy files: no identity header\n{head}"
    );
}
