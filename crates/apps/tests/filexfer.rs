//! File download: intact with SHA-256, resumed from an offset, corrupted
//! prefix detected, path traversal refused, missing file, over ustack and
//! std::net.
mod common;
use common::Net;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use ustack_apps::filexfer::{self, download, download_to, sha256_hex, FileServer, Progress};
use ustack_apps::server::RunningServer;
use ustack_apps::transport::Listener;
use ustack_apps::ThreadedServer;

struct Fixture {
    _tmp: tempfile::TempDir,
    served: std::path::PathBuf,
    local: std::path::PathBuf,
    data: Vec<u8>,
    srv: RunningServer,
    addr: SocketAddr,
}

fn fixture<N: Net>(net: &N) -> Fixture {
    common::init_log();
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    let local = tmp.path().join("local");
    fs::create_dir_all(served.join("sub")).unwrap();
    fs::create_dir_all(&local).unwrap();
    let data = common::pattern(3_000_000, 42);
    fs::write(served.join("big.bin"), &data).unwrap();
    fs::write(served.join("sub/small.txt"), b"small file\n").unwrap();
    fs::write(served.join("empty"), b"").unwrap();
    fs::write(tmp.path().join("secret.txt"), b"top secret").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), served.join("escape")).unwrap();
    std::os::unix::fs::symlink("sub/small.txt", served.join("inside-link")).unwrap();
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let srv = ThreadedServer::new(l, FileServer::new(&served).unwrap())
        .name("file-test")
        .spawn()
        .unwrap();
    Fixture {
        _tmp: tmp,
        served,
        local,
        data,
        srv,
        addr,
    }
}

fn sha_of(p: &Path) -> String {
    sha256_hex(fs::File::open(p).unwrap()).unwrap()
}

fn intact_download<N: Net>(net: &N) {
    let f = fixture(net);
    let mut c = net.connect(f.addr).unwrap();
    let dest = f.local.join("big.bin");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let rep = download(
        &mut c,
        "big.bin",
        &dest,
        false,
        Progress::Callback(Box::new(move |done, total| {
            s2.lock().unwrap().push((done, total))
        })),
    )
    .unwrap();
    assert_eq!(rep.bytes_written, f.data.len() as u64);
    assert_eq!((rep.offset, rep.size), (0, f.data.len() as u64));
    assert_eq!(rep.sha256, sha_of(&f.served.join("big.bin")));
    assert!(
        fs::read(&dest).unwrap() == f.data,
        "{}: content differs",
        net.label()
    );
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 1);
    assert_eq!(
        seen.last().copied(),
        Some((f.data.len() as u64, f.data.len() as u64))
    );
    // More requests on the same connection: a subdirectory, an empty
    // file, a symlink that stays inside.
    let mut out = Vec::new();
    let rep = download_to(&mut c, "sub/small.txt", &mut out, Progress::None).unwrap();
    assert_eq!(
        (out.as_slice(), rep.bytes_written),
        (&b"small file\n"[..], 11)
    );
    let rep = download(
        &mut c,
        "empty",
        &f.local.join("empty"),
        false,
        Progress::None,
    )
    .unwrap();
    assert_eq!(rep.size, 0);
    assert_eq!(fs::read(f.local.join("empty")).unwrap(), b"");
    let mut out = Vec::new();
    download_to(&mut c, "./inside-link", &mut out, Progress::None).unwrap();
    assert_eq!(out, b"small file\n");
    drop(c);
    f.srv.shutdown().unwrap();
}

fn resumed_download<N: Net>(net: &N) {
    let f = fixture(net);
    let dest = f.local.join("big.bin");
    let have = 1_234_567;
    fs::write(&dest, &f.data[..have]).unwrap();
    let mut c = net.connect(f.addr).unwrap();
    let rep = download(&mut c, "big.bin", &dest, true, Progress::None).unwrap();
    assert_eq!(rep.offset, have as u64);
    assert_eq!(rep.bytes_written, (f.data.len() - have) as u64);
    assert!(fs::read(&dest).unwrap() == f.data);
    // Resuming a complete file fetches nothing.
    let rep = download(&mut c, "big.bin", &dest, true, Progress::None).unwrap();
    assert_eq!(rep.bytes_written, 0);
    // A corrupted local prefix is caught by the hash.
    let mut bad = f.data[..have].to_vec();
    bad[10] ^= 0xff;
    fs::write(&dest, &bad).unwrap();
    let e = download(&mut c, "big.bin", &dest, true, Progress::None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("sha256 mismatch"), "{e}");
    // A local file longer than the remote one: the server says so.
    fs::write(&dest, vec![0u8; f.data.len() + 1]).unwrap();
    let e = download(&mut c, "big.bin", &dest, true, Progress::None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("beyond the end"), "{e}");
    drop(c);
    f.srv.shutdown().unwrap();
}

fn traversal_refused<N: Net>(net: &N) {
    let f = fixture(net);
    let mut c = net.connect(f.addr).unwrap();
    for (name, why) in [
        ("../secret.txt", "path traversal"),
        ("sub/../../secret.txt", "path traversal"),
        ("/etc/passwd", "absolute paths"),
        ("escape", "outside the served directory"),
    ] {
        let dest = f.local.join("x");
        let e = download(&mut c, name, &dest, false, Progress::None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{name}: {e}");
        assert!(e.to_string().contains(why), "{name}: {e}");
        assert!(!dest.exists(), "{name}: a refused download created a file");
    }
    // A directory is not a file.
    let e = download_to(&mut c, "sub", &mut Vec::new(), Progress::None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    // The connection still works after refusals.
    let mut out = Vec::new();
    download_to(&mut c, "sub/small.txt", &mut out, Progress::None).unwrap();
    assert_eq!(out, b"small file\n");
    drop(c);
    f.srv.shutdown().unwrap();
}

fn missing_file<N: Net>(net: &N) {
    let f = fixture(net);
    let mut c = net.connect(f.addr).unwrap();
    let dest = f.local.join("nope.bin");
    let e = download(&mut c, "nope.bin", &dest, false, Progress::None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("no such file: nope.bin"), "{e}");
    assert!(
        !dest.exists(),
        "a missing file must not become an empty file"
    );
    drop(c);
    f.srv.shutdown().unwrap();
}

#[test]
fn resolve_under_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    fs::write(root.join("a"), b"a").unwrap();
    assert!(filexfer::resolve_under(&root, "a").is_ok());
    assert!(filexfer::resolve_under(&root, "").is_err());
    assert!(filexfer::resolve_under(&root, "a\0b").is_err());
    assert!(filexfer::resolve_under(&root, "..").is_err());
    assert!(filexfer::resolve_under(&root, "/a").is_err());
}

both_nets!(
    intact_download,
    resumed_download,
    traversal_refused,
    missing_file
);
