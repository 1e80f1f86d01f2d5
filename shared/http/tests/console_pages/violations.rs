//! The console's violations pages (filled by their issue-21 part).
