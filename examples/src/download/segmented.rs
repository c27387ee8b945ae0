//! One large file over several connections (`-x N`, aria2's signature): byte ranges
//! written in place, reassembled in one file and checked before it is committed.
//!
//! A first request asks for byte 0 only. A 206 tells the size and the validator; the file
//! is then cut into `N` segments, and up to `N` workers (greenlets of this hub) take
//! segments in turn, each with `Range` and `If-Range`, writing at its offset
//! (`pwrite`). The download already holds one place of its host
//! ([`super::hosts`]); a worker beyond the first runs only if a further place is free
//! right now, so segments never take the host past its cap nor wait on each other. A
//! server that answers the probe with a 200 (no ranges) just sends the whole file, which
//! is kept: the download goes on as a plain one. Every segment must bring exactly its
//! length, under the same validator (a file changed meanwhile answers 200 to `If-Range`,
//! which a segment refuses), and the file must end up exactly as long as announced. An
//! unfinished segmented file is never kept for `--continue` (it has holes); a kept
//! `NAME.part` from a single-connection run resumes as one range.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::rc::Rc;

use hub::{JoinHandle, Semaphore};
use url::Url;

use super::client::{Client, Connector, Progress, RangeAsk, Sink};
use super::error::DownloadError;
use super::naming::OutputDir;
use super::{Saved, download_named};

/// Smallest segment worth a connection of its own.
pub const MIN_SEGMENT: u64 = 256 * 1024;

/// Downloads `url` into `dir` as `name` over up to `segments` connections. See the module.
pub fn download_segmented<C: Connector + 'static>(
    client: &Rc<Client<C>>,
    dir: &OutputDir,
    url: &Url,
    name: &str,
    segments: usize,
    host: &Semaphore,
    progress: Rc<dyn Fn(Progress)>,
) -> Result<Saved, DownloadError> {
    let mut part = dir.create_named(name).map_err(DownloadError::File)?;
    if part.resume_point().is_some() {
        // A kept partial file resumes as one range; segments are for fresh files.
        drop(part);
        return download_named(client, dir, url, name, &mut |p| progress(p));
    }
    let probe = RangeAsk {
        start: 0,
        end: Some(0),
        if_range: None,
    };
    let first = client.get_range(url, &mut part, &mut |p| progress(p), Some(&probe))?;
    let total = match (first.status, first.total) {
        (206, Some(total)) if total > 1 => total,
        // No ranges (a 200 brought the whole file), or a 0- or 1-byte file: done.
        _ => {
            let (path, placed) = part.place().map_err(DownloadError::File)?;
            return Ok(Saved {
                path,
                fetched: first,
                placed,
            });
        }
    };
    // From here the file has holes until every segment is in: never a resumable prefix.
    part.never_keep();
    let file = part.try_clone_file().map_err(DownloadError::File)?;
    file.set_len(total).map_err(DownloadError::File)?;

    let count = (segments as u64).min(total.div_ceil(MIN_SEGMENT)).max(1);
    let size = total.div_ceil(count);
    let queue: Rc<RefCell<VecDeque<(u64, u64)>>> = Rc::new(RefCell::new(
        (0..count)
            .map(|i| (i * size, ((i + 1) * size).min(total) - 1))
            .filter(|(start, end)| start <= end)
            .collect(),
    ));
    let done: Rc<Cell<u64>> = Rc::new(Cell::new(1));
    let shared = Rc::new(Shared {
        url: first.url.clone(),
        validator: first.validator.clone(),
        queue,
        done,
        total,
        progress,
    });

    // This greenlet is the first worker; others only with a free place of the host.
    let mut extra: Vec<JoinHandle<Result<u32, DownloadError>>> = Vec::new();
    let mut places = 0;
    while places + 1 < count as usize && host.try_acquire() {
        places += 1;
        let (client, shared, file) = (
            client.clone(),
            shared.clone(),
            file.try_clone().map_err(DownloadError::File)?,
        );
        extra.push(hub::spawn(move || work(&client, &shared, &file)));
    }
    let workers = Workers {
        handles: extra,
        host,
        places,
    };
    let mut retries = work(client, &shared, &file);
    for handle in &workers.handles {
        let result = handle
            .join()
            .unwrap_or_else(|e| Err(DownloadError::Aborted(e.to_string())));
        retries = match (retries, result) {
            (Ok(a), Ok(b)) => Ok(a + b),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    drop(workers);
    let retries = retries?;

    let len = file.metadata().map_err(DownloadError::File)?.len();
    if shared.done.get() < total || len != total {
        return Err(DownloadError::Incomplete {
            received: shared.done.get(),
            expected: Some(total),
        });
    }
    let (path, placed) = part.place().map_err(DownloadError::File)?;
    Ok(Saved {
        path,
        fetched: super::Fetched {
            bytes: total,
            total: Some(total),
            offset: 0,
            retries: first.retries + retries,
            ..first
        },
        placed,
    })
}

/// What the workers of one file share.
struct Shared {
    url: Url,
    validator: Option<String>,
    queue: Rc<RefCell<VecDeque<(u64, u64)>>>,
    /// Bytes written so far, the probe's first byte included.
    done: Rc<Cell<u64>>,
    total: u64,
    progress: Rc<dyn Fn(Progress)>,
}

/// Kills the extra workers if the download ends early (an error, a signal), and gives
/// their places back to the host.
struct Workers<'a> {
    handles: Vec<JoinHandle<Result<u32, DownloadError>>>,
    host: &'a Semaphore,
    places: usize,
}

impl Drop for Workers<'_> {
    fn drop(&mut self) {
        self.handles.iter().for_each(JoinHandle::kill_nowait);
        for _ in 0..self.places {
            self.host.release();
        }
    }
}

