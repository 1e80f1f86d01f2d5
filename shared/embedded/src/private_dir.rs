//! Folders readable by their owner only: the data directory, the blobs, the master key's.

/// Create a folder (and its missing parents) readable by its owner only (`0700`). A folder
/// that already exists keeps its mode (see [`narrow_private_dir`] for the data directory).
pub fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Make an existing data directory the owner's only (`0700`) when it is wider, e.g. one an
/// older version created `0755`. Returns the mode it had when it was narrowed.
pub fn narrow_private_dir(path: &std::path::Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
            return Ok(Some(mode));
        }
    }
    Ok(None)
}
