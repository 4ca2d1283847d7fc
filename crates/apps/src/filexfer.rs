//! A small file download protocol with integrity check and resume.
//!
//! ```text
//! client → server   frame: "GET <offset> <name>"      (UTF-8)
//! server → client   frame: "OK <size> <sha256-hex>"   then size-offset raw bytes
//!               or  frame: "ERR <code> <message>"     (code: not-found,
//!                                                      forbidden, bad-request, io)
//! ```
//!
//! `size` and `sha256` describe the whole file; the body starts at
//! `offset`, so a client resumes an interrupted download by asking for the
//! bytes it lacks and checks the hash over its whole local copy. Several
//! requests may follow one another on one connection.
//!
//! The server only serves regular files under its directory: absolute
//! names, `..` components and symlinks that lead outside are refused with
//! a `forbidden` error that says why; a missing file is `not-found` (the
//! client then creates no file at all).
use crate::framing::{expect_frame, read_frame, write_frame};
use crate::server::Handler;
use crate::transport::Connection;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

/// Largest request or header frame.
const MAX_CONTROL_FRAME: usize = 8 * 1024;
/// Copy buffer size.
const CHUNK: usize = 64 * 1024;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// SHA-256 of everything `r` yields, as hex.
pub fn sha256_hex<R: Read>(mut r: R) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Error classes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No such file.
    NotFound,
    /// Outside the served directory.
    Forbidden,
    /// Malformed request, not a regular file, offset beyond the end.
    BadRequest,
    /// The server could not read the file.
    Io,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not-found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::Io => "io",
        }
    }

    fn parse(s: &str) -> ErrorCode {
        match s {
            "not-found" => ErrorCode::NotFound,
            "forbidden" => ErrorCode::Forbidden,
            "bad-request" => ErrorCode::BadRequest,
            _ => ErrorCode::Io,
        }
    }

    fn kind(self) -> io::ErrorKind {
        match self {
            ErrorCode::NotFound => io::ErrorKind::NotFound,
            ErrorCode::Forbidden => io::ErrorKind::PermissionDenied,
            ErrorCode::BadRequest => io::ErrorKind::InvalidInput,
            ErrorCode::Io => io::ErrorKind::Other,
        }
    }
}

/// A refusal the server sends to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// Maps a client-supplied `name` to a regular file under `root` (which
/// must be canonical), refusing anything that would leave `root`.
pub fn resolve_under(root: &Path, name: &str) -> Result<PathBuf, Refusal> {
    if name.is_empty() {
        return Err(Refusal::new(ErrorCode::BadRequest, "empty file name"));
    }
    if name.contains('\0') {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            "file name contains a NUL byte",
        ));
    }
    let p = Path::new(name);
    if p.is_absolute() || name.starts_with('/') {
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            format!("absolute paths are not allowed: {name}"),
        ));
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(Refusal::new(
                    ErrorCode::Forbidden,
                    format!("path traversal ('..') is not allowed: {name}"),
                ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Refusal::new(
                    ErrorCode::Forbidden,
                    format!("absolute paths are not allowed: {name}"),
                ))
            }
        }
    }
    let full = root.join(p);
    let canon = match fs::canonicalize(&full) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Refusal::new(
                ErrorCode::NotFound,
                format!("no such file: {name}"),
            ))
        }
        Err(e) => {
            return Err(Refusal::new(
                ErrorCode::Io,
                format!("cannot open {name}: {e}"),
            ))
        }
    };
    if !canon.starts_with(root) {
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            format!("{name} leads outside the served directory (symlink)"),
        ));
    }
    Ok(canon)
}

/// Serves files from one directory. A [`Handler`]; also usable directly
/// through [`FileServer::serve`].
#[derive(Debug, Clone)]
pub struct FileServer {
    root: PathBuf,
}

impl FileServer {
    /// Serves the files under `dir` (which must exist).
    pub fn new(dir: impl AsRef<Path>) -> io::Result<FileServer> {
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
        Ok(FileServer { root })
    }

