//! Reading fingerprinted files safely: regular files only, with plain reads.
//!
//! The path is checked first, so a FIFO or a device is reported without being opened at all
//! (opening a FIFO would release a writer blocked on it; opening some devices has effects).
//! The file is then opened non-blocking and the opened handle checked again, so a file swapped
//! for a FIFO between the check and the open neither blocks nor gets read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The result of opening a source file.
pub enum Opened {
    File { file: File, len: u64 },
    Missing,
    Unreadable(String),
}

pub fn open_regular(path: &Path) -> Opened {
    match std::fs::metadata(path) {
        Err(e) => return classify_open_error(&e),
        Ok(meta) if !meta.is_file() => {
            return Opened::Unreadable(format!("not a regular file ({})", kind_of(&meta)))
        }
        Ok(_) => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) => return classify_open_error(&e),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Opened::Unreadable(e.to_string()),
    };
    if !meta.is_file() {
        return Opened::Unreadable(format!("not a regular file ({})", kind_of(&meta)));
    }
    Opened::File {
        len: meta.len(),
        file,
    }
}

fn classify_open_error(e: &std::io::Error) -> Opened {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => Opened::Missing,
        ErrorKind::PermissionDenied => Opened::Unreadable("permission denied".into()),
        _ => Opened::Unreadable(e.to_string()),
    }
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Reads the whole file with plain reads.
pub fn read_all(file: &mut File, len_hint: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len_hint as usize);
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Streams the file through `sink` in 64 KiB reads.
pub fn stream(file: &mut File, mut sink: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The first `limit` bytes of a regular file (never a FIFO or device put in its place), for a
/// value preview; `None` when it cannot be read (the preview says so).
pub fn read_head(path: &Path, limit: usize) -> Option<Vec<u8>> {
    let Opened::File { file, .. } = open_regular(path) else {
        return None;
    };
    let mut head = Vec::with_capacity(limit.min(64 * 1024));
    file.take(limit as u64).read_to_end(&mut head).ok()?;
    Some(head)
}
