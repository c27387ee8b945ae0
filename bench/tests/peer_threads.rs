//! The tokio peers' `--threads N` and `Server::start_with`'s CPU pinning, as `net
//! --server-threads N --server-cpus LIST` uses them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use bench::net::server::Server;

fn echo_once(server: &Server) {
    let mut conn = TcpStream::connect(server.addr()).unwrap();
    conn.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    conn.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
}

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line[field.len()..].trim().to_string()
}

#[test]
fn threads_n_runs_n_workers_on_the_given_cpus() {
    let program = Path::new(env!("CARGO_BIN_EXE_net_tokio_echo"));
    let args = ["--threads".to_string(), "3".to_string()];
    let server = Server::start_with(program, &args, Some("0")).unwrap();
    echo_once(&server);
    // The main thread blocked on the runtime, plus its three workers.
    let threads: usize = status_field(server.pid(), "Threads:").parse().unwrap();
    assert!(threads >= 4, "{threads} threads");
    assert_eq!(status_field(server.pid(), "Cpus_allowed_list:"), "0");

    let single = Server::start(program).unwrap();
    echo_once(&single);
    let threads: usize = status_field(single.pid(), "Threads:").parse().unwrap();
    assert_eq!(threads, 1, "current_thread runs on the main thread alone");
}

#[test]
fn bad_threads_is_refused_before_listening() {
    let program = Path::new(env!("CARGO_BIN_EXE_net_tokio_http"));
    let Err(e) = Server::start_with(program, &["--threads".into(), "0".into()], None) else {
        panic!("a server with --threads 0 started");
    };
    assert!(
        e.to_string().contains("did not say where it listens"),
        "{e}"
    );
}
