//! The console's notifications pages (filled by their issue-21 part).
