//! A server under test: a child process started on an ephemeral port of 127.0.0.1,
//! which says `listening on ADDR` on its first line of output, and is killed when
//! dropped.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use super::procfs;

pub struct Server {
    child: Child,
    addr: SocketAddr,
    /// Kept open so that a late print of the server does not fail.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Runs `program --addr 127.0.0.1:0` and waits for the address it listens on.
    pub fn start(program: &Path) -> io::Result<Server> {
        Server::start_with(program, &[], None)
    }

    /// Runs `program --addr 127.0.0.1:0 ARGS...`, under `taskset -c CPUS` when `cpus`
    /// is given (taskset execs the program, so the pid is the server's), and waits for
    /// the address it listens on.
    pub fn start_with(program: &Path, args: &[String], cpus: Option<&str>) -> io::Result<Server> {
        let mut command = match cpus {
            Some(list) => {
                let mut c = Command::new("taskset");
                c.args(["-c", list]).arg(program);
                c
            }
            None => Command::new(program),
        };
        let mut child = command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", program.display())))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "{} did not say where it listens (said {line:?})",
                program.display()
            )));
        };
        Ok(Server {
            child,
            addr,
            _stdout: stdout,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user and system) the server has used so far.
    pub fn cpu_times(&self) -> io::Result<procfs::CpuTimes> {
        procfs::cpu_times(self.pid())
    }

    pub fn rss_bytes(&self) -> io::Result<u64> {
        procfs::rss_bytes(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
