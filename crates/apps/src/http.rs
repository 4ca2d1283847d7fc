//! A tiny HTTP/1.1 static file server ([`HttpServer`], a [`Handler`]) and
//! a minimal GET client ([`http_get`]).
//!
//! Server: GET and HEAD; files from one directory, `index.html` for a
//! directory (a directory URL without the trailing slash is redirected,
//! 301, as Python's `http.server` does); 400 for malformed requests, 404,
//! 403 for paths that would leave the directory (`..` segments, symlinks
//! leading outside), 405 (with `Allow`) for other methods, 505 for HTTP
//! versions other than 1.0/1.1. Keep-alive is the HTTP/1.1 default and
//! `Connection: close` is honoured (HTTP/1.0 closes unless it asks for
//! `keep-alive`). Every response carries a correct `Content-Length`; files
//! are streamed in 64 KiB pieces, never loaded whole. Idle keep-alive
//! connections are closed after [`HttpServer::idle_timeout`].
//!
//! Client: sends one request and reads the response, with bodies framed by
//! `Content-Length`, `Transfer-Encoding: chunked`, or the end of the
//! connection.
use crate::server::Handler;
use crate::transport::{is_timeout, Connection};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest request line or header line the server accepts.
const MAX_LINE: usize = 8 * 1024;
/// Most header lines in a request.
const MAX_HEADERS: usize = 100;
/// Largest request body the server reads (and discards).
const MAX_REQUEST_BODY: u64 = 1 << 20;
/// Longest status/header line the client accepts.
const CLIENT_MAX_LINE: usize = 64 * 1024;
/// Copy buffer.
const CHUNK: usize = 64 * 1024;

const SERVER: &str = concat!("ustack-apps/", env!("CARGO_PKG_VERSION"));

/// A request head.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the connection stays open after this request.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|x| x.trim() == t);
        if self.minor >= 1 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why a request could not be read.
#[derive(Debug)]
enum ReqError {
    /// Answer with this status and close.
    Status(u16, String),
    /// Connection-level failure (or idle timeout).
    Io(io::Error),
}

impl From<io::Error> for ReqError {
    fn from(e: io::Error) -> Self {
        ReqError::Io(e)
    }
}

/// Reads one line (without CR LF) of at most `max` bytes; `None` on EOF
/// before any byte.
fn read_line<R: BufRead + ?Sized>(
    r: &mut R,
    max: usize,
) -> io::Result<Option<Result<String, usize>>> {
    let mut line = Vec::new();
    let n = r.take(max as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        if n > max {
            return Ok(Some(Err(n)));
        }
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in the middle of a line",
        ));
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    Ok(Some(Ok(String::from_utf8_lossy(&line).into_owned())))
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Reads a request head; `Ok(None)` when the client closed between
/// requests.
fn read_request<R: BufRead + ?Sized>(r: &mut R) -> Result<Option<Request>, ReqError> {
    // Tolerate a few empty lines before the request line (RFC 9112 2.2).
    let mut line = String::new();
    for _ in 0..4 {
        match read_line(r, MAX_LINE)? {
            None => return Ok(None),
            Some(Err(_)) => return Err(ReqError::Status(414, "request line too long".into())),
            Some(Ok(l)) => line = l,
        }
        if !line.is_empty() {
            break;
        }
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts.as_slice() else {
        return Err(ReqError::Status(
            400,
            format!("malformed request line: {line:?}"),
        ));
    };
    if !is_token(method) || target.is_empty() {
        return Err(ReqError::Status(
            400,
            format!("malformed request line: {line:?}"),
        ));
    }
    let minor = match *version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        v if v.starts_with("HTTP/") && v.len() > 5 => {
            return Err(ReqError::Status(505, format!("unsupported version {v}")))
        }
        _ => {
            return Err(ReqError::Status(
                400,
                format!("malformed request line: {line:?}"),
            ))
        }
    };
    let mut headers = Vec::new();
    loop {
        let l = match read_line(r, MAX_LINE)? {
            None => {
                return Err(ReqError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside the request head",
                )))
            }
            Some(Err(_)) => return Err(ReqError::Status(431, "header line too long".into())),
            Some(Ok(l)) => l,
        };
        if l.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ReqError::Status(431, "too many header lines".into()));
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(ReqError::Status(
                400,
                format!("malformed header line: {l:?}"),
            ));
        };
        if !is_token(k) {
            return Err(ReqError::Status(
                400,
                format!("malformed header name: {k:?}"),
            ));
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        minor,
        headers,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 IMF-fixdate).
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WD[days.rem_euclid(7) as usize],
        d,
        MO[(mo - 1) as usize],
        y,
        h,
        m,
        s
    )
}

