//! The tiny HTTP/1.1 server and client: GET, HEAD, 404, keep-alive,
//! Content-Length, a 5 MB file, error statuses, traversal; the client's
//! chunked decoding; over ustack and std::net.
mod common;
use common::Net;
use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;
use ustack_apps::filexfer::sha256_hex;
use ustack_apps::http::{http_get, parse_url, read_response, write_request, HttpServer, Response};
use ustack_apps::server::RunningServer;
use ustack_apps::transport::{Connection, Listener};
use ustack_apps::ThreadedServer;

const FIVE_MB: usize = 5 * 1024 * 1024 + 123;

struct Site {
    _tmp: tempfile::TempDir,
    big: Vec<u8>,
    srv: RunningServer,
    addr: SocketAddr,
}

fn site<N: Net>(net: &N) -> Site {
    common::init_log();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("www");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(root.join("noindex")).unwrap();
    fs::write(root.join("index.html"), b"<h1>home</h1>\n").unwrap();
    fs::write(root.join("hello.txt"), b"hello, world\n").unwrap();
    fs::write(root.join("sub/index.html"), b"<p>sub</p>\n").unwrap();
    fs::write(root.join("with space.txt"), b"spaced\n").unwrap();
    let big = common::pattern(FIVE_MB, 5);
    fs::write(root.join("big.bin"), &big).unwrap();
    fs::write(tmp.path().join("secret.txt"), b"top secret").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("escape.txt")).unwrap();
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let srv = ThreadedServer::new(l, HttpServer::new(&root).unwrap())
        .name("http-test")
        .spawn()
        .unwrap();
    Site {
        _tmp: tmp,
        big,
        srv,
        addr,
    }
}

