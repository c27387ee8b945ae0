//! Read buffers pooled per thread, so that an idle connection owns none.

use std::cell::RefCell;

/// A 4 KiB read buffer from the thread's pool, given back when dropped. A handler takes
/// one after [`TcpStream::readable`](monkey::net::TcpStream::readable) says data has
/// come and drops it once the reply is written, so a connection parked between
/// messages owns no buffer: its greenlet's stack then stays within one page.
pub struct ReadBuffer(Vec<u8>);

thread_local! {
    static FREE_BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

impl ReadBuffer {
    /// Bytes per buffer: what one read may take.
    pub const SIZE: usize = 4096;
    /// Buffers kept for reuse per thread; more are freed.
    const KEPT: usize = 256;

    /// A buffer of [`SIZE`](Self::SIZE) bytes (a reused one when there is one).
    pub fn take() -> ReadBuffer {
        let reused = FREE_BUFFERS.with(|free| free.borrow_mut().pop());
        ReadBuffer(reused.unwrap_or_else(|| vec![0; Self::SIZE]))
    }
}

impl std::ops::Deref for ReadBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for ReadBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        let _ = FREE_BUFFERS.try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < Self::KEPT {
                free.push(buffer);
            }
        });
    }
}
