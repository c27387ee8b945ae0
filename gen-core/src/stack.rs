//! Coroutine stacks: one mmap each, with a guard page below, counted against a budget.
//!
//! Every guarded stack costs two kernel memory mappings (the usable pages and the
//! `PROT_NONE` guard). Linux caps a process at `vm.max_map_count` mappings (65530 by
//! default) and, once the cap is hit, *every* mmap in the process fails, including
//! the allocator's. So stacks are counted process-wide and refused with
//! [`StackError::Budget`] well before the cap, which keeps the rest of the process alive.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::overflow;

/// Default usable size of a coroutine stack: 256 KiB of address space. Pages are
/// committed only when touched, so an idle coroutine costs one or two pages of memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Smallest usable stack size accepted; smaller requests are rounded up to it.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Bytes reserved at the very top of every stack for the [`NameTag`] the overflow
/// handler reads, and kept 16-byte aligned so the stack below stays aligned.
const HEADER: usize = 32;

/// Share of `vm.max_map_count` that coroutine stacks may use: the rest stays available
/// to the allocator, thread stacks, shared libraries and file mappings.
const BUDGET_PERCENT: usize = 75;

static LIVE_STACKS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Stacks mapped by this thread and not unmapped yet (a `Stack` never leaves its thread).
    static THREAD_STACKS: Cell<usize> = const { Cell::new(0) };
}

/// Why a stack could not be made.
#[derive(Debug)]
pub enum StackError {
    /// The process holds as many coroutine stacks as the map-count budget allows.
    Budget {
        /// Stacks alive when the request was refused.
        live: usize,
        /// The budget, derived from `vm.max_map_count`.
        limit: usize,
    },
    /// The kernel refused the mapping.
    Map(io::Error),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::Budget { live, limit } => write!(
                f,
                "too many coroutine stacks: {live} alive, budget {limit} \
                 (each costs 2 memory mappings; raise vm.max_map_count to allow more)"
            ),
            StackError::Map(e) => write!(f, "could not map a coroutine stack: {e}"),
        }
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StackError::Map(e) => Some(e),
            StackError::Budget { .. } => None,
        }
    }
}

/// How many coroutine stacks the whole process may hold at once.
pub fn stack_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let max_maps = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(65530);
        max_maps * BUDGET_PERCENT / 100 / 2
    })
}

/// How many coroutine stacks are mapped in this process right now (pooled ones included).
pub fn live_stacks() -> usize {
    LIVE_STACKS.load(Ordering::Relaxed)
}

/// How many coroutine stacks this thread has in use right now: mapped by it and not
/// sitting in its [`StackPool`], so owned by a coroutine that is alive (or was leaked).
///
/// Unlike [`live_stacks`] it ignores the pool and other threads, so a leak test can
/// compare it before and after a workload while other tests run in parallel.
///
/// ```
/// let before = gen_core::stacks_in_use();
/// let mut g = gen_core::Generator::new(|y| y.suspend(1));
/// assert_eq!(g.next(), Some(1));
/// assert_eq!(gen_core::stacks_in_use(), before + 1);
/// drop(g); // unwound; its stack goes back to the pool
/// assert_eq!(gen_core::stacks_in_use(), before);
/// ```
pub fn stacks_in_use() -> usize {
    let mapped = THREAD_STACKS.try_with(Cell::get).unwrap_or(0);
    let pooled = POOL.try_with(|p| p.cached()).unwrap_or(0);
    mapped.saturating_sub(pooled)
}

pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize)
}

/// A coroutine stack: `size` usable bytes above one `PROT_NONE` guard page.
///
/// Stacks are bound to the thread that made them (`!Send`): the overflow handler finds
/// them through a per-thread registry.
pub struct Stack {
    /// Start of the mapping, which is the guard page.
    base: NonNull<u8>,
    /// Length of the whole mapping, guard included.
    len: usize,
}

impl Stack {
    /// Maps a new stack with at least `size` usable bytes (rounded up to whole pages).
    pub fn new(size: usize) -> Result<Stack, StackError> {
        let page = page_size();
        let len = size
            .max(MIN_STACK_SIZE)
            .checked_next_multiple_of(page)
            .and_then(|usable| usable.checked_add(page))
            .filter(|&len| len <= isize::MAX as usize)
            .ok_or_else(|| {
                StackError::Map(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "stack size too large",
                ))
            })?;

