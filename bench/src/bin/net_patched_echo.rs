//! The `echo_server` example written with plain std (`std::net::TcpListener`,
//! `TcpStream::read`/`write_all`), one greenlet per connection, made cooperative by
//! `monkey_patch::patch_all()` alone: the cost of the hooks against `monkey`'s own
//! sockets (`examples/echo_server`) under the same load. A peer of the network
//! benchmark (`src/bin/net.rs`), with the same 4 KiB buffer, `TCP_NODELAY` and
//! backlog.
//!
//! `net_patched_echo [--addr HOST:PORT]` prints `listening on ADDR`, serves until killed.

use std::io::{self, Write};

use bench::net::std_echo::{echo, listen};

fn main() -> io::Result<()> {
    monkey_patch::patch_all();
    let listener = listen(&bench::net::addr_arg("127.0.0.1:7003"))?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    // The thread's hub exists from here on, so the accept below cooperates.
    hub::Hub::current();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                // A load that stops resets its connections: the end of a benchmark
                // connection, not a failure to report (StreamServer and the tokio
                // peers end such connections quietly too).
                hub::spawn(move || {
                    let _ = echo(stream);
                });
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