/// Takes segments until none is left; returns the retries spent.
fn work<C: Connector>(
    client: &Client<C>,
    shared: &Shared,
    file: &File,
) -> Result<u32, DownloadError> {
    let mut retries = 0;
    loop {
        let Some((start, end)) = shared.queue.borrow_mut().pop_front() else {
            return Ok(retries);
        };
        // Byte 0 came with the probe.
        let start = start.max(1).min(end);
        if start > end {
            continue;
        }
        let ask = RangeAsk {
            start,
            end: Some(end),
            if_range: shared.validator.clone(),
        };
        let mut sink = Segment {
            file,
            start,
            end,
            pos: start,
        };
        let mut last = 0;
        let fetched = client.get_range(
            &shared.url,
            &mut sink,
            &mut |p| {
                let now = p.received.saturating_sub(start);
                if now >= last {
                    shared.done.set(shared.done.get() + now - last);
                } else {
                    shared.done.set(shared.done.get() - (last - now));
                }
                last = now;
                (shared.progress)(Progress {
                    received: shared.done.get(),
                    total: Some(shared.total),
                });
            },
            Some(&ask),
        )?;
        if fetched.offset != start || fetched.bytes != end - start + 1 {
            return Err(DownloadError::Protocol(format!(
                "segment {start}-{end} came back as {} bytes from {}",
                fetched.bytes, fetched.offset
            )));
        }
        retries += fetched.retries;
    }
}

/// Bytes `start..=end` of a file, written in place.
struct Segment<'a> {
    file: &'a File,
    start: u64,
    end: u64,
    pos: u64,
}

impl Write for Segment<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = (self.end + 1).saturating_sub(self.pos);
        if buf.len() as u64 > room {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than the {}-byte segment", self.end - self.start + 1),
            ));
        }
        self.file.write_all_at(buf, self.pos)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Segment<'_> {
    fn restart(&mut self) -> io::Result<()> {
        self.start_at(0)
    }

    /// Only the segment's own start: a 200 (the whole file, a changed version) is refused.
    fn start_at(&mut self, offset: u64) -> io::Result<()> {
        if offset != self.start {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "asked for bytes {}-{} and the server sent the file from byte {offset} \
                     (it changed, or stopped honouring ranges)",
                    self.start, self.end
                ),
            ));
        }
        self.pos = self.start;
        Ok(())
    }
}