        let limit = stack_budget();
        let live = LIVE_STACKS.fetch_add(1, Ordering::Relaxed);
        if live >= limit {
            LIVE_STACKS.fetch_sub(1, Ordering::Relaxed);
            return Err(StackError::Budget { live, limit });
        }
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            LIVE_STACKS.fetch_sub(1, Ordering::Relaxed);
            return Err(StackError::Map(io::Error::last_os_error()));
        }
        // SAFETY: the first page lies inside the mapping just made, which nothing else uses.
        if unsafe { libc::mprotect(ptr, page, libc::PROT_NONE) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping exactly the mapping made above.
            unsafe { libc::munmap(ptr, len) };
            LIVE_STACKS.fetch_sub(1, Ordering::Relaxed);
            return Err(StackError::Map(err));
        }
        let base = NonNull::new(ptr.cast::<u8>()).expect("mmap never returns null on success");
        let stack = Stack { base, len };
        THREAD_STACKS.with(|n| n.set(n.get() + 1));
        overflow::register(stack.guard_start(), stack.top_of_mapping());
        crate::valgrind::stack_register(&stack);
        Ok(stack)
    }

    /// Usable bytes between the guard page and the top.
    pub fn size(&self) -> usize {
        self.len - page_size()
    }

    /// Lowest usable address (just above the guard page).
    pub fn bottom(&self) -> *mut u8 {
        // SAFETY: one page into a mapping of `len > page` bytes stays inside it.
        unsafe { self.base.as_ptr().add(page_size()) }
    }

    /// Highest address a coroutine's frames may use: the top of the mapping minus the
    /// header that holds the name tag.
    pub fn top(&self) -> *mut u8 {
        // SAFETY: HEADER is far smaller than the mapping, so this stays inside it.
        unsafe { self.base.as_ptr().add(self.len - HEADER) }
    }

    fn top_of_mapping(&self) -> usize {
        self.base.as_ptr() as usize + self.len
    }

    fn guard_start(&self) -> usize {
        self.base.as_ptr() as usize
    }

    /// Records the name of the coroutine running on this stack, so an overflow report
    /// can name it. The tag borrows the name's bytes: it must be cleared with
    /// [`Stack::clear_name`] before they are freed.
    pub fn set_name(&self, name: Option<&str>) {
        let tag = match name {
            Some(n) => NameTag {
                ptr: n.as_ptr(),
                len: n.len(),
            },
            None => NameTag::EMPTY,
        };
        // SAFETY: the header is inside our mapping, readable and writable, 16-aligned,
        // and only this thread touches it.
        unsafe { self.top().cast::<NameTag>().write(tag) };
    }

    /// Forgets the name recorded by [`Stack::set_name`].
    pub fn clear_name(&self) {
        self.set_name(None);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        overflow::unregister(self.guard_start());
        crate::valgrind::stack_deregister(self);
        // SAFETY: unmapping exactly the mapping this Stack owns; nothing runs on it,
        // since a running or suspended coroutine owns its stack until it finishes.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
        LIVE_STACKS.fetch_sub(1, Ordering::Relaxed);
        let _ = THREAD_STACKS.try_with(|n| n.set(n.get() - 1));
    }
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("bottom", &self.bottom())
            .field("size", &self.size())
            .finish()
    }
}

/// Where a coroutine's name lives, written at the top of its stack.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct NameTag {
    pub(crate) ptr: *const u8,
    pub(crate) len: usize,
}

impl NameTag {
    const EMPTY: NameTag = NameTag {
        ptr: std::ptr::null(),
        len: 0,
    };
}

/// A per-thread cache of stacks, so making a coroutine costs no system call.
///
/// A fresh mmap + mprotect + munmap costs ~11 µs; taking a pooled stack costs a few
/// nanoseconds. Only stacks of the default size are cached; at most
/// [`StackPool::capacity`] of them are kept, the rest are unmapped when released.
pub struct StackPool {
    free: RefCell<Vec<Stack>>,
    capacity: Cell<usize>,
}

thread_local! {
    static POOL: StackPool = const {
        StackPool { free: RefCell::new(Vec::new()), capacity: Cell::new(1024) }
    };
}

impl StackPool {
    /// Runs `f` with this thread's pool.
    pub fn with<T>(f: impl FnOnce(&StackPool) -> T) -> T {
        POOL.with(f)
    }

