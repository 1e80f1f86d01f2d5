//! The console's operations pages (filled by their issue-21 part).
