//! Length-prefix framing: sticky packets, oversize and truncated frames,
//! over in-memory readers, ustack and std::net, and the tokio codec.
mod common;
use bytes::BytesMut;
use common::Net;
use std::io::{self, Cursor, Read, Write};
use std::net::Shutdown;
use std::thread;
use tokio_util::codec::{Decoder, Encoder};
use ustack_apps::framing::{
    encode_frame, read_frame, write_frame, write_frame_max, LengthPrefixCodec,
};
use ustack_apps::transport::{Connection, Listener, Shutdown as _};

/// A reader that returns at most `step` bytes per read.
struct Trickle<R> {
    inner: R,
    step: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step);
        self.inner.read(&mut buf[..n])
    }
}

fn two_frames() -> Vec<u8> {
    let mut wire = Vec::new();
    write_frame(&mut wire, b"hello").unwrap();
    write_frame(&mut wire, b"world!!").unwrap();
    wire
}

#[test]
fn two_frames_in_one_buffer_read_back_as_two() {
    let wire = two_frames();
    assert_eq!(wire.len(), 4 + 5 + 4 + 7);
    let mut r = Cursor::new(wire);
    assert_eq!(read_frame(&mut r, 100).unwrap().unwrap(), b"hello");
    assert_eq!(read_frame(&mut r, 100).unwrap().unwrap(), b"world!!");
    assert!(read_frame(&mut r, 100).unwrap().is_none(), "clean EOF");
}

#[test]
fn frames_split_into_single_bytes_reassemble() {
    let mut r = Trickle {
        inner: Cursor::new(two_frames()),
        step: 1,
    };
    assert_eq!(read_frame(&mut r, 100).unwrap().unwrap(), b"hello");
    assert_eq!(read_frame(&mut r, 100).unwrap().unwrap(), b"world!!");
    assert!(read_frame(&mut r, 100).unwrap().is_none());
}

#[test]
fn empty_frame_is_a_frame() {
    let mut wire = Vec::new();
    write_frame(&mut wire, b"").unwrap();
    assert_eq!(wire, [0, 0, 0, 0]);
    let mut r = Cursor::new(wire);
    assert_eq!(read_frame(&mut r, 0).unwrap().unwrap(), b"");
}

#[test]
fn oversize_frame_is_invalid_data_naming_both_sizes() {
    let mut wire = Vec::new();
    wire.extend_from_slice(&1001u32.to_be_bytes());
    wire.extend_from_slice(&[0u8; 1001]);
    let e = read_frame(&mut Cursor::new(wire), 1000).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let msg = e.to_string();
    assert!(msg.contains("1001") && msg.contains("1000"), "{msg}");
    // A huge announced length is refused before any allocation.
    let e = read_frame(&mut Cursor::new(u32::MAX.to_be_bytes()), 1 << 20).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    // The sender refuses too.
    let e = write_frame_max(&mut Vec::new(), &[0u8; 11], 10).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("11") && e.to_string().contains("10"));
}

#[test]
fn truncated_payload_is_unexpected_eof() {
    let mut wire = Vec::new();
    wire.extend_from_slice(&10u32.to_be_bytes());
    wire.extend_from_slice(b"abcd");
    let e = read_frame(&mut Cursor::new(wire), 100).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert!(e.to_string().contains("4 of 10"), "{e}");
}

#[test]
fn truncated_header_is_unexpected_eof() {
    let e = read_frame(&mut Cursor::new(vec![0u8, 0]), 100).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert!(e.to_string().contains("2 of 4"), "{e}");
}

#[test]
fn codec_decodes_sticky_and_partial_frames() {
    let mut c = LengthPrefixCodec::new(100);
    let mut buf = BytesMut::new();
    c.encode(&b"hello"[..], &mut buf).unwrap();
    c.encode(b"world!!".to_vec(), &mut buf).unwrap();
    // Feed byte by byte: nothing until a frame is complete.
    let wire = buf.split();
    let mut got = Vec::new();
    for b in wire.iter() {
        buf.extend_from_slice(&[*b]);
        while let Some(f) = c.decode(&mut buf).unwrap() {
            got.push(f.to_vec());
        }
    }
    assert_eq!(got, vec![b"hello".to_vec(), b"world!!".to_vec()]);
    // Both in one buffer.
    let mut both = BytesMut::from(&two_frames()[..]);
    assert_eq!(&c.decode(&mut both).unwrap().unwrap()[..], b"hello");
    assert_eq!(&c.decode(&mut both).unwrap().unwrap()[..], b"world!!");
    assert!(c.decode(&mut both).unwrap().is_none());
    assert!(c.decode_eof(&mut both).unwrap().is_none());
}

#[test]
fn codec_errors() {
    let mut c = LengthPrefixCodec::new(8);
    let mut over = BytesMut::from(&9u32.to_be_bytes()[..]);
    let e = c.decode(&mut over).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains('9') && e.to_string().contains('8'));
    let e = c.encode(&[0u8; 9][..], &mut BytesMut::new()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let mut part = BytesMut::from(&encode_frame(b"abcdef").unwrap()[..7]);
    let e = c.decode_eof(&mut part).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert!(e.to_string().contains("3 of 6"), "{e}");
}

/// Over a real connection: two frames sent with ONE write (so they
/// travel in one segment and arrive in one read) and two frames sent
/// with separate writes; then a truncated frame.
fn sticky_over_network<N: Net>(net: &N) {
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let srv = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut frames = Vec::new();
        loop {
            match read_frame(&mut s, 1 << 20) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return (frames, None),
                Err(e) => return (frames, Some(e)),
            }
        }
    });
    let mut c = net.connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    c.write_all(&two_frames()).unwrap();
    write_frame(&mut c, b"third").unwrap();
    let big = common::pattern(300_000, 7);
    write_frame(&mut c, &big).unwrap();
    // A truncated frame: header announces 100, 3 bytes follow, then FIN.
    c.write_all(&100u32.to_be_bytes()).unwrap();
    c.write_all(b"abc").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let (frames, err) = srv.join().unwrap();
    assert_eq!(frames.len(), 4, "{}", net.label());
    assert_eq!(frames[0], b"hello");
    assert_eq!(frames[1], b"world!!");
    assert_eq!(frames[2], b"third");
    assert!(frames[3] == big);
    let e = err.expect("truncated frame must be an error");
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    assert!(e.to_string().contains("3 of 100"), "{e}");
}

fn oversize_over_network<N: Net>(net: &N) {
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let srv = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        read_frame(&mut s, 64)
    });
    let mut c = net.connect(addr).unwrap();
    write_frame(&mut c, &[1u8; 65]).unwrap();
    let e = srv.join().unwrap().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("65") && e.to_string().contains("64"));
}

both_nets!(sticky_over_network, oversize_over_network);