/// Content-Type by file extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" | "rs" | "toml" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hexval = |c: u8| (c as char).to_digit(16);
            let hi = hexval(*b.get(i + 1)?)?;
            let lo = hexval(*b.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// What a target resolves to.
#[derive(Debug)]
enum Target {
    File(PathBuf),
    Redirect(String),
    Error(u16, String),
}

/// The static file server. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct HttpServer {
    root: PathBuf,
    idle_timeout: Duration,
}

impl HttpServer {
    /// Serves the files under `dir` (which must exist).
    pub fn new(dir: impl AsRef<Path>) -> io::Result<HttpServer> {
        let dir = dir.as_ref();
        let root = fs::canonicalize(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot serve directory {}: {e}", dir.display()),
            )
        })?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(HttpServer {
            root,
            idle_timeout: Duration::from_secs(30),
        })
    }

    /// How long an idle keep-alive connection stays open (default 30 s).
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = t;
        self
    }

    /// The served directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a request target to a file under the root.
    fn resolve(&self, target: &str) -> Target {
        let mut t = target;
        // Absolute form: http://host[:port]/path
        if let Some(rest) = t
            .strip_prefix("http://")
            .or_else(|| t.strip_prefix("https://"))
        {
            t = rest.find('/').map_or("/", |i| &rest[i..]);
        }
        if !t.starts_with('/') {
            return Target::Error(400, format!("invalid request target {target:?}"));
        }
        let (path, query) = match t.find(['?', '#']) {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let Some(bytes) = percent_decode(path) else {
            return Target::Error(400, format!("invalid percent-encoding in {path:?}"));
        };
        let Ok(decoded) = String::from_utf8(bytes) else {
            return Target::Error(400, "the path is not UTF-8".into());
        };
        if decoded.contains('\0') {
            return Target::Error(400, "the path contains a NUL byte".into());
        }
        let mut rel = PathBuf::new();
        for seg in decoded.split('/') {
            match seg {
                "" | "." => {}
                ".." => return Target::Error(403, "path traversal ('..') is not allowed".into()),
                s => rel.push(s),
            }
        }
        let full = self.root.join(&rel);
        let canon = match fs::canonicalize(&full) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Target::Error(404, format!("{decoded} not found"))
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Target::Error(403, format!("{decoded}: permission denied"))
            }
            // ENOTDIR (a file used as a directory) and the like.
            Err(_) => return Target::Error(404, format!("{decoded} not found")),
        };
        if !canon.starts_with(&self.root) {
            return Target::Error(403, format!("{decoded} leads outside the served directory"));
        }
        if canon.is_dir() {
            if !path.ends_with('/') {
                return Target::Redirect(format!("{path}/{query}"));
            }
            let index = canon.join("index.html");
            return match fs::canonicalize(&index) {
                Ok(i) if i.starts_with(&self.root) && i.is_file() => Target::File(i),
                Ok(i) if !i.starts_with(&self.root) => Target::Error(
                    403,
                    format!("{decoded}index.html leads outside the served directory"),
                ),
                _ => Target::Error(404, format!("{decoded} has no index.html")),
            };
        }
        if !canon.is_file() {
            return Target::Error(403, format!("{decoded} is not a regular file"));
        }
        Target::File(canon)
    }

    /// Serves requests on one connection until it closes (or idles out).
    pub fn serve_connection<S: Connection>(&self, stream: S, peer: SocketAddr) -> io::Result<()> {
        stream.set_read_timeout(Some(self.idle_timeout))?;
        let _ = stream.set_nodelay(true);
        let mut reader = BufReader::with_capacity(16 * 1024, stream);
        loop {
            let req = match read_request(&mut reader) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(ReqError::Status(code, msg)) => {
                    tracing::info!("http: {peer}: {code} {msg}");
                    let w = reader.get_mut();
                    error_response(w, code, &msg, true, true, &[])?;
                    break;
                }
                Err(ReqError::Io(e)) if is_timeout(&e) => {
                    tracing::debug!("http: {peer}: idle keep-alive connection closed");
                    break;
                }
                Err(ReqError::Io(e)) => return Err(e),
            };
            let mut close = !req.keep_alive();
            // Request bodies: read and discard what Content-Length announces.
            if req.header("transfer-encoding").is_some() {
                let w = reader.get_mut();
                error_response(
                    w,
                    501,
                    "request bodies with Transfer-Encoding are not supported",
                    req.method != "HEAD",
                    true,
                    &[],
                )?;
                break;
            }
            if let Some(cl) = req.header("content-length") {
                let Ok(n) = cl.parse::<u64>() else {
                    let w = reader.get_mut();
                    error_response(w, 400, "invalid Content-Length", true, true, &[])?;
                    break;
                };
                if n > MAX_REQUEST_BODY {
                    let w = reader.get_mut();
                    error_response(w, 413, "request body too large", true, true, &[])?;
                    break;
                }
                let got = io::copy(&mut (&mut reader).take(n), &mut io::sink())?;
                if got < n {
                    break;
                }
            }
            let head = req.method == "HEAD";
            let status = if req.method != "GET" && !head {
                let w = reader.get_mut();
                error_response(
                    w,
                    405,
                    &format!("method {} not allowed", req.method),
                    true,
                    close,
                    &[("Allow", "GET, HEAD".into())],
                )?;
                405
            } else {
                match self.resolve(&req.target) {
                    Target::File(path) => {
                        match send_file(reader.get_mut(), &path, head, close, req.minor) {
                            Ok(s) => s,
                            Err(e) => {
                                // Mid-body failure: the framing is broken.
                                tracing::warn!("http: {peer}: sending {}: {e}", path.display());
                                return Err(e);
                            }
                        }
                    }
                    Target::Redirect(loc) => {
                        let w = reader.get_mut();
                        error_response(
                            w,
                            301,
                            &format!("moved to {loc}"),
                            !head,
                            close,
                            &[("Location", loc)],
                        )?;
                        301
                    }
                    Target::Error(code, msg) => {
                        let w = reader.get_mut();
                        error_response(w, code, &msg, !head, close, &[])?;
                        if code == 400 {
                            close = true;
                        }
                        code
                    }
                }
            };
            tracing::info!(
                "http: {peer} \"{} {} HTTP/1.{}\" {status}",
                req.method,
                req.target,
                req.minor
            );
            if close {
                break;
            }
        }
        let _ = reader.get_mut().shutdown(std::net::Shutdown::Write);
        Ok(())
    }
}

