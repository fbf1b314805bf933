//! Where the reading of a followed log file stopped.

/// How far `shrike run` read one file it follows, stored in the same transaction as the
/// sessions built from those bytes: a restart resumes exactly there, no line twice and none
/// lost. A file is known by its device and inode (a rotation by rename keeps them; a new file
/// under the followed name has others) and by its first bytes (a truncation in place, as
/// `copytruncate` does, keeps the inode but not the content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePosition {
    /// The followed name, as configured (a rotated file keeps the name it was followed by).
    pub name: String,
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Bytes consumed: always just past a newline, except at the end of a retired file.
    pub offset: u64,
    /// Lines consumed.
    pub lines: u64,
    /// The file's first bytes (up to [`FilePosition::HEAD_BYTES`]), which tell a file
    /// truncated and written again from the one read.
    pub head: Vec<u8>,
}

impl FilePosition {
    /// How many leading bytes identify a file's content.
    pub const HEAD_BYTES: usize = 64;
}
