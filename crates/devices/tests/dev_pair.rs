//! The in-process device pair: delivery, ordering, readiness and dropping.
use std::io::ErrorKind;
use std::os::fd::RawFd;
use std::sync::Arc;
use ustack_devices::{pair, Device};

/// Polls `fd` for readability; true if readable within `timeout_ms`.
fn poll_readable(fd: RawFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    assert!(rc >= 0, "poll: {}", std::io::Error::last_os_error());
    rc == 1 && pfd.revents & libc::POLLIN != 0
}

/// A recognisable packet: `seq` in the first 4 bytes, then a pattern.
fn packet(seq: u32, len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i as u32 ^ seq) as u8).collect();
    p[..4].copy_from_slice(&seq.to_be_bytes());
    p
}

fn seq_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[0], p[1], p[2], p[3]])
}

#[test]
fn packets_arrive_intact_and_in_order_both_ways() {
    let (a, b) = pair(1500).expect("pair");
    assert_eq!(a.mtu(), 1500);
    assert_eq!(b.mtu(), 1500);
    let mut buf = vec![0u8; 1500];
    for (tx, rx) in [(&a, &b), (&b, &a)] {
        let sent: Vec<Vec<u8>> = (0..200u32)
            .map(|i| packet(i, 20 + (i as usize * 37) % 1481))
            .collect();
        // In batches, to stay well inside even an unprivileged socket buffer.
        for batch in sent.chunks(25) {
            for p in batch {
                tx.send(p).expect("send");
            }
            for p in batch {
                let n = rx.recv(&mut buf).expect("recv").expect("a packet");
                assert_eq!(&buf[..n], &p[..], "packet {}", seq_of(p));
            }
        }
        assert_eq!(rx.recv(&mut buf).expect("recv"), None);
        assert_eq!(tx.dropped(), 0);
    }
    // A full-MTU packet fits exactly.
    a.send(&packet(7, 1500)).expect("send");
    assert_eq!(b.recv(&mut buf).expect("recv"), Some(1500));
}

#[test]
fn recv_with_nothing_waiting_is_none() {
    let (a, b) = pair(1500).expect("pair");
    let mut buf = vec![0u8; 1500];
    assert_eq!(a.recv(&mut buf).expect("recv"), None);
    assert_eq!(b.recv(&mut buf).expect("recv"), None);
    // A packet sent by `a` does not come back to `a`.
    a.send(&packet(1, 64)).expect("send");
    assert_eq!(a.recv(&mut buf).expect("recv"), None);
    assert_eq!(b.recv(&mut buf).expect("recv"), Some(64));
    assert_eq!(b.recv(&mut buf).expect("recv"), None);
}

#[test]
fn readable_fd_polls_readable_after_a_send() {
    let (a, b) = pair(1500).expect("pair");
    assert!(!poll_readable(b.readable_fd(), 0), "readable before a send");
    a.send(&packet(1, 100)).expect("send");
    assert!(
        poll_readable(b.readable_fd(), 1000),
        "not readable after a send"
    );
    assert!(!poll_readable(a.readable_fd(), 0), "sender became readable");
    let mut buf = vec![0u8; 1500];
    assert_eq!(b.recv(&mut buf).expect("recv"), Some(100));
    // Drained (recv says so): no longer readable.
    assert_eq!(b.recv(&mut buf).expect("recv"), None);
    assert!(
        !poll_readable(b.readable_fd(), 0),
        "readable after draining"
    );

    // Readiness also wakes a thread already waiting in poll.
    let b = Arc::new(b);
    let waiter = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || poll_readable(b.readable_fd(), 5000))
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    a.send(&packet(2, 100)).expect("send");
    assert!(waiter.join().expect("waiter"), "waiting poll not woken");
}

#[test]
fn flooding_drops_and_counts_instead_of_blocking() {
    let (a, b) = pair(1500).expect("pair");
    let total = 50_000u32; // 75 MB: far beyond a 4 MiB socket buffer
    let start = std::time::Instant::now();
    for i in 0..total {
        a.send(&packet(i, 1500))
            .expect("send never fails on a full queue");
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "flooding took {:?}",
        start.elapsed()
    );
    let dropped = a.dropped();
    assert!(dropped > 0, "nothing dropped after {total} packets");

    // What was queued comes out in order; queued + dropped = sent.
    let mut buf = vec![0u8; 1500];
    let mut received = 0u64;
    let mut last: Option<u32> = None;
    while let Some(n) = b.recv(&mut buf).expect("recv") {
        assert_eq!(n, 1500);
        let seq = seq_of(&buf);
        assert_eq!(&buf[..n], &packet(seq, 1500)[..], "corrupt packet {seq}");
        if let Some(prev) = last {
            assert!(seq > prev, "reordered: {seq} after {prev}");
        }
        last = Some(seq);
        received += 1;
    }
    assert!(received > 0);
    assert_eq!(received + dropped, u64::from(total));
    assert_eq!(b.dropped(), 0);
    eprintln!("flood: {received} queued, {dropped} dropped");

    // Once drained, the queue accepts packets again.
    a.send(&packet(total, 1500)).expect("send");
    assert_eq!(a.dropped(), dropped);
    assert_eq!(b.recv(&mut buf).expect("recv"), Some(1500));
    assert_eq!(seq_of(&buf), total);
}

