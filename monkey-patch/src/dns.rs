//! The `getaddrinfo` hook: the C library's resolver runs on the hub's thread pool
//! (gevent's default resolver does the same). Its own socket I/O happens inside
//! glibc, out of any hook's reach, so a thread is the only sound way to keep the loop
//! running meanwhile.

use std::ffi::{CStr, CString};

use libc::{addrinfo, c_char, c_int};

use crate::original;
use crate::park::{guarded, set_errno};
use crate::state::{DNS, cooperative};

/// A result list owned across threads; freed if nobody takes it (the asking greenlet
/// was killed or timed out while the lookup ran).
struct List(*mut addrinfo);

// SAFETY: the list is plain heap memory owned by whoever holds this; glibc's
// `freeaddrinfo` may run on any thread.
unsafe impl Send for List {}

impl Drop for List {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a list returned by getaddrinfo and owned by nobody else.
            unsafe { libc::freeaddrinfo(self.0) };
        }
    }
}

/// Hook for `getaddrinfo(3)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    crate::probe::count(crate::probe::Hook::Getaddrinfo);
    if node.is_null() || res.is_null() || !cooperative(DNS) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::getaddrinfo(node, service, hints, res) };
    }
    // SAFETY: non-null strings are NUL-terminated, as the function requires.
    let node = unsafe { CStr::from_ptr(node) }.to_owned();
    // SAFETY: as above.
    let service = (!service.is_null()).then(|| unsafe { CStr::from_ptr(service) }.to_owned());
    // SAFETY: a non-null hints points to an addrinfo; only its four inputs are read.
    let hints =
        unsafe { hints.as_ref() }.map(|h| (h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol));
    let lookup = move || resolve(&node, service.as_deref(), hints);
    let entry_errno = crate::park::errno();
    match guarded(|| hub::spawn_blocking(lookup)) {
        Ok(Ok(list)) => {
            set_errno(entry_errno);
            // SAFETY: `res` is valid for a write, as the function requires.
            unsafe { *res = list.0 };
            std::mem::forget(list);
            0
        }
        Ok(Err((code, errno))) => {
            set_errno(errno);
            code
        }
        Err(errno) => {
            set_errno(errno);
            libc::EAI_SYSTEM
        }
    }
}

/// The lookup itself, on a pool thread (which has no hub: the call is the plain one).
fn resolve(
    node: &CString,
    service: Option<&CStr>,
    hints: Option<(c_int, c_int, c_int, c_int)>,
) -> Result<List, (c_int, c_int)> {
    // SAFETY: addrinfo is plain data; all-zero is the documented empty hints.
    let mut h: addrinfo = unsafe { std::mem::zeroed() };
    if let Some((flags, family, socktype, protocol)) = hints {
        h.ai_flags = flags;
        h.ai_family = family;
        h.ai_socktype = socktype;
        h.ai_protocol = protocol;
    }
    let mut list = std::ptr::null_mut();
    // SAFETY: valid strings, hints and result slot for the call's duration.
    let code = unsafe {
        original::getaddrinfo(
            node.as_ptr(),
            service.map_or(std::ptr::null(), CStr::as_ptr),
            if hints.is_some() {
                &h
            } else {
                std::ptr::null()
            },
            &mut list,
        )
    };
    if code == 0 {
        Ok(List(list))
    } else {
        Err((code, crate::park::errno()))
    }
}
