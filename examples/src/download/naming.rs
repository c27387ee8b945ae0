//! Local file names for downloaded URLs, and the files themselves.
//!
//! A URL is untrusted input: its path may hold `..`, encoded slashes (`%2F`, `%5C`), control
//! characters, or nothing at all. [`file_name_for`] turns it into a single plain path
//! component, and [`OutputDir`] refuses anything else, so a download can only ever land
//! directly inside the output directory.
//!
//! Files are written under a hidden temporary name and renamed into place by
//! [`PartFile::commit`]; dropping an uncommitted [`PartFile`] deletes it. A failed download
//! therefore never leaves a truncated file under its final name.
//!
//! A file already on disk is never destroyed unless asked: by default the new one is saved
//! as `name-1`, `name-2`… ([`Placed::Renamed`]); the commit links the temporary file to its
//! name with `link(2)`, which fails instead of replacing, so even a file created between
//! the choice of the name and the commit survives. [`OutputDir::overwrite`] replaces
//! instead ([`Placed::Replaced`]), atomically once the new file is complete.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

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
    overwrite: bool,
    /// `--continue`: resume from `NAME.part`, keep partial files of failed downloads.
    resume: bool,
    /// Partial files this run kept or removed, for the closing report.
    partials: Arc<Mutex<Partials>>,
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
            overwrite: false,
            resume: false,
            partials: Arc::default(),
            taken: Mutex::default(),
            pid: std::process::id(),
        })
    }

    /// Whether files already on disk are replaced (`--overwrite`) rather than kept, the new
    /// file then taking the next free `name-N`.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// `--continue`: a download whose `NAME.part` exists resumes from it, and a download
    /// that fails or is interrupted leaves what it got as `NAME.part` (its validator for
    /// `If-Range` beside it, in `.NAME.part.validator`) instead of deleting it.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Whether partial files are kept and resumed.
    pub fn resumes(&self) -> bool {
        self.resume
    }

    /// The partial files this run has kept (for `--continue`) and removed so far.
    pub fn partials(&self) -> Partials {
        self.partials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Removes the hidden `.NAME.PID.part` files that runs no longer alive left behind
    /// (killed, or a second Ctrl-C); with [`resume`](Self::resume) they become `NAME.part`
    /// instead, to be resumed. Returns what it removed or adopted.
    pub fn clean_stale(&self) -> io::Result<Vec<PathBuf>> {
        let mut handled = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some((name, pid)) = file_name.to_str().and_then(parse_temp_name) else {
                continue;
            };
            if pid == self.pid || process_alive(pid) || !entry.file_type()?.is_file() {
                continue;
            }
            let path = entry.path();
            let kept = self.root.join(kept_name(name));
            if self.resume && fs::symlink_metadata(&kept).is_err() {
                fs::rename(&path, &kept)?;
            } else {
                fs::remove_file(&path)?;
            }
            handled.push(path);
        }
        Ok(handled)
    }

    /// The directory, canonicalized.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Reserves a name for this run: `name` sanitized, with `-1`, `-2`, … before the
    /// extension if an earlier download of this run took it or (unless
    /// [`overwrite`](Self::overwrite)) a file of that name is already on disk.
    pub fn reserve(&self, name: &str) -> String {
        let base = sanitize_file_name(name);
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let mut candidate = base.clone();
        // Terminates: each turn tries a new suffix, and only the names of this run and of
        // the directory's entries can clash.
        let mut n = 1;
        while taken.contains(&candidate) || (!self.overwrite && self.on_disk(&candidate)) {
            candidate = with_suffix(&base, n);
            n += 1;
        }
        taken.insert(candidate.clone());
        candidate
    }

    fn on_disk(&self, name: &str) -> bool {
        // A dangling symlink is an entry too: never link over it.
        fs::symlink_metadata(self.root.join(name)).is_ok()
    }

    /// Reserves a name for `url` (see [`file_name_for`]) and opens its temporary file.
    pub fn create(&self, url: &Url) -> io::Result<PartFile> {
        self.create_named(&file_name_for(url))
    }

    /// Reserves a name derived from `name` and opens its temporary file.
    pub fn create_named(&self, name: &str) -> io::Result<PartFile> {
        let wanted = sanitize_file_name(name);
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
        let kept = self.root.join(kept_name(&wanted));
        let (file, resume_from, validator) = match self.adopt(&kept, &temp)? {
            Some((file, len, validator)) => (file, len, validator),
            None => (create_fresh(&temp)?, 0, None),
        };
        Ok(PartFile {
            file,
            temp,
            dest,
            wanted,
            overwrite: self.overwrite,
            keep: self.resume.then_some(kept),
            resume_from,
            validator,
            partials: self.partials.clone(),
            committed: false,
        })
    }

    /// With `--continue`, takes `kept` (a `NAME.part`) over as this download's temporary
    /// file: renamed first, so two runs never append to the same one.
    fn adopt(&self, kept: &Path, temp: &Path) -> io::Result<Option<(File, u64, Option<String>)>> {
        if !self.resume || !fs::symlink_metadata(kept).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let sidecar = validator_path(kept);
        let validator = fs::read_to_string(&sidecar)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty() && !v.contains(['\r', '\n']));
        match fs::rename(kept, temp) {
            Ok(()) => {}
            // Another run took it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(with_path(e, kept)),
        }
        let _ = fs::remove_file(&sidecar);
        let file = OpenOptions::new()
            .write(true)
            .open(temp)
            .map_err(|e| with_path(e, temp))?;
        let len = file.metadata().map_err(|e| with_path(e, temp))?.len();
        Ok(Some((file, len, validator)))
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

