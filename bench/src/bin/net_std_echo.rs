//! The `echo_server` example done with std and one OS thread per connection (64 KiB
//! stacks), the same 4 KiB buffer and `TCP_NODELAY`. A peer of the network
//! benchmark (`src/bin/net.rs`).
//!
//! `net_std_echo [--addr HOST:PORT]` prints `listening on ADDR`, serves until killed.

use std::io::{self, Write};
use std::time::Duration;

use bench::net::std_echo::{echo, listen};

fn main() -> io::Result<()> {
    let listener = listen(&bench::net::addr_arg("127.0.0.1:7002"))?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        let spawned = listener.accept().and_then(|(stream, _)| {
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || echo(stream))
        });
        if let Err(e) = spawned {
            eprintln!("accept failed: {e}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
