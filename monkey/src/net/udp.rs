//! `UdpSocket`: std's type, cooperative.

use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hub::Direction;

use super::{Evented, ToSocketAddrs, each_addr};

/// A UDP socket: [`std::net::UdpSocket`] whose blocking calls park the greenlet
/// (gevent's `socket` of type `SOCK_DGRAM`). Timeouts, non-blocking mode, `!Send`
/// and conversions behave as for [`TcpStream`](super::TcpStream).
pub struct UdpSocket {
    inner: Evented<net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (trying each address it resolves to).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, |a| {
            let socket = net::UdpSocket::bind(a)?;
            socket.set_nonblocking(true)?;
            Ok(UdpSocket {
                inner: Evented::new(socket),
            })
        })
    }

    /// Receives one datagram and the address it came from.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Direction::Read, |s| s.recv_from(buf))
    }

    /// Like [`recv_from`](Self::recv_from), leaving the datagram in the queue.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Direction::Read, |s| s.peek_from(buf))
    }

    /// Sends one datagram to the first address `addr` resolves to.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let Some(addr) = addr.to_socket_addrs()?.next() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            ));
        };
        self.inner.io(Direction::Write, |s| s.send_to(buf, addr))
    }

    /// The address of the peer set with [`connect`](Self::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket().local_addr()
    }

    /// A new handle to the same socket (a `dup` of the fd), sharing the blocking
    /// mode and timeouts.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let inner = self.inner.try_clone_with(net::UdpSocket::try_clone)?;
        Ok(UdpSocket { inner })
    }

    /// `SO_BROADCAST`.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.socket().set_broadcast(broadcast)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.socket().broadcast()
    }

    /// `IP_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.socket().set_multicast_loop_v4(on)
    }

    /// `IP_MULTICAST_LOOP`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.inner.socket().multicast_loop_v4()
    }

    /// `IP_MULTICAST_TTL`.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.inner.socket().set_multicast_ttl_v4(ttl)
    }

    /// `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.inner.socket().multicast_ttl_v4()
    }

    /// `IPV6_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.inner.socket().set_multicast_loop_v6(on)
    }

    /// `IPV6_MULTICAST_LOOP`.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.inner.socket().multicast_loop_v6()
    }

    /// `IP_ADD_MEMBERSHIP`.
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.socket().join_multicast_v4(multiaddr, interface)
    }

    /// `IPV6_ADD_MEMBERSHIP`.
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.socket().join_multicast_v6(multiaddr, interface)
    }

    /// `IP_DROP_MEMBERSHIP`.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.socket().leave_multicast_v4(multiaddr, interface)
    }

    /// `IPV6_DROP_MEMBERSHIP`.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.socket().leave_multicast_v6(multiaddr, interface)
    }

    /// Sets the default peer for [`send`](Self::send) / [`recv`](Self::recv) and
    /// filters what is received (the first address `addr` resolves to that works).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&addr, |a| self.inner.socket().connect(a))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.io(Direction::Write, |s| s.send(buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Direction::Read, |s| s.recv(buf))
    }

    /// Like [`recv`](Self::recv), leaving the datagram in the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Direction::Read, |s| s.peek(buf))
    }
}

std_socket_conversions!(UdpSocket, net::UdpSocket);
std_socket_options!(UdpSocket);
std_socket_timeouts!(UdpSocket);
