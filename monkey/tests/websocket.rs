//! tungstenite over monkey streams, unchanged: a WebSocket echo server with one
//! greenlet per connection, and clients on the same thread.

mod common;

use common::{assert_clean, listener};
use monkey::net::TcpStream;
use tungstenite::{Error, Message};

#[test]
fn websocket_echo_with_many_clients() {
    const CLIENTS: usize = 16;
    let (l, addr) = listener();
    let server = hub::spawn(move || {
        let mut sessions = Vec::new();
        for _ in 0..CLIENTS {
            let (stream, _) = l.accept().unwrap();
            sessions.push(hub::spawn(move || {
                let mut ws = tungstenite::accept(stream).unwrap();
                let mut echoed = 0;
                loop {
                    match ws.read() {
                        Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                            ws.send(msg).unwrap();
                            echoed += 1;
                        }
                        Ok(_) => {}
                        Err(Error::ConnectionClosed) => return echoed,
                        Err(e) => panic!("server: {e}"),
                    }
                }
            }));
        }
        sessions.iter().map(|s| s.join().unwrap()).sum::<usize>()
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            hub::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                let url = format!("ws://localhost:{}/echo", addr.port());
                let (mut ws, response) = tungstenite::client(url, stream).unwrap();
                assert_eq!(response.status(), 101);
                let text = format!("hello from {i}");
                ws.send(Message::text(text.clone())).unwrap();
                assert_eq!(ws.read().unwrap(), Message::text(text));
                let bytes = vec![i as u8; 100_000]; // several frames' worth of TCP
                ws.send(Message::binary(bytes.clone())).unwrap();
                assert_eq!(ws.read().unwrap(), Message::binary(bytes));
                ws.close(None).unwrap();
                loop {
                    match ws.read() {
                        Ok(_) => {}
                        Err(Error::ConnectionClosed) => break,
                        Err(e) => panic!("client: {e}"),
                    }
                }
            })
        })
        .collect();
    for c in &clients {
        c.join().unwrap();
    }
    assert_eq!(server.join().unwrap(), 2 * CLIENTS);
    assert_clean();
}
