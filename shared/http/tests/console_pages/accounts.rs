//! The console's accounts pages (filled by their issue-21 part).