    /// Like [`with`](Self::with), but `None` once the pool has been destroyed (late in
    /// the thread's exit) instead of a panic.
    pub fn try_with<T>(f: impl FnOnce(&StackPool) -> T) -> Option<T> {
        POOL.try_with(f).ok()
    }

    /// A stack with at least `size` usable bytes: a cached one when `size` is the
    /// default, otherwise a new mapping.
    pub fn take(&self, size: usize) -> Result<Stack, StackError> {
        if size == DEFAULT_STACK_SIZE
            && let Some(stack) = self.free.borrow_mut().pop()
        {
            return Ok(stack);
        }
        Stack::new(size)
    }

    /// Returns a stack for reuse. Nothing may run on it any more.
    pub fn give(&self, stack: Stack) {
        stack.clear_name();
        let mut free = self.free.borrow_mut();
        if stack.size() == DEFAULT_STACK_SIZE && free.len() < self.capacity.get() {
            free.push(stack);
        }
    }

    /// Most stacks kept for reuse on this thread.
    pub fn capacity(&self) -> usize {
        self.capacity.get()
    }

    /// Sets how many stacks this thread keeps for reuse, unmapping any excess now.
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.set(capacity);
        self.free.borrow_mut().truncate(capacity);
    }

    /// Stacks cached on this thread right now.
    pub fn cached(&self) -> usize {
        self.free.borrow().len()
    }
}

/// Takes a stack of `size` bytes from this thread's pool.
pub(crate) fn take(size: usize) -> Result<Stack, StackError> {
    POOL.with(|p| p.take(size))
}

/// Gives a stack back to this thread's pool; during thread teardown it is unmapped.
pub(crate) fn give(stack: Stack) {
    let mut stack = Some(stack);
    let _ = POOL.try_with(|p| p.give(stack.take().expect("given once")));
    drop(stack);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_has_guard_and_usable_pages() {
        let s = Stack::new(64 * 1024).unwrap();
        assert_eq!(s.size(), 64 * 1024);
        // The whole usable range can be written.
        // SAFETY: bottom..top is mapped read-write and owned by `s`.
        unsafe {
            s.bottom().write(1);
            s.top().sub(1).write(2);
        }
        assert!(overflow::is_guard(s.guard_start()));
        assert!(!overflow::is_guard(s.bottom() as usize));
    }

    #[test]
    fn pool_reuses_default_stacks() {
        let a = take(DEFAULT_STACK_SIZE).unwrap();
        let addr = a.bottom();
        give(a);
        let b = take(DEFAULT_STACK_SIZE).unwrap();
        assert_eq!(b.bottom(), addr);
        give(b);
    }

    #[test]
    fn odd_sizes_round_up() {
        let s = Stack::new(1).unwrap();
        assert_eq!(s.size(), MIN_STACK_SIZE);
        let s = Stack::new(MIN_STACK_SIZE + 1).unwrap();
        assert_eq!(s.size(), MIN_STACK_SIZE + page_size());
    }

    #[test]
    fn stacks_in_use_counts_this_threads_stacks_outside_the_pool() {
        let before = stacks_in_use();
        let a = take(DEFAULT_STACK_SIZE).unwrap();
        let b = Stack::new(MIN_STACK_SIZE).unwrap();
        assert_eq!(stacks_in_use(), before + 2);
        // Another thread's stacks are not counted here.
        std::thread::spawn(|| {
            let _c = Stack::new(MIN_STACK_SIZE).unwrap();
            assert_eq!(stacks_in_use(), 1);
        })
        .join()
        .unwrap();
        assert_eq!(stacks_in_use(), before + 2);
        give(a); // pooled: mapped but not in use
        assert_eq!(stacks_in_use(), before + 1);
        drop(b); // unmapped
        assert_eq!(stacks_in_use(), before);
    }

    #[test]
    fn pool_capacity_truncates() {
        StackPool::with(|p| {
            let stacks: Vec<_> = (0..4)
                .map(|_| p.take(DEFAULT_STACK_SIZE).unwrap())
                .collect();
            for s in stacks {
                p.give(s);
            }
            assert!(p.cached() >= 4);
            p.set_capacity(1);
            assert_eq!(p.cached(), 1);
            p.set_capacity(1024);
        });
    }
}