/// `EPERM`, what `link(2)` says on file systems without hard links (FAT, some FUSE).
const fn libc_eperm() -> i32 {
    1
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
    /// The name asked for, before any `-N` suffix.
    wanted: String,
    overwrite: bool,
    /// With `--continue`: where an unfinished file is kept (`NAME.part`).
    keep: Option<PathBuf>,
    /// Bytes already there from an earlier run (a resumed `NAME.part`).
    resume_from: u64,
    /// The validator of the response the bytes came from.
    validator: Option<String>,
    partials: Arc<Mutex<Partials>>,
    committed: bool,
}

/// The partial files of a run: kept for `--continue`, or removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partials {
    /// `(NAME.part, bytes)`.
    pub kept: Vec<(PathBuf, u64)>,
    pub removed: usize,
}

/// `NAME.part`: where `--continue` keeps an unfinished download.
fn kept_name(name: &str) -> String {
    format!("{name}.part")
}

/// `.NAME.part.validator`, beside a kept `NAME.part`.
fn validator_path(kept: &Path) -> PathBuf {
    let name = kept.file_name().unwrap_or_default().to_string_lossy();
    kept.with_file_name(format!(".{name}.validator"))
}

/// `.NAME.PID.part` → `(NAME, PID)`.
fn parse_temp_name(file_name: &str) -> Option<(&str, u32)> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(".part")?;
    let (name, pid) = inner.rsplit_once('.')?;
    let pid = pid
        .parse()
        .ok()
        .filter(|_| pid.bytes().all(|b| b.is_ascii_digit()))?;
    (!name.is_empty()).then_some((name, pid))
}

/// Whether process `pid` exists. A PID reused by an unrelated process reads as alive: its
/// files are then left alone, the safe side. Without a `/proc` to ask, every process
/// reads as alive and nothing is removed.
fn process_alive(pid: u32) -> bool {
    !Path::new("/proc/self").exists() || Path::new("/proc").join(pid.to_string()).exists()
}