    /// The served directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answers requests on `stream` until the client closes it.
    pub fn serve<S: Read + Write + ?Sized>(
        &self,
        stream: &mut S,
        peer: SocketAddr,
    ) -> io::Result<()> {
        while let Some(req) = read_frame(stream, MAX_CONTROL_FRAME)? {
            match self.prepare(&req) {
                Ok((file, offset, size, sha)) => {
                    tracing::info!(
                        "file: sending {} to {peer} from offset {offset}",
                        self.display(&req)
                    );
                    write_frame(stream, format!("OK {size} {sha}").as_bytes())?;
                    send_body(file, offset, size, stream)?;
                }
                Err(r) => {
                    tracing::warn!("file: refusing request from {peer}: {}", r.message);
                    write_frame(
                        stream,
                        format!("ERR {} {}", r.code.as_str(), r.message).as_bytes(),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn display(&self, req: &[u8]) -> String {
        String::from_utf8_lossy(req)
            .split_once(' ')
            .and_then(|(_, rest)| rest.split_once(' '))
            .map(|(_, name)| name.to_string())
            .unwrap_or_default()
    }

    /// Parses a request and opens the file: (file, offset, size, sha256).
    fn prepare(&self, req: &[u8]) -> Result<(File, u64, u64, String), Refusal> {
        let text = std::str::from_utf8(req)
            .map_err(|_| Refusal::new(ErrorCode::BadRequest, "request is not UTF-8"))?;
        let mut parts = text.splitn(3, ' ');
        let (verb, offset, name) = (parts.next(), parts.next(), parts.next());
        let (Some("GET"), Some(offset), Some(name)) = (verb, offset, name) else {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                "malformed request (expected 'GET <offset> <name>')",
            ));
        };
        let offset: u64 = offset.parse().map_err(|_| {
            Refusal::new(ErrorCode::BadRequest, format!("invalid offset '{offset}'"))
        })?;
        let path = resolve_under(&self.root, name)?;
        let io_err = |e: io::Error| Refusal::new(ErrorCode::Io, format!("cannot read {name}: {e}"));
        let file = File::open(&path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("not a regular file: {name}"),
            ));
        }
        let size = meta.len();
        if offset > size {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("offset {offset} is beyond the end of {name} ({size} bytes)"),
            ));
        }
        let sha = sha256_hex(BufReader::new(&file)).map_err(io_err)?;
        Ok((file, offset, size, sha))
    }
}

/// Sends bytes `offset..size` of `file`; errors if the file shrank.
fn send_body<W: Write + ?Sized>(
    mut file: File,
    offset: u64,
    size: u64,
    out: &mut W,
) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let want = size - offset;
    let n = copy_n(&mut file, out, want, &mut |_| {})?;
    if n < want {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("file shrank while being sent ({n} of {want} bytes)"),
        ));
    }
    Ok(())
}

/// Copies up to `n` bytes; returns how many before EOF. `tick` sees each
/// chunk.
fn copy_n<R: Read + ?Sized, W: Write + ?Sized>(
    r: &mut R,
    w: &mut W,
    n: u64,
    tick: &mut dyn FnMut(&[u8]),
) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < n {
        let want = (n - done).min(CHUNK as u64) as usize;
        let got = match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..got])?;
        tick(&buf[..got]);
        done += got as u64;
    }
    Ok(done)
}

impl<S: Connection> Handler<S> for FileServer {
    fn handle(&self, mut stream: S, peer: SocketAddr) -> io::Result<()> {
        self.serve(&mut stream, peer)
    }
}

/// How the client shows progress.
#[derive(Default)]
pub enum Progress {
    /// Nothing.
    #[default]
    None,
    /// An `indicatif` progress bar on stderr.
    Bar,
    /// A callback with (bytes of the file present so far, file size).
    Callback(Box<dyn FnMut(u64, u64) + Send>),
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Progress::None => "None",
            Progress::Bar => "Bar",
            Progress::Callback(_) => "Callback",
        })
    }
}

/// What the server announced for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Whole file size.
    pub size: u64,
    /// SHA-256 of the whole file, hex.
    pub sha256: String,
}

/// The outcome of a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadReport {
    /// Bytes received and written by this call.
    pub bytes_written: u64,
    /// Where this call started (bytes already present locally).
    pub offset: u64,
    /// Whole file size.
    pub size: u64,
    /// Verified SHA-256 of the whole file, hex.
    pub sha256: String,
}