impl<S: Connection> Handler<S> for HttpServer {
    fn handle(&self, stream: S, peer: SocketAddr) -> io::Result<()> {
        self.serve_connection(stream, peer)
    }
}

fn head_lines(status: u16, close: bool, len: u64, ctype: &str, extra: &[(&str, String)]) -> String {
    let mut h = format!(
        "HTTP/1.1 {status} {}\r\nServer: {SERVER}\r\nDate: {}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\n",
        reason(status),
        http_date(SystemTime::now())
    );
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    if close {
        h.push_str("Connection: close\r\n");
    }
    h.push_str("\r\n");
    h
}

/// A small text response (errors, redirects).
fn error_response<W: Write + ?Sized>(
    w: &mut W,
    status: u16,
    msg: &str,
    body: bool,
    close: bool,
    extra: &[(&str, String)],
) -> io::Result<()> {
    let text = format!("{status} {}: {msg}\n", reason(status));
    let mut out = head_lines(
        status,
        close,
        text.len() as u64,
        "text/plain; charset=utf-8",
        extra,
    )
    .into_bytes();
    if body {
        out.extend_from_slice(text.as_bytes());
    }
    w.write_all(&out)?;
    w.flush()
}

/// Sends a file (headers, then the body streamed); returns the status.
fn send_file<W: Write + ?Sized>(
    w: &mut W,
    path: &Path,
    head: bool,
    close: bool,
    minor: u8,
) -> io::Result<u16> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let code = if e.kind() == io::ErrorKind::PermissionDenied {
                403
            } else {
                500
            };
            error_response(w, code, "cannot open the file", !head, close, &[])?;
            return Ok(code);
        }
    };
    let len = file.metadata()?.len();
    let mut extra = Vec::new();
    if let Ok(m) = file.metadata().and_then(|m| m.modified()) {
        extra.push(("Last-Modified", http_date(m)));
    }
    if !close && minor == 0 {
        extra.push(("Connection", "keep-alive".into()));
    }
    let mut bw = BufWriter::with_capacity(CHUNK, w);
    bw.write_all(head_lines(200, close, len, content_type(path), &extra).as_bytes())?;
    if !head {
        let mut taken = file.take(len);
        let mut buf = vec![0u8; CHUNK];
        let mut sent = 0u64;
        loop {
            let n = match taken.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            bw.write_all(&buf[..n])?;
            sent += n as u64;
        }
        if sent < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("file shrank while being sent ({sent} of {len} bytes)"),
            ));
        }
    }
    bw.flush()?;
    Ok(200)
}

// ---------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------

/// A response head, as read by [`read_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub headers: Vec<(String, String)>,
    /// Body bytes written to the output.
    pub body_len: u64,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the server keeps the connection open.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|x| x.trim() == t);
        if self.minor >= 1 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn client_line<R: BufRead + ?Sized>(r: &mut R) -> io::Result<String> {
    match read_line(r, CLIENT_MAX_LINE)? {
        None => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the response was complete",
        )),
        Some(Err(n)) => Err(invalid(format!("response line longer than {n} bytes"))),
        Some(Ok(l)) => Ok(l),
    }
}