/// A client connection with a buffered reader.
fn client<N: Net>(net: &N, addr: SocketAddr) -> BufReader<<N::L as Listener>::Stream> {
    let s = net.connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

fn get<S: Read + Write>(
    r: &mut BufReader<S>,
    method: &str,
    path: &str,
    close: bool,
) -> (Response, Vec<u8>) {
    write_request(r.get_mut(), method, "test", path, close).unwrap();
    let mut body = Vec::new();
    let resp = read_response(r, method == "HEAD", &mut body).unwrap();
    (resp, body)
}

fn raw<S: Read + Write>(r: &mut BufReader<S>, request: &str) -> (Response, Vec<u8>) {
    r.get_mut().write_all(request.as_bytes()).unwrap();
    let mut body = Vec::new();
    let resp = read_response(r, false, &mut body).unwrap();
    (resp, body)
}

fn at_eof<S: Read>(r: &mut BufReader<S>) -> bool {
    let mut rest = Vec::new();
    matches!(r.read_to_end(&mut rest), Ok(0))
}

fn get_and_head<N: Net>(net: &N) {
    let s = site(net);
    let mut c = client(net, s.addr);
    let (resp, body) = get(&mut c, "GET", "/hello.txt", false);
    assert_eq!(resp.status, 200);
    assert_eq!(body, b"hello, world\n");
    assert_eq!(resp.header("content-length"), Some("13"));
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(resp.header("date").is_some_and(|d| d.ends_with(" GMT")));
    // HEAD: same headers, no body (the next response parses cleanly).
    let (resp, body) = get(&mut c, "HEAD", "/hello.txt", false);
    assert_eq!((resp.status, body.len()), (200, 0));
    assert_eq!(resp.header("content-length"), Some("13"));
    let (resp, body) = get(&mut c, "HEAD", "/big.bin", false);
    assert_eq!(
        resp.header("content-length"),
        Some(FIVE_MB.to_string().as_str())
    );
    assert!(body.is_empty());
    let (resp, body) = get(&mut c, "GET", "/", false);
    assert_eq!(
        (resp.status, body.as_slice()),
        (200, &b"<h1>home</h1>\n"[..])
    );
    assert_eq!(
        resp.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let (resp, body) = get(&mut c, "GET", "/sub/?q=1", false);
    assert_eq!((resp.status, body.as_slice()), (200, &b"<p>sub</p>\n"[..]));
    let (resp, _) = get(&mut c, "GET", "/sub?q=1", false);
    assert_eq!(
        (resp.status, resp.header("location")),
        (301, Some("/sub/?q=1"))
    );
    let (resp, body) = get(&mut c, "GET", "/with%20space.txt", false);
    assert_eq!((resp.status, body.as_slice()), (200, &b"spaced\n"[..]));
    drop(c);
    s.srv.shutdown().unwrap();
}

fn not_found_and_errors<N: Net>(net: &N) {
    let s = site(net);
    let mut c = client(net, s.addr);
    let (resp, body) = get(&mut c, "GET", "/nope.html", false);
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    // Still alive after a 404.
    let (resp, _) = get(&mut c, "GET", "/noindex/", false);
    assert_eq!(resp.status, 404);
    let (resp, _) = get(&mut c, "GET", "/hello.txt/x", false);
    assert_eq!(resp.status, 404);
    for p in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/sub/../../secret.txt",
        "/escape.txt",
    ] {
        let (resp, body) = get(&mut c, "GET", p, false);
        assert_eq!(resp.status, 403, "{p}");
        assert!(!String::from_utf8_lossy(&body).contains("top secret"));
    }
    let (resp, _) = raw(
        &mut c,
        "POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(
        (resp.status, resp.header("allow")),
        (405, Some("GET, HEAD"))
    );
    let (resp, _) = raw(&mut c, "DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 405);
    // The connection survived all of that.
    let (resp, _) = get(&mut c, "GET", "/hello.txt", false);
    assert_eq!(resp.status, 200);
    // A bad request line: 400 and the connection closes.
    let (resp, _) = raw(&mut c, "GARBAGE\r\n\r\n");
    assert_eq!(resp.status, 400);
    assert!(!resp.keep_alive());
    assert!(at_eof(&mut c));
    let mut c = client(net, s.addr);
    let (resp, _) = raw(&mut c, "GET /hello.txt HTTP/2.0\r\n\r\n");
    assert_eq!(resp.status, 505);
    let mut c = client(net, s.addr);
    let (resp, _) = raw(&mut c, "GET hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 400);
    let mut c = client(net, s.addr);
    let (resp, _) = raw(&mut c, "GET /hello.txt HTTP/1.1\r\nbad header\r\n\r\n");
    assert_eq!(resp.status, 400);
    s.srv.shutdown().unwrap();
}

fn keep_alive_and_close<N: Net>(net: &N) {
    let s = site(net);
    let mut c = client(net, s.addr);
    let (r1, b1) = get(&mut c, "GET", "/hello.txt", false);
    let (r2, b2) = get(&mut c, "GET", "/index.html", false);
    assert_eq!((r1.status, r2.status), (200, 200));
    assert!(r1.keep_alive() && r2.keep_alive());
    assert_eq!((b1.len(), b2.len()), (13, 14));
    // Connection: close is honoured: the server closes after answering.
    let (r3, b3) = get(&mut c, "GET", "/hello.txt", true);
    assert_eq!((r3.status, b3.len()), (200, 13));
    assert_eq!(r3.header("connection"), Some("close"));
    assert!(at_eof(&mut c), "server kept the connection open");
    // Two pipelined requests in one write.
    let mut c = client(net, s.addr);
    c.get_mut()
        .write_all(
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
    let mut b = Vec::new();
    assert_eq!(read_response(&mut c, false, &mut b).unwrap().status, 200);
    let mut b2 = Vec::new();
    assert_eq!(read_response(&mut c, false, &mut b2).unwrap().status, 200);
    assert_eq!(
        (b.as_slice(), b2.as_slice()),
        (&b"hello, world\n"[..], &b"<p>sub</p>\n"[..])
    );
    drop(c);
    // HTTP/1.0 closes by default.
    let mut c = client(net, s.addr);
    let (r, _) = raw(&mut c, "GET /hello.txt HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(at_eof(&mut c));
    let rep = s.srv.shutdown().unwrap();
    assert_eq!(rep.forced, 0);
}

fn five_megabytes<N: Net>(net: &N) {
    let s = site(net);
    let c = net.connect(s.addr).unwrap();
    let mut body = Vec::new();
    let status = http_get(c, "test", "/big.bin", &mut body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(body.len(), FIVE_MB);
    assert_eq!(
        sha256_hex(&body[..]).unwrap(),
        sha256_hex(&s.big[..]).unwrap()
    );
    s.srv.shutdown().unwrap();
}

/// The client against hand-written responses: chunked, Content-Length,
/// close-delimited, interim 100, truncated.
fn client_framings<N: Net>(net: &N) {
    let cases: [(&str, Result<&[u8], io::ErrorKind>); 5] = [
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n",
            Ok(b"hello, world"),
        ),
        ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA", Ok(b"abc")),
        ("HTTP/1.0 200 OK\r\n\r\nuntil the end", Ok(b"until the end")),
        ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", Ok(b"ok")),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", Err(io::ErrorKind::UnexpectedEof)),
    ];
    for (response, want) in cases {
        let l = net.listen();
        let addr = l.local_addr().unwrap();
        let t = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            // Read the request head.
            while {
                line.clear();
                io::BufRead::read_line(&mut r, &mut line).unwrap() > 0 && line != "\r\n"
            } {}
            s.write_all(response.as_bytes()).unwrap();
        });
        let c = net.connect(addr).unwrap();
        let mut body = Vec::new();
        let got = http_get(c, "h", "/", &mut body);
        match want {
            Ok(b) => {
                assert_eq!(got.unwrap(), 200);
                assert_eq!(body, b);
            }
            Err(kind) => assert_eq!(got.unwrap_err().kind(), kind),
        }
        t.join().unwrap();
    }
}

#[test]
fn url_parsing() {
    let u = parse_url("http://198.18.0.2:8080/a/b?c=d").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.path.as_str()),
        ("198.18.0.2", 8080, "/a/b?c=d")
    );
    assert_eq!(u.host_header(), "198.18.0.2:8080");
    let u = parse_url("http://10.0.0.1").unwrap();
    assert_eq!(
        (u.port, u.path.as_str(), u.host_header().as_str()),
        (80, "/", "10.0.0.1")
    );
    assert!(parse_url("https://x/").is_err());
    assert!(parse_url("http://x:0/").is_err());
    assert!(parse_url("http://x:99999/").is_err());
    assert!(parse_url("http:///x").is_err());
}

