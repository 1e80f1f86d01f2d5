//! The console's operations pages in a browser (filled by their issue-21 part).