#[test]
fn oversized_packets_are_rejected() {
    let (a, b) = pair(576).expect("pair");
    let err = a.send(&packet(1, 577)).expect_err("over the MTU");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("576"), "{err}");
    let mut buf = vec![0u8; 576];
    assert_eq!(b.recv(&mut buf).expect("recv"), None);
    assert_eq!(
        pair(0).expect_err("zero MTU").kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn sending_to_a_closed_peer_drops() {
    let (a, b) = pair(1500).expect("pair");
    drop(b);
    for i in 0..3 {
        a.send(&packet(i, 100)).expect("send to a closed peer");
    }
    assert_eq!(a.dropped(), 3);
    let mut buf = vec![0u8; 1500];
    assert_eq!(a.recv(&mut buf).expect("recv"), None);
}

#[test]
fn ends_are_shared_between_threads() {
    let (a, b) = pair(1500).expect("pair");
    let (a, b) = (Arc::new(a), Arc::new(b));
    let per_thread = 500u32;
    let senders: Vec<_> = (0..4u32)
        .map(|t| {
            let a = Arc::clone(&a);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    a.send(&packet(t << 16 | i, 200)).expect("send");
                }
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender");
    }
    // Each sender's packets stay in order; nothing is lost unaccounted.
    let mut last: [Option<u32>; 4] = [None; 4];
    let mut received = 0u64;
    let mut buf = vec![0u8; 1500];
    while let Some(n) = b.recv(&mut buf).expect("recv") {
        assert_eq!(n, 200);
        let seq = seq_of(&buf);
        let (t, i) = ((seq >> 16) as usize, seq & 0xffff);
        assert!(
            last[t].is_none_or(|prev| i > prev),
            "thread {t} out of order"
        );
        last[t] = Some(i);
        received += 1;
    }
    assert_eq!(received + a.dropped(), u64::from(4 * per_thread));
}

#[test]
fn a_claimed_receive_side_signals_the_poller_descriptor() {
    let (a, b) = pair(1500).expect("pair");
    let pfd = b.poller_fd().expect("the pair has a poller descriptor");
    let mut buf = vec![0u8; 1500];

    // Claimed: a packet wakes the poller, not the driver's descriptor.
    b.set_poller(true);
    a.send(&packet(1, 100)).expect("send");
    assert!(poll_readable(pfd, 1000), "poller not signalled");
    assert!(!poll_readable(b.readable_fd(), 0), "driver woken too");
    assert_eq!(b.recv(&mut buf).expect("recv"), Some(100));
    assert_eq!(b.recv(&mut buf).expect("recv"), None);
    assert!(!poll_readable(pfd, 0), "poller readable after draining");

    // Released with a packet still queued: the driver's descriptor is
    // signalled, so the packet is not stranded.
    a.send(&packet(2, 100)).expect("send");
    assert!(poll_readable(pfd, 1000));
    b.set_poller(false);
    assert!(
        poll_readable(b.readable_fd(), 0),
        "queued packet unannounced"
    );
    assert_eq!(b.recv(&mut buf).expect("recv"), Some(100));
    assert_eq!(seq_of(&buf), 2);
    assert_eq!(b.recv(&mut buf).expect("recv"), None);
    assert!(!poll_readable(b.readable_fd(), 0));
    assert!(!poll_readable(pfd, 0));

    // Unclaimed again: back to the driver's descriptor.
    a.send(&packet(3, 100)).expect("send");
    assert!(poll_readable(b.readable_fd(), 1000));
    assert!(!poll_readable(pfd, 0));
}

#[test]
fn a_spinning_poller_is_not_signalled_and_sees_the_queue() {
    let (a, b) = pair(1500).expect("pair");
    let pfd = b.poller_fd().expect("the pair has a poller descriptor");
    let mut buf = vec![0u8; 1500];
    assert_eq!(b.rx_pending(), Some(false));

    // Spinning: the packet shows in `rx_pending`, and no descriptor is
    // signalled (no system call on either side).
    b.set_poller(true);
    b.set_spinning(true);
    a.send(&packet(1, 100)).expect("send");
    assert_eq!(b.rx_pending(), Some(true));
    assert!(!poll_readable(pfd, 0), "spinning poller signalled");
    assert!(!poll_readable(b.readable_fd(), 0), "driver signalled");
    b.set_spinning(false);
    assert_eq!(b.recv(&mut buf).expect("recv"), Some(100));
    assert_eq!(seq_of(&buf), 1);
    assert_eq!(b.rx_pending(), Some(false));
    assert_eq!(b.recv(&mut buf).expect("recv"), None);

    // No longer spinning: the next packet signals the poller again.
    a.send(&packet(2, 100)).expect("send");
    assert!(poll_readable(pfd, 1000), "sleeping poller not signalled");
    assert_eq!(b.recv(&mut buf).expect("recv"), Some(100));
    assert_eq!(b.recv(&mut buf).expect("recv"), None);
    assert!(!poll_readable(pfd, 0));
    b.set_poller(false);

    // The driver's descriptor is signalled whatever the spinning flag
    // says when no thread has claimed the receive side.
    b.set_spinning(true);
    a.send(&packet(3, 100)).expect("send");
    assert!(poll_readable(b.readable_fd(), 1000), "driver not signalled");
    b.set_spinning(false);
}