#[test]
fn http_date_format() {
    use std::time::{Duration, UNIX_EPOCH};
    let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(
        ustack_apps::http::http_date(t),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
    let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(
        ustack_apps::http::http_date(t),
        "Tue, 29 Feb 2000 00:00:00 GMT"
    );
}

/// The client against Python's http.server (skipped without python3).
#[test]
fn client_against_python_http_server() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f.txt"), b"from python\n").unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipping: python3 not available");
        return;
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let t0 = std::time::Instant::now();
    let c = loop {
        match std::net::TcpStream::connect(addr) {
            Ok(c) => break c,
            Err(_) if t0.elapsed() < Duration::from_secs(10) => {
                thread::sleep(Duration::from_millis(50))
            }
            Err(e) => {
                let _ = child.kill();
                panic!("python http.server did not start: {e}");
            }
        }
    };
    let mut body = Vec::new();
    let status = http_get(c, "127.0.0.1", "/f.txt", &mut body);
    let c2 = std::net::TcpStream::connect(addr).unwrap();
    let mut b2 = Vec::new();
    let s2 = http_get(c2, "127.0.0.1", "/missing", &mut b2);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status.unwrap(), 200);
    assert_eq!(body, b"from python\n");
    assert_eq!(s2.unwrap(), 404);
}

both_nets!(
    get_and_head,
    not_found_and_errors,
    keep_alive_and_close,
    five_megabytes,
    client_framings
);
