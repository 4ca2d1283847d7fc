//! An idle stack sleeps: the driver waits on the device and the stack's
//! next deadline, it does not poll.
mod common;

fn process_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe {
        libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts);
    }
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn idle_stack_uses_no_cpu() {
    let (a, b) = common::two_stacks();
    // Some state: a listener and an idle established connection.
    let l = ustack_runtime::net::TcpListener::bind(&b, "198.18.0.2:9000").unwrap();
    let _c = ustack_runtime::net::TcpStream::connect(&a, "198.18.0.2:9000").unwrap();
    let _s = l.accept().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = process_cpu_time();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let used = process_cpu_time() - before;
    eprintln!("CPU used by two idle stacks over 1 s: {used:?}");
    assert!(
        used < std::time::Duration::from_millis(50),
        "idle stacks used {used:?} of CPU in 1 s"
    );
}
