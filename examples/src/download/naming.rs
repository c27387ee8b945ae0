//! Local file names for downloaded URLs, and the files themselves.
//!
//! A URL is untrusted input: its path may hold `..`, encoded slashes (`%2F`, `%5C`), control
//! characters, or nothing at all. [`file_name_for`] turns it into a single plain path
//! component, and [`OutputDir`] refuses anything else, so a download can only ever land
//! directly inside the output directory.
//!
//! Files are written under a hidden temporary name and renamed into place by
//! [`PartFile::commit`]; dropping an uncommitted [`PartFile`] deletes it. A failed download
//! therefore never leaves a truncated file under its final name, and a file from an earlier
//! run with the same name is replaced atomically only once the new one is complete.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use percent_encoding::percent_decode_str;
use url::Url;

use super::client::Sink;

/// Longest file name produced, in bytes. Leaves room under the usual 255-byte limit for a
/// duplicate suffix and the temporary-name decoration.
pub const MAX_NAME_BYTES: usize = 200;

/// Name used when the URL has no usable last path segment (`http://host/`, `/dir/`).
pub const FALLBACK_NAME: &str = "index.html";

/// Extensions longer than this are treated as part of the stem when truncating or suffixing.
const MAX_EXT_BYTES: usize = 16;

/// The local file name for `url`: its last path segment, percent-decoded and sanitized by
/// [`sanitize_file_name`]. The query and fragment are ignored; duplicates are resolved by
/// [`OutputDir::reserve`], not here.
///
/// ```
/// use examples::download::file_name_for;
/// use url::Url;
///
/// let name = |s| file_name_for(&Url::parse(s).unwrap());
/// assert_eq!(name("http://h/videos/cat%20clip.mp4?t=3"), "cat clip.mp4");
/// assert_eq!(name("http://h/..%2F..%2Fetc%2Fpasswd"), "_.._etc_passwd");
/// assert_eq!(name("http://h/"), "index.html");
/// ```
pub fn file_name_for(url: &Url) -> String {
    let last = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or("");
    sanitize_file_name(&percent_decode_str(last).decode_utf8_lossy())
}

/// Makes `raw` a safe single path component: path separators, control characters and the
/// characters Windows reserves become `_`; leading dots and spaces are removed (no `..`, no
/// hidden files), trailing ones too; the result is cut to [`MAX_NAME_BYTES`] keeping a short
/// extension; an empty result becomes [`FALLBACK_NAME`].
pub fn sanitize_file_name(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = mapped
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return FALLBACK_NAME.to_owned();
    }
    truncate(trimmed, MAX_NAME_BYTES)
}

/// Splits `name` into stem and extension (with its dot), if the extension is short.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXT_BYTES => name.split_at(dot),
        _ => (name, ""),
    }
}

fn truncate(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = split_ext(name);
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// `name` with `-n` inserted before its extension: `clip.mp4` → `clip-2.mp4`.
fn with_suffix(name: &str, n: usize) -> String {
    let (stem, ext) = split_ext(name);
    format!("{stem}-{n}{ext}")
}

/// Whether `name` is exactly one ordinary path component.
fn is_plain_component(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    ) && !name.contains(['/', '\\', '\0'])
}

/// The directory downloads go into. It hands out names unique within this run and creates
/// the [`PartFile`]s that become the downloaded files.
///
/// Shared by all concurrent downloads (`&self` methods; the lock is held only to update the
/// set of names, never across I/O, so greenlets on one thread cannot deadlock on it).
#[derive(Debug)]
pub struct OutputDir {
    root: PathBuf,
    taken: Mutex<HashSet<String>>,
    /// This process's id, for temporary names; read once, as `process::id` is a syscall.
    pid: u32,
}

impl OutputDir {
    /// Uses `path` as the output directory, creating it if needed.
    pub fn new(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        fs::create_dir_all(path).map_err(|e| with_path(e, path))?;
        Ok(Self {
            root: fs::canonicalize(path).map_err(|e| with_path(e, path))?,
            taken: Mutex::default(),
            pid: std::process::id(),
        })
    }

    /// The directory, canonicalized.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Reserves a name for this run: `name` sanitized, with `-1`, `-2`, … before the
    /// extension if an earlier download already took it. Files already on disk from earlier
    /// runs do not count; they are replaced when the new download commits.
    pub fn reserve(&self, name: &str) -> String {
        let base = sanitize_file_name(name);
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let mut candidate = base.clone();
        // Terminates: each turn tries a new suffix and only `taken.len()` names can clash.
        let mut n = 1;
        while !taken.insert(candidate.clone()) {
            candidate = with_suffix(&base, n);
            n += 1;
        }
        candidate
    }

    /// Reserves a name for `url` (see [`file_name_for`]) and opens its temporary file.
    pub fn create(&self, url: &Url) -> io::Result<PartFile> {
        self.create_named(&file_name_for(url))
    }

    /// Reserves a name derived from `name` and opens its temporary file.
    pub fn create_named(&self, name: &str) -> io::Result<PartFile> {
        let name = self.reserve(name);
        // Sanitizing already guarantees this; checked again because it is the one property
        // that must never fail.
        if !is_plain_component(&name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsafe file name {name:?}"),
            ));
        }
        let dest = self.root.join(&name);
        let temp = self.root.join(format!(".{name}.{}.part", self.pid));
        let file = create_fresh(&temp)?;
        Ok(PartFile {
            file,
            temp,
            dest,
            committed: false,
        })
    }
}

/// Creates `path` exclusively (`O_EXCL` never follows a planted symlink), replacing a stale
/// leftover of a crashed run once.
fn create_fresh(path: &Path) -> io::Result<File> {
    let open = || OpenOptions::new().write(true).create_new(true).open(path);
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(path).and_then(|()| open())
        }
        r => r,
    }
    .map_err(|e| with_path(e, path))
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// A download in progress: a hidden temporary file that becomes the final file on
/// [`commit`](Self::commit) and is deleted if dropped before.
#[derive(Debug)]
pub struct PartFile {
    file: File,
    temp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl PartFile {
    /// Where the file will be once committed.
    pub fn path(&self) -> &Path {
        &self.dest
    }

    /// Where the bytes are written until then.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Renames the temporary file to its final name and returns that path. The rename is
    /// atomic, so readers see either the previous file or the whole new one.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        self.file.flush().map_err(|e| with_path(e, &self.temp))?;
        fs::rename(&self.temp, &self.dest).map_err(|e| with_path(e, &self.dest))?;
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Write for PartFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf).map_err(|e| with_path(e, &self.temp))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| with_path(e, &self.temp))
    }
}

impl Sink for PartFile {
    fn restart(&mut self) -> io::Result<()> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.rewind())
            .map_err(|e| with_path(e, &self.temp))
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the error has nowhere to go, and the name is hidden anyway.
            let _ = fs::remove_file(&self.temp);
        }
    }
}
