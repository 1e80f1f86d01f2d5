//! The console's notifications pages in a browser (filled by their issue-21 part).