/// Writes a request (no body). `close` adds `Connection: close`.
pub fn write_request<W: Write + ?Sized>(
    w: &mut W,
    method: &str,
    host: &str,
    path: &str,
    close: bool,
) -> io::Result<()> {
    if !is_token(method) || path.contains([' ', '\r', '\n']) || host.contains([' ', '\r', '\n']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid method, host or path",
        ));
    }
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {SERVER}\r\nAccept: */*\r\n"
    );
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    w.write_all(req.as_bytes())?;
    w.flush()
}

/// Copies exactly `n` bytes; UnexpectedEof (saying how far it got) if the
/// stream ends first.
fn copy_exact<R: Read + ?Sized, W: Write + ?Sized>(
    r: &mut R,
    w: &mut W,
    n: u64,
    what: &str,
) -> io::Result<u64> {
    let got = io::copy(&mut r.take(n), w)?;
    if got < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{what} truncated: got {got} of {n} bytes"),
        ));
    }
    Ok(got)
}

fn read_chunked<R: BufRead + ?Sized, W: Write + ?Sized>(r: &mut R, out: &mut W) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let line = client_line(r)?;
        let size_str = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_str, 16)
            .map_err(|_| invalid(format!("invalid chunk size line {line:?}")))?;
        if size == 0 {
            // Trailers until the empty line.
            while !client_line(r)?.is_empty() {}
            return Ok(total);
        }
        total += copy_exact(r, out, size, "chunk")?;
        if !client_line(r)?.is_empty() {
            return Err(invalid("missing CRLF after a chunk".into()));
        }
    }
}

/// Reads a response; its body goes to `out`. `head` means the request was
/// HEAD (no body follows whatever the headers say). Interim 1xx responses
/// are skipped.
pub fn read_response<R: BufRead + ?Sized, W: Write + ?Sized>(
    r: &mut R,
    head: bool,
    out: &mut W,
) -> io::Result<Response> {
    loop {
        let status_line = client_line(r)?;
        let mut it = status_line.splitn(3, ' ');
        let version = it.next().unwrap_or("");
        let minor = match version {
            "HTTP/1.1" => 1,
            "HTTP/1.0" => 0,
            _ => {
                return Err(invalid(format!(
                    "not an HTTP/1.x response: {status_line:?}"
                )))
            }
        };
        let status: u16 = it
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| invalid(format!("invalid status line {status_line:?}")))?;
        let reason = it.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let l = client_line(r)?;
            if l.is_empty() {
                break;
            }
            if headers.len() >= 200 {
                return Err(invalid("too many response headers".into()));
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| invalid(format!("malformed header line {l:?}")))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        if (100..200).contains(&status) {
            continue;
        }
        let mut resp = Response {
            status,
            reason,
            minor,
            headers,
            body_len: 0,
        };
        if head || status == 204 || status == 304 {
            return Ok(resp);
        }
        let chunked = resp.header("transfer-encoding").is_some_and(|te| {
            te.to_ascii_lowercase()
                .split(',')
                .any(|c| c.trim() == "chunked")
        });
        resp.body_len = if chunked {
            read_chunked(r, out)?
        } else if let Some(cl) = resp.header("content-length") {
            let n: u64 = cl
                .trim()
                .parse()
                .map_err(|_| invalid(format!("invalid Content-Length {cl:?}")))?;
            copy_exact(r, out, n, "response body")?
        } else {
            io::copy(r, out)?
        };
        out.flush()?;
        return Ok(resp);
    }
}

/// Sends `GET path` with `Host: host` (and `Connection: close`) on
/// `stream`, writes the response body to `out` and returns the status.
pub fn http_get<S: Read + Write, W: Write + ?Sized>(
    stream: S,
    host: &str,
    path: &str,
    out: &mut W,
) -> io::Result<u16> {
    let mut r = BufReader::with_capacity(CHUNK, stream);
    write_request(r.get_mut(), "GET", host, path, true)?;
    Ok(read_response(&mut r, false, out)?.status)
}

/// The parts of an `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host as written (an IP address for ustack, which has no DNS).
    pub host: String,
    pub port: u16,
    /// Path with query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Parses `http://host[:port][/path]` (no https, no user info).
pub fn parse_url(url: &str) -> Result<HttpUrl, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("unsupported URL {url:?}: only http://HOST[:PORT]/PATH is supported")
    })?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("invalid host in URL {url:?}"));
    }
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let (h, p) = h
            .split_once(']')
            .ok_or_else(|| format!("invalid host in URL {url:?}"))?;
        (h.to_string(), p.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("invalid port in URL {url:?}"))?,
        None => 80,
    };
    Ok(HttpUrl {
        host,
        port,
        path: path.replace(' ', "%20"),
    })
}