/// How a committed file took its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// Under the name asked for, which was free.
    New,
    /// Under `name-N`: the name asked for (`wanted`) was taken on disk or by another
    /// download of this run.
    Renamed { wanted: String },
    /// Over a file of the same name, as `--overwrite` asks.
    Replaced,
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

    /// Never keep this file as `NAME.part`, even with `--continue`: its bytes are not a
    /// prefix of the file (a segmented download writes ranges anywhere in it).
    pub fn never_keep(&mut self) {
        self.keep = None;
    }

    /// Another handle on the temporary file (for writes at offsets from other greenlets).
    pub fn try_clone_file(&self) -> io::Result<File> {
        self.file.try_clone().map_err(|e| with_path(e, &self.temp))
    }

    /// Where to resume: the bytes already held from an earlier run and their validator
    /// for `If-Range`; `None` for a fresh file.
    pub fn resume_point(&self) -> Option<(u64, Option<String>)> {
        (self.resume_from > 0).then(|| (self.resume_from, self.validator.clone()))
    }

    /// Gives the temporary file its final name and returns that path; see [`place`].
    ///
    /// [`place`]: Self::place
    pub fn commit(self) -> io::Result<PathBuf> {
        self.place().map(|(path, _)| path)
    }

    /// Gives the temporary file its final name: with `--overwrite` an atomic rename over
    /// whatever is there; otherwise a `link(2)` that never replaces, moving on to the next
    /// `name-N` if the name was taken meanwhile. Returns the path and how it was placed.
    pub fn place(mut self) -> io::Result<(PathBuf, Placed)> {
        self.file.flush().map_err(|e| with_path(e, &self.temp))?;
        let placed = if self.overwrite {
            let existed = fs::symlink_metadata(&self.dest).is_ok();
            fs::rename(&self.temp, &self.dest).map_err(|e| with_path(e, &self.dest))?;
            if existed {
                Placed::Replaced
            } else {
                Placed::New
            }
        } else {
            self.link_without_replacing()?;
            fs::remove_file(&self.temp).map_err(|e| with_path(e, &self.temp))?;
            let name = self.dest.file_name().map(|n| n.to_string_lossy());
            if name.as_deref() == Some(self.wanted.as_str()) {
                Placed::New
            } else {
                Placed::Renamed {
                    wanted: self.wanted.clone(),
                }
            }
        };
        self.committed = true;
        Ok((self.dest.clone(), placed))
    }

    fn link_without_replacing(&mut self) -> io::Result<()> {
        let base = self.wanted.clone();
        let mut n = 0;
        loop {
            match fs::hard_link(&self.temp, &self.dest) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    n += 1;
                    self.dest.set_file_name(with_suffix(&base, n));
                }
                // A file system without hard links: check, then rename (a small window
                // in which a file created by someone else could be replaced).
                Err(e) if e.raw_os_error() == Some(libc_eperm()) => {
                    while fs::symlink_metadata(&self.dest).is_ok() {
                        n += 1;
                        self.dest.set_file_name(with_suffix(&base, n));
                    }
                    return fs::rename(&self.temp, &self.dest)
                        .map_err(|e| with_path(e, &self.dest));
                }
                Err(e) => return Err(with_path(e, &self.dest)),
            }
        }
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
        self.start_at(0)
    }

    fn start_at(&mut self, offset: u64) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if offset > len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: a body from byte {offset} of a {len}-byte file",
                    self.temp.display()
                ),
            ));
        }
        self.file
            .set_len(offset)
            .and_then(|()| self.file.seek(SeekFrom::Start(offset)).map(drop))
            .map_err(|e| with_path(e, &self.temp))
    }

    fn note_validator(&mut self, validator: Option<&str>) {
        self.validator = validator.map(str::to_owned);
    }

    fn position(&self) -> Option<u64> {
        self.file.metadata().ok().map(|m| m.len())
    }
}

impl Drop for PartFile {
    /// An unfinished download: kept as `NAME.part` with `--continue` (if it holds any
    /// byte), else deleted. Best effort: errors have nowhere to go from here.
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let mut partials = self.partials.lock().unwrap_or_else(PoisonError::into_inner);
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        if let Some(kept) = self.keep.as_ref().filter(|_| len > 0)
            && fs::rename(&self.temp, kept).is_ok()
        {
            if let Some(validator) = &self.validator {
                let _ = fs::write(validator_path(kept), validator);
            }
            partials.kept.push((kept.clone(), len));
            return;
        }
        if fs::remove_file(&self.temp).is_ok() && len > 0 {
            partials.removed += 1;
        }
    }
}
