//! The echo load client, the same for every server: `conns` connections, each with
//! one [`MSG`]-byte message in flight (send it, wait for all of it to come back, send
//! the next), spread over a few threads that each run a mio loop.
//!
//! Every connection is opened, and has done one round trip, before [`EchoLoad::start`]
//! returns, so connection setup is never in the measured window. The caller reads
//! [`EchoLoad::round_trips`] at the ends of its window and then calls
//! [`EchoLoad::stop`].

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Bytes per message.
pub const MSG: usize = 64;

/// How often a client thread looks at the stop flag when nothing happens.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);

pub struct EchoLoad {
    threads: Vec<JoinHandle<io::Result<()>>>,
    /// Round trips completed by each thread, published after every poll.
    counts: Arc<[AtomicU64]>,
    stop: Arc<AtomicBool>,
}

impl EchoLoad {
    /// Opens `conns` connections to `addr`, does one round trip on each, and starts
    /// `threads` client threads that keep them all busy.
    pub fn start(addr: SocketAddr, conns: usize, threads: usize) -> io::Result<EchoLoad> {
        let threads = threads.clamp(1, conns.max(1));
        let mut groups: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
        for i in 0..conns {
            groups[i % threads].push(Conn::open(addr, i as u8)?);
        }
        let counts: Arc<[AtomicU64]> = (0..threads).map(|_| AtomicU64::new(0)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = groups
            .into_iter()
            .enumerate()
            .map(|(i, group)| {
                let (counts, stop) = (counts.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("echo-load-{i}"))
                    .spawn(move || drive(group, &counts[i], &stop))
            })
            .collect::<io::Result<_>>()?;
        Ok(EchoLoad {
            threads,
            counts,
            stop,
        })
    }

    /// Round trips completed so far (after the first one of each connection).
    pub fn round_trips(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Stops the threads and closes the connections; the first error a thread met.
    pub fn stop(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let mut result = Ok(());
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

/// One connection and where its current message stands.
struct Conn {
    stream: TcpStream,
    /// Every byte of the message in flight has this value.
    byte: u8,
    /// Bytes of it received so far.
    got: usize,
}

impl Conn {
    /// Connects (blocking), does one round trip, then switches to non-blocking mode.
    fn open(addr: SocketAddr, byte: u8) -> io::Result<Conn> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.write_all(&[byte; MSG])?;
        let mut back = [0u8; MSG];
        s.read_exact(&mut back)?;
        check(&back, byte)?;
        s.set_nonblocking(true)?;
        Ok(Conn {
            stream: TcpStream::from_std(s),
            byte: byte.wrapping_add(1),
            got: 0,
        })
    }

    fn send(&mut self) -> io::Result<()> {
        // A 64-byte write into an empty send buffer is never short.
        match self.stream.write(&[self.byte; MSG])? {
            MSG => Ok(()),
            n => Err(io::Error::other(format!("short write of {n} bytes"))),
        }
    }

    /// Reads what has arrived; returns 1 if that completed the message (and the next
    /// one is sent), else 0. With one message in flight nothing can follow the last
    /// byte of a message, so reading stops there without a final `WouldBlock` read.
    fn on_readable(&mut self) -> io::Result<u64> {
        let mut buf = [0u8; MSG];
        loop {
            match self.stream.read(&mut buf[..MSG - self.got]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    check(&buf[..n], self.byte)?;
                    self.got += n;
                    if self.got == MSG {
                        self.got = 0;
                        self.byte = self.byte.wrapping_add(1);
                        self.send()?;
                        return Ok(1);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn check(echoed: &[u8], byte: u8) -> io::Result<()> {
    if echoed.iter().all(|&b| b == byte) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echo differs from the message",
        ))
    }
}

/// One client thread: sends the first message on each connection, then answers
/// every complete echo with the next message until told to stop.
fn drive(mut conns: Vec<Conn>, count: &AtomicU64, stop: &AtomicBool) -> io::Result<()> {
    let mut poll = Poll::new()?;
    for (i, c) in conns.iter_mut().enumerate() {
        poll.registry()
            .register(&mut c.stream, Token(i), Interest::READABLE)?;
        c.send()?;
    }
    let mut events = Events::with_capacity(1024);
    let mut done = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match poll.poll(&mut events, Some(POLL_TIMEOUT)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        for event in events.iter() {
            done += conns[event.token().0].on_readable()?;
        }
        count.store(done, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::idle::{self, Exchange};
    use std::time::Instant;

    /// A std echo server on a thread per connection, for the load client to talk to.
    fn echo_server() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 256];
                    while let Ok(n @ 1..) = s.read(&mut buf) {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn keeps_every_connection_busy_until_stopped() {
        let addr = echo_server();
        let load = EchoLoad::start(addr, 8, 2).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while load.round_trips() < 100 {
            assert!(Instant::now() < deadline, "no round trips");
            std::thread::sleep(Duration::from_millis(10));
        }
        load.stop().unwrap();
    }

    #[test]
    fn idle_connections_do_one_exchange_each() {
        let addr = echo_server();
        let conns = idle::open(addr, 5, Exchange::Echo).unwrap();
        assert_eq!(conns.len(), 5);
    }
}
