//! What the user sees while downloads run: per-file progress bars (indicatif) when stdout
//! is a terminal, otherwise the tutorials' plain lines, one per finished URL.
//!
//! The scheduler tells an [`Observer`] when each URL starts, progresses and finishes;
//! [`Report`] is the observer the programs use. Plain output is what scripts and tests
//! read, so its lines are fixed:
//!
//! - success, on stdout: `N bytes received from URL.` ([`received_line`]);
//! - failure, on stderr: `failed URL: reason` ([`failed_line`]);
//! - the closing summary, on stdout: `summary: 6 files, 37.6 MiB in 0.52 s (72.3 MiB/s),
//!   0 failed`.
//!
//! With bars, the same lines are printed above the bars as each file finishes, so the
//! terminal ends up with the same record.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{
    DownloadError, Partials, Placed, Progress, Saved, Summary, failed_line, received_line,
};

/// Receives the life of each download. `index` is the URL's position in the list given to
/// the scheduler; calls for one index come in order (`started`, `progress`…, `finished`).
pub trait Observer {
    /// The download of `url` begins (its greenlet got a place in the pool).
    fn started(&self, _index: usize, _url: &str) {}

    /// A body is arriving. `received == 0` marks its start, or its restart after a retry.
    fn progress(&self, _index: usize, _progress: Progress) {}

    /// The download ended, saved or failed.
    fn finished(&self, _index: usize, _url: &str, _result: &Result<Saved, DownloadError>) {}
}

/// An observer that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {}

/// Terminal output for the downloader and the tutorials' twins: bars or plain lines.
pub struct Report {
    bars: Option<Bars>,
}

struct Bars {
    multi: MultiProgress,
    known: ProgressStyle,
    open_ended: ProgressStyle,
    active: RefCell<HashMap<usize, ProgressBar>>,
}

impl Report {
    /// Bars if stdout is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        if io::stdout().is_terminal() {
            Self::with_bars()
        } else {
            Self::plain()
        }
    }

    /// Plain lines only.
    pub fn plain() -> Self {
        Self { bars: None }
    }

    /// Progress bars on stdout.
    pub fn with_bars() -> Self {
        let template = |t: &str| ProgressStyle::with_template(t).expect("a valid template");
        Self {
            bars: Some(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                known: template(
                    "{msg:28!} {bar:30.cyan/blue} {binary_bytes:>10}/{binary_total_bytes:<10} \
                     {binary_bytes_per_sec:>12} {eta:>4}",
                )
                .progress_chars("=> "),
                open_ended: template(
                    "{msg:28!} {spinner:.cyan} {binary_bytes:>10} {binary_bytes_per_sec:>12}",
                ),
                active: RefCell::default(),
            }),
        }
    }

    /// Whether progress bars are drawn.
    pub fn has_bars(&self) -> bool {
        self.bars.is_some()
    }

    /// A line on stdout (above the bars, if any).
    pub fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(text);
            }
            None => {
                let mut out = io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }

    /// A line about a failure: stderr in plain mode, above the bars otherwise.
    pub fn error_line(&self, text: &str) {
        match &self.bars {
            Some(_) => self.line(text),
            None => eprintln!("{text}"),
        }
    }

    /// What happened to the run's partial files, if anything: kept for `--continue`, or
    /// removed.
    pub fn partials(&self, partials: &Partials) {
        for (path, bytes) in &partials.kept {
            self.line(&format!(
                "kept partial file {} ({bytes} bytes): run again with --continue to resume",
                path.display()
            ));
        }
        if partials.removed > 0 {
            self.line(&format!(
                "removed {} partial file{} (use --continue to keep them)",
                partials.removed,
                if partials.removed == 1 { "" } else { "s" }
            ));
        }
    }

    /// The closing summary line.
    pub fn summary(&self, summary: &Summary) {
        if let Some(bars) = &self.bars {
            let _ = bars.multi.clear();
        }
        self.line(&format!("summary: {summary}"));
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for Report {
    fn started(&self, index: usize, url: &str) {
        let Some(bars) = &self.bars else { return };
        let bar = bars.multi.add(ProgressBar::no_length());
        bar.set_style(bars.open_ended.clone());
        bar.set_message(short_name(url).to_owned());
        bars.active.borrow_mut().insert(index, bar);
    }

    fn progress(&self, index: usize, progress: Progress) {
        let Some(bars) = &self.bars else { return };
        let active = bars.active.borrow();
        let Some(bar) = active.get(&index) else {
            return;
        };
        if progress.received == 0 {
            match progress.total {
                Some(total) => {
                    bar.set_style(bars.known.clone());
                    bar.set_length(total);
                }
                None => {
                    bar.set_style(bars.open_ended.clone());
                    bar.unset_length();
                }
            }
            bar.reset();
        } else if let Some(total) = progress.total
            && bar.length() != Some(total)
        {
            // A resumed or segmented body starts past 0: its size comes with it.
            bar.set_style(bars.known.clone());
            bar.set_length(total);
        }
        bar.set_position(progress.received);
    }

    fn finished(&self, index: usize, url: &str, result: &Result<Saved, DownloadError>) {
        if let Some(bars) = &self.bars
            && let Some(bar) = bars.active.borrow_mut().remove(&index)
        {
            bar.finish_and_clear();
            bars.multi.remove(&bar);
        }
        match result {
            Ok(saved) => {
                self.line(&received_line(saved.fetched.bytes, url));
                if saved.fetched.offset > 0 {
                    self.line(&format!(
                        "  resumed at byte {} of a kept partial file",
                        saved.fetched.offset
                    ));
                }
                if let Some(note) = placed_line(saved) {
                    self.line(&note);
                }
            }
            Err(e) => self.error_line(&failed_line(url, e)),
        }
    }
}

/// The line saying a file did not simply take its name: `  saved as clip-1.mp4
/// (clip.mp4 was taken)` or `  replaced clip.mp4`.
pub fn placed_line(saved: &Saved) -> Option<String> {
    let name = saved.path.file_name()?.to_string_lossy();
    match &saved.placed {
        Placed::New => None,
        Placed::Renamed { wanted } => Some(format!("  saved as {name} ({wanted} was taken)")),
        Placed::Replaced => Some(format!("  replaced {name}")),
    }
}

/// The part of a URL worth showing next to a bar: its last path segment, or the URL.
fn short_name(url: &str) -> &str {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let after_scheme = without_query
        .split_once("://")
        .map_or(without_query, |(_, rest)| rest);
    match after_scheme.split_once('/') {
        Some((_, path)) => path
            .split('/')
            .rfind(|segment| !segment.is_empty())
            .unwrap_or(url),
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn bar_labels() {
        assert_eq!(short_name("http://h/a/b.jpg?x=1"), "b.jpg");
        assert_eq!(short_name("http://h/"), "http://h/");
        assert_eq!(short_name("http://h"), "http://h");
        assert_eq!(short_name("http://h/dir/"), "dir");
    }
}
