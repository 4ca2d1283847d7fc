//! File download with a progress bar, SHA-256 check and resume, on ustack.
//!
//! ```text
//! cargo run -p ustack-apps --example file_download
//! ```
//!
//! A `FileServer` serves a temporary directory holding a generated 8 MB
//! file. The client downloads it (progress bar on stderr), checks the
//! SHA-256 the server announced, then simulates an interrupted transfer
//! (keeps only the first 3 MB) and resumes it. Finally it shows the
//! server refusing `../etc/passwd` and a missing file.
use std::fs;
use std::net::SocketAddr;
use ustack_apps::filexfer::{download, FileServer, Progress};
use ustack_apps::pairnet::{two_stacks, SERVER_IP};
use ustack_apps::ThreadedServer;
use ustack_runtime::net::{TcpListener, TcpStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let served = tmp.path().join("served");
    fs::create_dir(&served)?;
    let data: Vec<u8> = (0..8_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(served.join("big.bin"), &data)?;

    let (client_ns, server_ns) = two_stacks()?;
    let addr = SocketAddr::new(SERVER_IP, 7070);
    let server = ThreadedServer::new(
        TcpListener::bind(&server_ns, addr)?,
        FileServer::new(&served)?,
    )
    .name("file")
    .spawn()?;

    let dest = tmp.path().join("big.bin");
    let mut conn = TcpStream::connect(&client_ns, addr)?;
    let rep = download(&mut conn, "big.bin", &dest, false, Progress::Bar)?;
    println!(
        "downloaded {} bytes, sha256 {} verified",
        rep.bytes_written, rep.sha256
    );

    // Pretend the transfer broke off after 3 MB, then resume.
    let f = fs::OpenOptions::new().write(true).open(&dest)?;
    f.set_len(3_000_000)?;
    drop(f);
    let rep = download(&mut conn, "big.bin", &dest, true, Progress::Bar)?;
    println!(
        "resumed at {}: {} more bytes, whole file verified ({})",
        rep.offset, rep.bytes_written, rep.sha256
    );
    assert!(fs::read(&dest)? == data);

    for name in ["../etc/passwd", "no-such-file"] {
        match download(
            &mut conn,
            name,
            &tmp.path().join("x"),
            false,
            Progress::None,
        ) {
            Ok(_) => println!("{name}: unexpectedly served"),
            Err(e) => println!("{name}: {e}"),
        }
    }
    drop(conn);
    server.shutdown()?;
    Ok(())
}