/// Sends a request for `name` from `offset` and reads the header.
/// Server refusals become errors carrying the server's message
/// (`NotFound`, `PermissionDenied`, `InvalidInput`, `Other`).
pub fn request<S: Read + Write + ?Sized>(
    stream: &mut S,
    name: &str,
    offset: u64,
) -> io::Result<FileInfo> {
    if name.contains('\n') || name.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid file name {name:?}"),
        ));
    }
    write_frame(stream, format!("GET {offset} {name}").as_bytes())?;
    let hdr = expect_frame(stream, MAX_CONTROL_FRAME)?;
    let text = String::from_utf8_lossy(&hdr);
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed response header: {text:?}"),
        )
    };
    if let Some(rest) = text.strip_prefix("ERR ") {
        let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
        let code = ErrorCode::parse(code);
        return Err(io::Error::new(
            code.kind(),
            format!("server refused: {msg}"),
        ));
    }
    let rest = text.strip_prefix("OK ").ok_or_else(bad)?;
    let (size, sha) = rest.split_once(' ').ok_or_else(bad)?;
    let size: u64 = size.parse().map_err(|_| bad())?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    if offset > size {
        return Err(bad());
    }
    Ok(FileInfo {
        size,
        sha256: sha.to_ascii_lowercase(),
    })
}

struct Ticker {
    progress: Progress,
    bar: Option<ProgressBar>,
}

impl Ticker {
    fn new(progress: Progress, offset: u64, size: u64, name: &str) -> Ticker {
        let bar = matches!(progress, Progress::Bar).then(|| {
            let bar = ProgressBar::new(size);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(name.to_string());
            bar.set_position(offset);
            bar
        });
        Ticker { progress, bar }
    }

    fn tick(&mut self, pos: u64, size: u64) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
        }
        if let Progress::Callback(f) = &mut self.progress {
            f(pos, size);
        }
    }

    fn finish(&self, ok: bool) {
        if let Some(b) = &self.bar {
            if ok {
                b.finish();
            } else {
                b.abandon();
            }
        }
    }
}

/// Receives the body after a header into `out`, hashing it into `hasher`.
#[allow(clippy::too_many_arguments)]
fn receive_body<S: Read + ?Sized, W: Write + ?Sized>(
    stream: &mut S,
    out: &mut W,
    info: &FileInfo,
    offset: u64,
    mut hasher: Sha256,
    progress: Progress,
    name: &str,
) -> io::Result<DownloadReport> {
    let mut ticker = Ticker::new(progress, offset, info.size, name);
    let want = info.size - offset;
    let mut pos = offset;
    let size = info.size;
    let n = copy_n(stream, out, want, &mut |chunk| {
        hasher.update(chunk);
        pos += chunk.len() as u64;
        ticker.tick(pos, size);
    });
    let n = match n {
        Ok(n) => n,
        Err(e) => {
            ticker.finish(false);
            return Err(e);
        }
    };
    out.flush()?;
    if n < want {
        ticker.finish(false);
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "connection closed after {} of {} bytes of {name} (resume to fetch the rest)",
                offset + n,
                info.size
            ),
        ));
    }
    let got = hex(&hasher.finalize());
    if got != info.sha256 {
        ticker.finish(false);
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "sha256 mismatch for {name}: the server announced {}, the received file has {got}",
                info.sha256
            ),
        ));
    }
    ticker.finish(true);
    Ok(DownloadReport {
        bytes_written: n,
        offset,
        size: info.size,
        sha256: got,
    })
}

/// Downloads `name` into `out` from the start and verifies its SHA-256.
pub fn download_to<S: Read + Write + ?Sized, W: Write + ?Sized>(
    stream: &mut S,
    name: &str,
    out: &mut W,
    progress: Progress,
) -> io::Result<DownloadReport> {
    let info = request(stream, name, 0)?;
    receive_body(stream, out, &info, 0, Sha256::new(), progress, name)
}

/// Downloads `name` into the file `dest` and verifies its SHA-256.
///
/// With `resume`, an existing `dest` is kept and only the missing tail is
/// fetched (the hash still covers the whole file); otherwise `dest` is
/// replaced. `dest` is created only once the server has accepted the
/// request, so a refused download leaves no empty file behind.
pub fn download<S: Read + Write + ?Sized>(
    stream: &mut S,
    name: &str,
    dest: &Path,
    resume: bool,
    progress: Progress,
) -> io::Result<DownloadReport> {
    let offset = if resume {
        match fs::metadata(dest) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        }
    } else {
        0
    };
    let info = request(stream, name, offset)?;
    let mut hasher = Sha256::new();
    let mut file = if offset > 0 {
        let mut f = OpenOptions::new().read(true).write(true).open(dest)?;
        let mut prefix = (&mut f).take(offset);
        io::copy(&mut prefix, &mut hasher)?;
        f.seek(SeekFrom::Start(offset))?;
        f
    } else {
        File::create(dest)?
    };
    let report = receive_body(stream, &mut file, &info, offset, hasher, progress, name)?;
    file.sync_all()?;
    Ok(report)
}
