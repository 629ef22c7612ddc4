//! Persisting a [`TokenCache`] to a plain JSON file, the form every MSAL can
//! share: read and written as a stream (no copy of the whole document is
//! built in memory, which matters at tens of megabytes), written atomically
//! (a temporary file renamed over the old one, owner-only permissions, the
//! directory synced after the rename), so a crash never leaves half a cache.
//! A save killed midway leaves its temporary file behind; the next save
//! removes those whose writer is gone. A path that is not a regular file
//! (a FIFO, a device, a directory) is refused at once instead of blocking,
//! and a symbolic link is written through, so the link stays a link.

use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::index::Indexed;
use super::schema::wire::Loaded;
use super::{TokenCache, malformed};
use crate::error::CacheError;

/// Large enough that a 40 MB cache takes few system calls.
const BUFFER: usize = 256 * 1024;

/// Reading: smaller, as the buffer is held beside the whole cache being
/// built (a write's is beside a finished one); a system call per 64 KiB
/// is still noise next to parsing them.
const READ_BUFFER: usize = 64 * 1024;

impl TokenCache {
    /// Loads a cache file. A missing or blank file is an empty cache; a
    /// malformed one is a [`CacheError::Malformed`] and is left untouched on
    /// disk.
    pub fn load_from_file(path: &Path) -> Result<Self, CacheError> {
        if !regular_or_missing(path)? {
            return Err(not_a_file(path));
        }
        let file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::new()),
            Err(source) => return Err(io_error(path, source)),
        };
        let mut reader = BufReader::with_capacity(
            READ_BUFFER,
            Blank {
                inner: file,
                content: false,
            },
        );
        let fresh = match serde_json::from_reader::<_, Loaded>(&mut reader) {
            Ok(loaded) => Indexed::loaded(loaded),
            Err(e) if e.is_io() => return Err(io_error(path, io::Error::from(e))),
            // Like `deserialize("")`: nothing but whitespace is an empty cache.
            Err(e) if e.is_eof() && !reader.get_ref().content => Indexed::default(),
            // Lone surrogate escapes: read again, whole, with them replaced
            // (see the `surrogates` module); rare, so the stream stays the rule.
            Err(e) if super::surrogates::is_lone_surrogate(&e) => {
                let text = fs::read_to_string(path).map_err(|source| io_error(path, source))?;
                let cache = Self::new();
                cache.deserialize(&text)?;
                return Ok(cache);
            }
            Err(e) => return Err(malformed(&e)),
        };
        let cache = Self::new();
        cache.install(fresh);
        Ok(cache)
    }

    /// Writes the cache to `path` atomically, creating parent directories.
    /// Resets [`has_state_changed`](Self::has_state_changed).
    pub fn save_to_file(&self, path: &Path) -> Result<(), CacheError> {
        if !regular_or_missing(path)? {
            return Err(not_a_file(path));
        }
        // Through a symbolic link to the file it names, so the link survives.
        let target = match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                fs::canonicalize(path).map_err(|e| io_error(path, e))?
            }
            _ => path.to_owned(),
        };
        let path = target.as_path();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("cache");
        remove_abandoned_temporaries(dir, file_name);
        let temp = dir.join(format!(
            ".{file_name}.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let result = self.write_private(&temp).and_then(|()| fs::rename(&temp, path));
        if let Err(source) = result {
            let _ = fs::remove_file(&temp);
            return Err(io_error(path, source));
        }
        sync_directory(dir);
        Ok(())
    }

    /// Streams the cache into a new owner-only file and syncs it to disk
    /// (after the cache's lock is released).
    fn write_private(&self, path: &Path) -> io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Tokens are credentials: only the owner may read them.
            options.mode(0o600);
        }
        let mut writer = BufWriter::with_capacity(BUFFER, options.open(path)?);
        self.write_json(&mut writer).map_err(io::Error::from)?;
        writer.flush()?;
        let file = writer.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()
    }
}

/// Whether `path` is a regular file (following links), or absent.
fn regular_or_missing(path: &Path) -> Result<bool, CacheError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(meta.is_file()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_error(path, e)),
    }
}

fn not_a_file(path: &Path) -> CacheError {
    io_error(
        path,
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a directory, FIFO or device cannot hold a token cache)",
        ),
    )
}

/// Removes `.{file_name}.{pid}.{id}.tmp` files left by saves whose process
/// is gone (killed mid-write): each holds a full copy of the cache, tokens
/// included. A live writer's file is left alone.
fn remove_abandoned_temporaries(dir: &Path, file_name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{file_name}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let writer = rest.split('.').next().and_then(|pid| pid.parse::<u32>().ok());
        let abandoned = match writer {
            Some(pid) if pid == std::process::id() => false,
            Some(pid) => !process_alive(pid),
            // An older save's name (no pid): abandoned once it is a minute old.
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60)),
        };
        if abandoned {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` exists. Where that cannot be told (no `/proc`),
/// it is assumed alive: a leftover file is better than a removed live one.
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// Makes the rename durable: the directory entry is synced too (Unix; a
/// no-op where directories cannot be opened).
fn sync_directory(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// A reader that notes whether anything but whitespace went through it, so a
/// blank file can be told from a truncated one without reading it twice.
struct Blank<R> {
    inner: R,
    content: bool,
}

impl<R: Read> Read for Blank<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.content {
            self.content = buf
                .get(..n)
                .is_some_and(|read| read.iter().any(|b| !b.is_ascii_whitespace()));
        }
        Ok(n)
    }
}

fn io_error(path: &Path, source: io::Error) -> CacheError {
    CacheError::Io {
        path: path.display().to_string(),
        source: std::sync::Arc::new(source),
    }
}
